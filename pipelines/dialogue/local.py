"""In-process dialogue with transformers on the CPU: the embedded default.

``generate`` runs on one dedicated worker thread and hands token ids to the event loop
through a queue. One thread means one generation at a time, in arrival order, so
concurrent requests never share model state mid-step; it also keeps torch's OpenMP pool
on one thread (generating from a second thread ran at 16 instead of 26 tokens/s here).
Closing the stream sets an event that a stopping criterion checks every step.

Like vLLM's prefix caching, the KV caches of the last few generations are kept: a prompt
that begins with the same tokens as one of them (the persona block, the conversation so
far) only computes what is new, which is most of the time to first token on a CPU. (In bf16 the cached and
the recomputed prefix round differently, so greedy output can depend on what ran before,
as with vLLM's prefix caching; in float32 it does not.)
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class _PromptCount:
    tokens: int = 0
    reused: int = 0  # served from the prefix cache


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class _PrefixCache:
    """The KV caches of the last few generations, each with the token ids it holds."""

    min_reuse = 16  # below this, a fresh cache is as fast and simpler

    def __init__(self, capacity: int = 4):
        self.capacity = capacity  # about 23 KB a token in bf16 for SmolLM2-135M
        self.entries: list[tuple[list[int], DynamicCache]] = []

    def take(self, prompt_ids: list[int], config) -> tuple[DynamicCache, int]:
        """A cache holding the longest reusable prefix of the prompt, and that length."""
        best, shared = None, 0
        for index, (token_ids, _) in enumerate(self.entries):
            if (length := shared_prefix_length(token_ids, prompt_ids)) > shared:
                best, shared = index, length
        shared = min(shared, len(prompt_ids) - 1)  # generate() needs one prompt token to compute
        if best is None or shared < self.min_reuse:
            return DynamicCache(config=config), 0
        # Taken, not shared: generation extends it in place and keep() stores it again.
        _, cache = self.entries.pop(best)
        cache.crop(shared - cache.get_seq_length())  # a negative count removes the tail
        return cache, shared

    def keep(self, sequence_ids: list[int], cache: DynamicCache) -> None:
        self.entries.append((sequence_ids[: cache.get_seq_length()], cache))
        del self.entries[: -self.capacity]


class LocalBackend(DialogueBackend):
    name = "local"

    def __init__(self, model, tokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_context = getattr(model.config, "max_position_embeddings", 2048)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-local-generate")
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
        if params.json_schema is not None:
            raise DialogueError("the local backend cannot constrain a reply to a JSON schema; use an OpenAI-compatible server such as vLLM")
        loop = asyncio.get_running_loop()
        token_queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        prompt = _PromptCount()  # filled in by the worker
        job = self._worker.submit(self._generate, messages, params, _QueueStreamer(loop, token_queue), cancelled, prompt)

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
            yield Finished(Usage(prompt.tokens, len(generated), prompt.reused), finish_reason)
        finally:
            cancelled.set()
            if not job.cancel():  # already running: wait until it has really stopped
                await asyncio.wrap_future(job)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._worker.shutdown)

    def _generate(self, messages: list[ChatMessage], params: GenerationParams, streamer: _QueueStreamer, cancelled: threading.Event, prompt: _PromptCount) -> None:
        """On the worker thread: the chat template and tokenizer too, so they never hold up
        the event loop."""
        try:
            with torch.inference_mode():
                if cancelled.is_set():  # closed while waiting for its turn
                    return
                prompt_ids = self.encode(messages)
                prompt.tokens = len(prompt_ids)
                if len(prompt_ids) + params.max_tokens > self.max_context:
                    raise DialogueError(
                        f"prompt of {len(prompt_ids)} tokens plus max_tokens={params.max_tokens} "
                        f"exceeds the model's context of {self.max_context} tokens"
                    )
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                sampling = {} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p}
                cache, prompt.reused = self._prefix_cache.take(prompt_ids, self.model.config)
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
        except Exception as error:  # reported on the event loop side
            streamer.send(error)
        finally:
            streamer.end()
