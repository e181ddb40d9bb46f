"""Train her persona adapter: a peft LoRA on the embedded model, on the CPU, from her card alone.

    folder = train_adapter(card, model_dir, cache_dir, TuneConfig(steps=180, seed=0), progress=bar_update)

The data is `persona.adapter.dataset`: conversations written from her card, each tokenised
as the chat sends it. Training runs in float32 (the same arithmetic on every CPU: bf16 is
emulated, and slow, where a CPU lacks it), on a fixed number of threads, with a seeded order
and initialisation and deterministic kernels, so the same card, base model, seed and steps
give the same adapter bytes on the same machine.

**The shared prefix.** Every example starts with her system block (about 1,800 tokens of
SmolLM2's tokenizer), while what follows (the fan's block, the turn with its context, her
reply) is 100-400 tokens. Backpropagating through the whole prompt of every example would
spend ~85% of the time on the same tokens. Instead the system block's keys and values are
computed once, under ``no_grad``, with the adapter as it is at that moment, and every example
of a batch attends to that one copy (broadcast over the batch) while only its own suffix runs
forward and backward. The loss is on her reply tokens (and the end-of-turn token after each)
alone. The one thing given up is the gradient through the prefix: how changing the adapter
changes the system block's keys and values. Those are refreshed every
``TuneConfig.refresh_prefix_every`` steps (and before the last stretch), so the suffix is
always trained against the prefix the adapter itself produces, give or take a few steps, which
is what it sees at inference, where the adapter is merged and the prefix is computed with it.
A refresh costs one forward pass over the prefix (a few seconds on two cores), so refreshing
every step would double the training time.

The adapter is written to a temporary folder beside its destination and renamed into place
only when complete; a cancel (a `threading.Event`, or Ctrl-C) leaves nothing behind. Its
weights are stored in float16 (half the size; loading casts them back to the model's dtype).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import math
import os
import random
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from persona.adapter import METADATA, card_fingerprint, tuned_adapter_dir
from persona.adapter.dataset import TrainingExample, build_conversations, shared_prefix, tokenize_conversations
from persona.card import PersonaCard
from persona.prompt import PromptBuilder

ADAPTER_WEIGHTS = "adapter_model.safetensors"


class TuneCancelled(Exception):
    """Training was cancelled; nothing was written."""


@dataclass(frozen=True)
class TuneConfig:
    """What training does. The defaults train the embedded SmolLM2-135M for Haeun in about
    eight minutes on two CPU cores (docs/adapter.md has the measurements)."""

    steps: int = 180
    seed: int = 0
    rank: int = 16
    alpha: int = 32
    top_layers: int = 12  # the adapter sits in the top layers only: backward stops below them, and so do the prefix's changes
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 1e-3
    warmup_steps: int = 5
    batch_size: int = 2
    rounds: int = 3  # fresh phrasings of every conversation kind (persona.adapter.dataset.build_conversations)
    max_suffix_tokens: int = 640  # longer examples (after the shared prefix) are left out
    refresh_prefix_every: int = 20
    threads: int = 2
    context_tokens: int = 4096  # the prompt budget the chat uses (dialogue.context_tokens)


Progress = Callable[[int, int, float], None]  # (step done, steps, loss of that step)


@dataclass
class TuneResult:
    folder: Path
    metadata: dict


def build_examples(card: PersonaCard, tokenizer, config: TuneConfig) -> list[TrainingExample]:
    builder = PromptBuilder(card, tokenizer, config.context_tokens)
    return tokenize_conversations(build_conversations(card, config.seed, config.rounds), builder, config.seed)


def train_adapter(
    card: PersonaCard,
    model_dir: str | Path,
    output_dir: str | Path,
    config: TuneConfig = TuneConfig(),
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TuneResult:
    """Train, then write the adapter folder `output_dir` (replacing one there) atomically."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    output_dir = Path(output_dir)
    model_dir = Path(model_dir)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        examples = build_examples(card, tokenizer, config)
        prefix_length = shared_prefix(examples)
        examples = [e for e in examples if len(e.token_ids) - prefix_length <= config.max_suffix_tokens]
        if not examples:
            raise ValueError("no training example fits max_suffix_tokens; raise it")
        prefix_ids = examples[0].token_ids[:prefix_length]

        torch.manual_seed(config.seed)
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)  # peft asks transformers' old name
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model.config.use_cache = True
        layers = model.config.num_hidden_layers
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=list(config.target_modules),
                          layers_to_transform=list(range(max(0, layers - config.top_layers), layers)), bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
        model.peft_config["default"].base_model_name_or_path = model_dir.name  # not this machine's path
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _learning_rate_factor(step, config))
        cache_argument = "cache" if "cache" in inspect.signature(model.get_base_model().forward).parameters else "past_key_values"
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

        order = _batches(examples, config)
        model.train()
        prefix = None
        loss_value = math.nan
        losses: list[float] = []
        for step in range(config.steps):
            if cancel is not None and cancel.is_set():
                raise TuneCancelled("training was cancelled; nothing was written")
            if prefix is None or step % config.refresh_prefix_every == 0 or step == config.steps - config.refresh_prefix_every // 2:
                prefix = _prefix_states(model, prefix_ids, cache_argument)
            batch = order[step]
            loss = _batch_loss(model, batch, prefix, prefix_length, pad_id, cache_argument)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
            losses.append(loss_value)
            if progress is not None:
                progress(step + 1, config.steps, loss_value)
        if cancel is not None and cancel.is_set():
            raise TuneCancelled("training was cancelled; nothing was written")

        seconds = time.perf_counter() - started
        tail = losses[-min(20, len(losses)):] or [loss_value]
        metadata = {
            "card_fingerprint": card_fingerprint(card),
            "persona": card.id,
            "base_model": model_dir.name,
            "base_model_type": model.get_base_model().config.model_type,
            "seed": config.seed,
            "steps": config.steps,
            "rank": config.rank,
            "top_layers": config.top_layers,
            "alpha": config.alpha,
            "target_modules": list(config.target_modules),
            "learning_rate": config.learning_rate,
            "batch_size": config.batch_size,
            "examples": len(examples),
            "trained_tokens_per_epoch": sum(e.trained_tokens for e in examples),
            "prefix_tokens": prefix_length,
            "refresh_prefix_every": config.refresh_prefix_every,
            "threads": config.threads,
            "weights_dtype": "float16",
            "train_seconds": round(seconds, 1),
            "final_loss": round(sum(tail) / len(tail), 4),  # mean of the last 20 steps
            "trained_on": dt.date.today().isoformat(),
            "config": {key: (list(value) if isinstance(value, tuple) else value) for key, value in asdict(config).items()},
        }
        _write_atomically(model, metadata, output_dir)
        return TuneResult(output_dir, metadata)
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def tune_persona(card: PersonaCard, model_dir: Path, cache_dir: Path, config: TuneConfig = TuneConfig(),
                 output_dir: Path | None = None, progress: Progress | None = None, cancel: threading.Event | None = None) -> TuneResult:
    """`atelier persona tune`: into `output_dir`, or where the chat looks for her adapter first."""
    return train_adapter(card, model_dir, output_dir or tuned_adapter_dir(cache_dir, card), config, progress, cancel)


