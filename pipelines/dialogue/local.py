"""In-process dialogue with transformers on the CPU: the embedded default.

The model runs on one dedicated thread, which hands token ids to the event loop through a
queue. Up to sixteen replies are generated at once, in turns of one token each, every reply
with its own KV cache, so a fan's first token waits for one token of each reply under way,
not for whole replies (with one reply at a time, the sixteenth of sixteen fans waited 20 s).
The turns share the CPU: four replies each run at about a quarter of the speed of one.
Closing the stream sets an event the thread checks before each token.

Like vLLM's prefix caching, snapshots of the last few KV caches are kept (each reply's
prompt as soon as it is read, and its whole conversation when it ends): a prompt that begins
with the same tokens as one of them (the persona block, the conversation so far) only
computes what is new, which is most of the time to first token on a CPU. (In bf16 the cached and
the recomputed prefix round differently, so greedy output can depend on what ran before,
as with vLLM's prefix caching; in float32 it does not.)
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessorList,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from pipelines.cpu import resolve_dtype
from pipelines.dialogue.base import (
    ChatMessage,
    DialogueBackend,
    DialogueError,
    Finished,
    GenerationParams,
    StopScanner,
    StreamEvent,
    TextDelta,
    Usage,
    shared_prefix_length,
)

_END = object()


class _QueueStreamer:
    """Passes token ids (and errors) from the generation thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        self.loop, self.queue = loop, queue

    def end(self) -> None:
        self.send(_END)

    def send(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop closed: nobody is listening any more
            pass


class _PrefixCache:
    """Snapshots of KV caches with the token ids they hold: each reply's prompt once it has
    been read, and the whole conversation when the reply ends. A new prompt gets a copy of the
    longest prefix it shares with a snapshot, so replies running side by side share the
    persona block, and no reply changes a snapshot another will copy."""

    min_reuse = 16  # below this, a fresh cache is as fast and simpler

    def __init__(self, capacity: int = 4):
        self.capacity = capacity  # about 23 KB a token in bf16 for SmolLM2-135M
        self.entries: list[tuple[list[int], DynamicCache]] = []

    def take(self, prompt_ids: list[int], config) -> tuple[DynamicCache, int]:
        """A cache of its own holding the longest reusable prefix of the prompt, and that length."""
        best, shared = None, 0
        for index, (token_ids, _) in enumerate(self.entries):
            if (length := shared_prefix_length(token_ids, prompt_ids)) > shared:
                best, shared = index, length
        shared = min(shared, len(prompt_ids) - 1)  # one prompt token is computed, for the next token's logits
        if best is None or shared < self.min_reuse:
            return DynamicCache(config=config), 0
        self.entries.append(self.entries.pop(best))  # the most recently useful goes last
        return _copy_prefix(self.entries[-1][1], shared, config), shared

    def keep(self, sequence_ids: list[int], cache: DynamicCache) -> None:
        """Keep `cache` (it must not change afterwards); a snapshot it extends is dropped."""
        held = sequence_ids[: cache.get_seq_length()]
        self.entries = [(ids, kept) for ids, kept in self.entries if held[: len(ids)] != ids]
        self.entries.append((held, cache))
        del self.entries[: -self.capacity]


def _copy_prefix(cache: DynamicCache, length: int, config) -> DynamicCache:
    copy = DynamicCache(config=config)
    for index, layer in enumerate(cache.layers):
        copy.update(layer.keys[:, :, :length].clone(), layer.values[:, :, :length].clone(), index)
    return copy


class _ReplyNGramBlock(NoRepeatNGramLogitsProcessor):
    """transformers' n-gram block over the reply only: her prompt repeats names and phrases
    she may well say once in the reply."""

    def __init__(self, ngram_size: int, prompt_length: int):
        super().__init__(ngram_size)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return super().__call__(input_ids[:, self.prompt_length :], scores)


def merge_lora(model: torch.nn.Module, adapter_dir: Path) -> int:
    """Add a peft LoRA folder to the weights it adapts, W += (alpha / r) * B @ A, and return how
    many it changed. The arithmetic of peft's merge_and_unload, without importing peft (5 s at
    every start); the adapters `atelier persona tune` writes are plain LoRA, and anything else
    is refused by name rather than merged wrongly."""
    config_file, weights_file = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise DialogueError(f"{adapter_dir} is not a LoRA adapter folder (it needs adapter_config.json and adapter_model.safetensors); check dialogue.adapter")
    config = json.loads(config_file.read_text())
    unsupported = [key for key in ("use_dora", "rank_pattern", "alpha_pattern", "fan_in_fan_out", "modules_to_save", "layer_replication") if config.get(key)]
    if config.get("peft_type", "LORA") != "LORA" or config.get("bias", "none") != "none" or unsupported:
        raise DialogueError(f"{adapter_dir}: only a plain LoRA can be merged here (this one sets {', '.join(unsupported) or 'another type or bias'})")
    r, alpha = config["r"], config["lora_alpha"]
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    tensors = load_file(weights_file)
    layers = dict(model.named_modules())
    merged = 0
    for key in sorted(tensors):
        if key.endswith(".lora_B.weight"):
            continue
        name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        layer = layers.get(name)
        if not key.endswith(".lora_A.weight") or layer is None:
            raise DialogueError(f"{adapter_dir}: the adapter has {key}, which this model has no place for (trained on another base model?)")
        down, up = tensors[key].float(), tensors[key.replace(".lora_A.", ".lora_B.")].float()
        with torch.no_grad():
            layer.weight += scale * (up @ down).to(layer.weight.dtype)
        merged += 1
    if not merged:
        raise DialogueError(f"{adapter_dir}: the adapter holds no LoRA weights")
    return merged


@dataclass
class _Generation:
    """One request on the generation thread: what was asked, where its tokens go, and (once
    started) its token ids so far and the KV cache that holds them."""

    messages: list[ChatMessage]
    params: GenerationParams
    streamer: _QueueStreamer
    cancelled: threading.Event
    done: Future = field(default_factory=Future)  # set when the thread has let go of it
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt, served from the prefix cache
    ids: list[int] = field(default_factory=list)  # the prompt's, then each new token
    cache: DynamicCache | None = None
    processors: LogitsProcessorList = field(default_factory=LogitsProcessorList)
    sampler: torch.Generator | None = None  # its own random numbers: a seeded reply repeats beside others


class LocalBackend(DialogueBackend):
    name = "local"
    interleaved = 16  # replies generated in turns, one token each; more wait for a free place (each holds its KV cache)

    def __init__(self, model, tokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_context = getattr(model.config, "max_position_embeddings", 2048)
        self._prefix_cache = _PrefixCache()
        # transformers 5.25 renamed `past_key_values` to `cache` (the old name warns on every step).
        self._cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._requests: queue.SimpleQueue[_Generation | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, dtype: torch.dtype | None = None, adapter_dir: str | Path | None = None) -> LocalBackend:
        """`dtype`: bfloat16 where the CPU has it natively, else float32, by default.
        `adapter_dir`: a peft LoRA folder (her persona adapter), merged into the weights once at
        load, in float32 before the cast, so a reply costs what the base model's does."""
        model_dir = Path(model_dir)
        dtype = resolve_dtype(dtype)
        if not (model_dir / "config.json").is_file():
            raise DialogueError(f"{model_dir} is not a transformers model folder (no config.json); check dialogue.model_dir")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if tokenizer.chat_template is None:
            raise DialogueError(f"{model_dir}: the tokenizer has no chat template; use an instruction-tuned model")
        if adapter_dir is None:
            return cls(AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype), tokenizer)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        merge_lora(model, Path(adapter_dir))
        return cls(model.to(dtype), tokenizer)

    def encode(self, messages: list[ChatMessage]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], add_generation_prompt=True, return_dict=True
        )
        return list(encoded["input_ids"])

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamEvent]:
        if params.json_schema is not None:
            raise DialogueError("the local backend cannot constrain a reply to a JSON schema; use an OpenAI-compatible server such as vLLM")
        loop = asyncio.get_running_loop()
        token_queue: asyncio.Queue = asyncio.Queue()
        request = _Generation(messages, params, _QueueStreamer(loop, token_queue), threading.Event())
        self._submit(request)

        generated: list[int] = []
        emitted = 0
        scanner = StopScanner(params.stop)
        finish_reason = "length"
        try:
            while (item := await token_queue.get()) is not _END:
                if isinstance(item, DialogueError):
                    raise item
                if isinstance(item, BaseException):
                    raise DialogueError(f"local generation failed: {item}") from item
                generated.extend(item)
                if self.tokenizer.eos_token_id in item:
                    finish_reason = "stop"
                text = self.tokenizer.decode(generated, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
                    continue
                safe, stopped = scanner.feed(text[emitted:])
                emitted = len(text)
                if safe:
                    yield TextDelta(safe)
                if stopped:
                    finish_reason = "stop"
                    break
            else:
                if rest := scanner.flush():
                    yield TextDelta(rest)
            yield Finished(Usage(request.prompt_tokens, len(generated), request.cached_tokens), finish_reason)
        finally:
            request.cancelled.set()
            # The thread has really let go of it. Shielded: a task cancelled again while it waits
            # here (a server's cancel scope repeats its cancel) must not cancel the thread's future.
            await asyncio.shield(asyncio.wrap_future(request.done))

    async def aclose(self) -> None:
        if self._thread is not None:
            self._requests.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _submit(self, request: _Generation) -> None:
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="atelier-local-generate", daemon=True)
                self._thread.start()
        self._requests.put(request)

    # --- on the generation thread -------------------------------------------------------------

    def _run(self) -> None:
        """Replies take turns, one token each, so a new fan's first token comes after one
        token of each reply under way rather than after their whole replies. A new request
        starts (its prompt is read) before the next round. One thread means one model call
        at a time (a second thread calling the model ran at 16 instead of 26 tokens/s here)."""
        waiting: deque[_Generation] = deque()
        running: list[_Generation] = []
        with torch.inference_mode():
            while True:
                try:
                    while True:  # block only when there is nothing to do
                        request = self._requests.get(block=not (waiting or running))
                        if request is None:
                            for left in [*waiting, *running]:
                                self._finish(left)
                            return
                        waiting.append(request)
                except queue.Empty:
                    pass
                for request in [r for r in waiting if r.cancelled.is_set()]:  # gone before its turn
                    waiting.remove(request)
                    self._finish(request)
                while waiting and len(running) < self.interleaved:
                    request = waiting.popleft()
                    if self._advance(request, self._start):
                        running.append(request)
                for request in list(running):
                    if not self._advance(request, self._step):
                        running.remove(request)

    def _advance(self, request: _Generation, action) -> bool:
        """Run `action` for the request; False (and the request finished) when it is done."""
        try:
            if not request.cancelled.is_set() and action(request):
                return True
        except Exception as error:  # reported on the event loop side; a cache it left half-written is not kept
            request.streamer.send(error)
            request.cache = None
        self._finish(request)
        return False

    def _start(self, request: _Generation) -> bool:
        """The chat template and tokenizer run here too, so they never hold up the event loop."""
        params = request.params
        prompt_ids = self.encode(request.messages)
        request.prompt_tokens = len(prompt_ids)
        if len(prompt_ids) + params.max_tokens > self.max_context:
            raise DialogueError(
                f"prompt of {len(prompt_ids)} tokens plus max_tokens={params.max_tokens} "
                f"exceeds the model's context of {self.max_context} tokens"
            )
        if params.repetition_penalty != 1.0:
            request.processors.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
        if params.no_repeat_ngram:
            request.processors.append(_ReplyNGramBlock(params.no_repeat_ngram, len(prompt_ids)))
        if not params.greedy:
            request.processors += [TemperatureLogitsWarper(params.temperature), TopPLogitsWarper(params.top_p)]
            request.sampler = torch.Generator()
            if params.seed is None:
                request.sampler.seed()  # from the system's entropy
            else:
                request.sampler.manual_seed(params.seed)
        request.cache, request.cached_tokens = self._prefix_cache.take(prompt_ids, self.model.config)
        request.ids = list(prompt_ids)
        going_on = self._next_token(request, prompt_ids[request.cached_tokens :])
        # The prompt's snapshot, for fans asking while this reply runs (the persona block at least).
        self._prefix_cache.keep(prompt_ids, _copy_prefix(request.cache, len(prompt_ids), self.model.config))
        return going_on

    def _step(self, request: _Generation) -> bool:
        return self._next_token(request, request.ids[-1:])

    def _next_token(self, request: _Generation, new_ids: list[int]) -> bool:
        """Feed `new_ids` (not yet in the cache), choose the next token and send it; True while
        the reply goes on."""
        logits = self.model(torch.tensor([new_ids]), **{self._cache_argument: request.cache}, use_cache=True, logits_to_keep=1).logits[:, -1].float()
        scores = request.processors(torch.tensor([request.ids]), logits) if request.processors else logits
        if request.sampler is None:
            token = int(scores.argmax(dim=-1))
        else:
            token = int(torch.multinomial(scores.softmax(dim=-1), 1, generator=request.sampler))
        request.ids.append(token)
        request.streamer.send([token])
        return token != self.tokenizer.eos_token_id and len(request.ids) - request.prompt_tokens < request.params.max_tokens

    def _finish(self, request: _Generation) -> None:
        if request.cache is not None and request.cache.get_seq_length() > 0:
            self._prefix_cache.keep(request.ids, request.cache)
            request.cache = None
        request.streamer.end()
        request.done.set_result(None)
