"""In-process dialogue with transformers on the CPU: the embedded default.

``generate`` runs in a worker thread and hands token ids to the event loop through a
queue. One generation runs at a time (a lock), so concurrent requests never share model
state mid-step; on two CPU cores interleaving them would not be faster anyway. Closing
the stream sets an event that a stopping criterion checks every step.

Like vLLM's prefix caching, the KV cache of the last generation is kept: a prompt that
begins with the same tokens (the persona block, the conversation so far) only computes
what is new, which is most of the time to first token on a CPU. (In bf16 the cached and
the recomputed prefix round differently, so greedy output can depend on what ran before,
as with vLLM's prefix caching; in float32 it does not.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

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


class _QueueStreamer(BaseStreamer):
    """Passes each new token id from the generation thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        self.loop, self.queue = loop, queue
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt itself
            self.prompt_seen = True
            return
        self.send(value.reshape(-1).tolist())

    def end(self) -> None:
        self.send(_END)

    def send(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop closed: nobody is listening any more
            pass


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class _PrefixCache:
    """The KV cache of the last generation and the token ids it holds."""

    min_reuse = 16  # below this, a fresh cache is as fast and simpler

    def __init__(self):
        self.token_ids: list[int] = []
        self.cache: DynamicCache | None = None

    def take(self, prompt_ids: list[int], config) -> tuple[DynamicCache, int]:
        """A cache holding the longest reusable prefix of the prompt, and that length."""
        # generate() needs at least one prompt token to compute.
        shared = min(shared_prefix_length(self.token_ids, prompt_ids), len(prompt_ids) - 1)
        if self.cache is None or shared < self.min_reuse:
            return DynamicCache(config=config), 0
        # Taken, not shared: generation extends it in place.
        cache, self.cache, self.token_ids = self.cache, None, []
        cache.crop(shared - cache.get_seq_length())  # a negative count removes the tail
        return cache, shared

    def keep(self, sequence_ids: list[int], cache: DynamicCache) -> None:
        self.cache = cache
        self.token_ids = sequence_ids[: cache.get_seq_length()]


class LocalBackend(DialogueBackend):
    name = "local"

    def __init__(self, model, tokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_context = getattr(model.config, "max_position_embeddings", 2048)
        self._generation_lock = threading.Lock()
        self._prefix_cache = _PrefixCache()

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, dtype: torch.dtype = torch.bfloat16) -> LocalBackend:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise DialogueError(f"{model_dir} is not a transformers model folder (no config.json); check dialogue.model_dir")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if tokenizer.chat_template is None:
            raise DialogueError(f"{model_dir}: the tokenizer has no chat template; use an instruction-tuned model")
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
        return cls(model, tokenizer)

    def encode(self, messages: list[ChatMessage]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], add_generation_prompt=True, return_dict=True
        )
        return list(encoded["input_ids"])

    async def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamEvent]:
        prompt_ids = self.encode(messages)
        if len(prompt_ids) + params.max_tokens > self.max_context:
            raise DialogueError(
                f"prompt of {len(prompt_ids)} tokens plus max_tokens={params.max_tokens} "
                f"exceeds the model's context of {self.max_context} tokens"
            )
        loop = asyncio.get_running_loop()
        token_queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        reused = [0]  # set by the worker: prompt tokens served from the prefix cache
        worker = threading.Thread(
            target=self._generate,
            args=(prompt_ids, params, _QueueStreamer(loop, token_queue), cancelled, reused),
            name="atelier-local-generate",
            daemon=True,
        )
        worker.start()

        generated: list[int] = []
        emitted = 0
        scanner = StopScanner(params.stop)
        finish_reason = "length"
        try:
            while (item := await token_queue.get()) is not _END:
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
            yield Finished(Usage(len(prompt_ids), len(generated), reused[0]), finish_reason)
        finally:
            cancelled.set()
            # Wait for the thread to leave generate(): a process that exits while torch is
            # still running in a thread aborts ("terminate called without an active exception").
            await asyncio.to_thread(worker.join)

    def _generate(self, prompt_ids: list[int], params: GenerationParams, streamer: _QueueStreamer, cancelled: threading.Event, reused: list[int]) -> None:
        try:
            with self._generation_lock, torch.inference_mode():
                if cancelled.is_set():  # closed while waiting for the lock
                    return
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                sampling = {} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p}
                cache, reused[0] = self._prefix_cache.take(prompt_ids, self.model.config)
                output = self.model.generate(
                    torch.tensor([prompt_ids]),
                    attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                    max_new_tokens=params.max_tokens,
                    do_sample=not params.greedy,
                    repetition_penalty=params.repetition_penalty,
                    top_k=None,
                    **sampling,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                    eos_token_id=self.tokenizer.eos_token_id,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_StopWhenSet(cancelled)]),
                    past_key_values=cache,
                    return_dict_in_generate=True,
                )
                self._prefix_cache.keep(output.sequences[0].tolist(), output.past_key_values)
        except BaseException as error:  # reported on the event loop side
            streamer.send(error)
        finally:
            streamer.end()