def _learning_rate_factor(step: int, config: TuneConfig) -> float:
    """Linear warm-up, then a cosine down to a tenth."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    done = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def _batches(examples: list[TrainingExample], config: TuneConfig) -> list[list[TrainingExample]]:
    """`steps` batches: the examples in a seeded order, epoch after epoch; each batch holds examples
    of similar length (less padding), batches in a seeded order too."""
    rng = random.Random(config.seed)
    batches: list[list[TrainingExample]] = []
    while len(batches) < config.steps:
        epoch = list(examples)
        rng.shuffle(epoch)
        window = config.batch_size * 8  # sort by length inside windows: similar lengths, still mixed kinds
        for start in range(0, len(epoch), window):
            chunk = sorted(epoch[start:start + window], key=lambda e: len(e.token_ids))
            chunk_batches = [chunk[i:i + config.batch_size] for i in range(0, len(chunk), config.batch_size)]
            rng.shuffle(chunk_batches)
            batches += [b for b in chunk_batches if len(b) == config.batch_size]
    return batches[: config.steps]


def _prefix_states(model, prefix_ids: list[int], cache_argument: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The system block's keys and values for each layer, with the adapter as it is now."""
    from transformers import DynamicCache

    was_training = model.training
    model.eval()
    with torch.no_grad():
        cache = DynamicCache(config=model.get_base_model().config)
        model(input_ids=torch.tensor([prefix_ids]), use_cache=True, **{cache_argument: cache})
    model.train(was_training)
    return [(layer.keys.detach(), layer.values.detach()) for layer in cache.layers]


def _batch_loss(model, batch: list[TrainingExample], prefix, prefix_length: int, pad_id: int, cache_argument: str) -> torch.Tensor:
    """Mean cross-entropy over her reply tokens; each suffix attends to the shared prefix."""
    from transformers import DynamicCache

    length = max(len(e.token_ids) for e in batch) - prefix_length
    input_ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), length), -100, dtype=torch.long)
    for row, example in enumerate(batch):
        suffix = example.token_ids[prefix_length:]
        input_ids[row, : len(suffix)] = torch.tensor(suffix)
        for start, end in example.reply_spans:
            labels[row, start - prefix_length : end - prefix_length] = torch.tensor(example.token_ids[start:end])
    # Padding goes on the right: with causal attention no real token sees it, so no mask is needed.
    cache = DynamicCache(config=model.get_base_model().config)
    for index, (keys, values) in enumerate(prefix):
        cache.update(keys.expand(len(batch), -1, -1, -1), values.expand(len(batch), -1, -1, -1), index)
    positions = torch.arange(prefix_length, prefix_length + length).unsqueeze(0).expand(len(batch), -1)
    logits = model(input_ids=input_ids, position_ids=positions, use_cache=True, **{cache_argument: cache}).logits
    # The token at position t is predicted by the logits at t - 1.
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def _sort_adapter_config(path: Path) -> None:
    """peft writes target_modules from a set, in an order that changes from run to run: sorted, a rebuild is the same file."""
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _write_atomically(model, metadata: dict, output_dir: Path) -> None:
    """Save into a temporary folder beside `output_dir`, then rename it into place."""
    from safetensors.torch import load_file, save_file

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.tmp-"))
    old = None
    try:
        staging.chmod(0o755)  # mkdtemp's folder is private; an adapter is not
        model.save_pretrained(staging, save_embedding_layers=False)
        weights = staging / ADAPTER_WEIGHTS
        state = {name: tensor.to(torch.float16).contiguous() for name, tensor in sorted(load_file(weights).items())}
        save_file(state, weights, metadata={"format": "pt"})
        (staging / "README.md").unlink(missing_ok=True)  # peft's model-card stub: METADATA says what this is
        _sort_adapter_config(staging / "adapter_config.json")
        (staging / METADATA).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
        if output_dir.exists():
            old = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}.old-"))
            os.rename(output_dir, old / "adapter")
        os.rename(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not output_dir.exists():
            os.rename(old / "adapter", output_dir)  # put the previous adapter back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
