"""Both dialogue backends: the embedded transformers model in process, and a real vLLM
server on 127.0.0.1 through the OpenAI-compatible client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
import torch

from pipelines.dialogue import (
    ChatMessage,
    DialogueConnectionError,
    DialogueError,
    DialogueTimeout,
    Finished,
    GenerationParams,
    TextDelta,
)
from persona.reply_quality import repeated_run
from pipelines.dialogue.base import StopScanner
from pipelines.dialogue.embedded import MARKER, find_embedded_gguf
from pipelines.cpu import native_bf16, resolve_dtype
from pipelines.dialogue.local import LocalBackend
from pipelines.dialogue.openai_compatible import OpenAICompatibleBackend

QUESTION = [
    ChatMessage(role="system", content="You are Haeun, a fashion designer and composer in Seoul."),
    ChatMessage(role="user", content="Describe a spring dress you would make."),
]
GREEDY = GenerationParams(max_tokens=32, temperature=0.0)


async def collect(stream) -> tuple[list[str], Finished]:
    deltas, finished = [], None
    async for event in stream:
        if isinstance(event, TextDelta):
            assert finished is None, "no delta may follow Finished"
            deltas.append(event.text)
        else:
            finished = event
    assert finished is not None
    return deltas, finished


# --- the embedded model -------------------------------------------------------------------
# Tests that compare texts exactly use float32: in bf16, reusing a cached prefix rounds
# differently from computing the prompt at once, and greedy output can drift late in a reply.


def test_two_processes_prepare_once_and_agree(prepare_runs, model_dir):
    assert [code for code, _, _ in prepare_runs] == [0, 0], [err for _, _, err in prepare_runs]
    assert len({out.strip() for _, out, _ in prepare_runs}) == 1
    assert sum("Converting" in err for _, _, err in prepare_runs) == 1, "only one process may convert"
    assert (model_dir / MARKER).is_file() and (model_dir / "model.safetensors").stat().st_size > 200e6
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".smollm2") and p.is_dir()], "staging left behind"


def test_prepared_model_is_a_plain_bf16_folder(local_backend, model_dir):
    # Reload speed is measured in bench/dialogue.py; here: no GGUF or quantiser left behind.
    assert not list(model_dir.glob("*.gguf")) and "quantization_config" not in (model_dir / "config.json").read_text()
    assert json.loads((model_dir / "config.json").read_text())["dtype"] == "bfloat16"
    # Loaded in bf16 only where the CPU computes in it natively.
    assert local_backend.model.dtype == (torch.bfloat16 if native_bf16() else torch.float32)
    assert local_backend.tokenizer.chat_template and local_backend.tokenizer.eos_token == "<|im_end|>"


def test_gguf_comes_from_the_wheel():
    assert find_embedded_gguf().stat().st_size > 50e6


async def test_local_streams_deltas_then_usage(local_backend):
    deltas, finished = await collect(local_backend.stream(QUESTION, GREEDY))
    assert len(deltas) > 5 and "".join(deltas).strip()
    assert finished.usage.completion_tokens == 32 and finished.finish_reason == "length"
    assert finished.usage.prompt_tokens == len(local_backend.encode(QUESTION))


async def test_local_greedy_is_deterministic_and_seeded_sampling_repeats(local_backend_fp32):
    first, _ = await local_backend_fp32.complete(QUESTION, GREEDY)
    again, _ = await local_backend_fp32.complete(QUESTION, GREEDY)
    assert first == again
    sampled = GenerationParams(max_tokens=24, temperature=1.0, top_p=0.95, seed=7)
    a, _ = await local_backend_fp32.complete(QUESTION, sampled)
    b, _ = await local_backend_fp32.complete(QUESTION, sampled)
    c, _ = await local_backend_fp32.complete(QUESTION, sampled.model_copy(update={"seed": 8}))
    assert a == b and a != c


async def test_a_reply_raises_no_library_warnings(local_backend_fp32, recwarn):
    # A FutureWarning from transformers once printed in the middle of her reply in `atelier chat`.
    await local_backend_fp32.complete(QUESTION, GREEDY.model_copy(update={"max_tokens": 4}))
    assert not [str(w.message) for w in recwarn if issubclass(w.category, (FutureWarning, DeprecationWarning))]


async def test_local_stop_string_cuts_the_reply(local_backend_fp32):
    full, _ = await local_backend_fp32.complete(QUESTION, GREEDY)
    word = full.split()[3]
    cut, finished = await local_backend_fp32.complete(QUESTION, GREEDY.model_copy(update={"stop": [word]}))
    assert word not in cut and full.startswith(cut) and finished.finish_reason == "stop"


async def test_local_concurrent_requests_do_not_corrupt_each_other(local_backend_fp32):
    questions = [[ChatMessage(role="user", content=f"Name a colour for a {thing}.")] for thing in ("coat", "scarf", "song")]
    alone = [(await local_backend_fp32.complete(q, GREEDY))[0] for q in questions]
    together = await asyncio.gather(*(local_backend_fp32.complete(q, GREEDY) for q in questions))
    assert [text for text, _ in together] == alone


async def two_replies_in_order(backend: LocalBackend, first_tokens: int, second_tokens: int) -> list[str]:
    """Ask for a second reply once the first is under way; say when each started and ended."""
    order = []

    async def reply(name: str, tokens: int) -> None:
        async for event in backend.stream(QUESTION, GenerationParams(max_tokens=tokens, temperature=0.0)):
            if isinstance(event, TextDelta) and name not in order:
                order.append(name)
        order.append(f"{name} ended")

    first = asyncio.create_task(reply("first", first_tokens))
    while "first" not in order:
        await asyncio.sleep(0.01)
    await asyncio.gather(first, reply("second", second_tokens))
    return order


async def test_local_replies_take_turns_so_a_short_one_ends_first(local_backend_fp32):
    assert await two_replies_in_order(local_backend_fp32, 96, 4) == ["first", "second", "second ended", "first ended"]


async def test_local_requests_beyond_the_interleaved_wait_for_a_place(model_dir):
    backend = LocalBackend.from_pretrained(model_dir)
    backend.interleaved = 1
    try:
        assert await two_replies_in_order(backend, 24, 4) == ["first", "first ended", "second", "second ended"]
    finally:
        await backend.aclose()


async def test_local_seeded_sampling_repeats_beside_other_replies(local_backend_fp32):
    seeded = GenerationParams(max_tokens=24, temperature=1.0, top_p=0.95, seed=11)
    alone, _ = await local_backend_fp32.complete(QUESTION, seeded)
    other = [ChatMessage(role="user", content="Name a fabric for a summer dress.")]
    (beside, _), _ = await asyncio.gather(local_backend_fp32.complete(QUESTION, seeded),
                                          local_backend_fp32.complete(other, seeded.model_copy(update={"seed": None})))
    assert beside == alone


async def test_local_cancellation_stops_generation(local_backend):
    long = GenerationParams(max_tokens=2000, temperature=0.0)
    stream = local_backend.stream(QUESTION, long)
    async for event in stream:
        assert isinstance(event, TextDelta)
        break
    started = time.perf_counter()
    await stream.aclose()
    # The lock is free again only once the generation thread has stopped.
    text, finished = await local_backend.complete(QUESTION, GenerationParams(max_tokens=2, temperature=0.0))
    assert time.perf_counter() - started < 5.0, "the cancelled generation kept running"
    assert finished.usage.completion_tokens == 2


async def test_local_task_cancellation_stops_generation(local_backend):
    async def consume():
        async for _ in local_backend.stream(QUESTION, GenerationParams(max_tokens=2000, temperature=0.0)):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.perf_counter()
    await local_backend.complete(QUESTION, GenerationParams(max_tokens=1, temperature=0.0))
    assert time.perf_counter() - started < 5.0


def test_local_generation_lives_on_when_a_reply_is_cancelled_again_while_it_lets_go(local_backend):
    """A server's cancel scope (Starlette's on a client hanging up) cancels its task again and
    again until it ends; a cancel landing while the stream waited for the generation thread to let
    go once cancelled the thread's future, and the thread died: every later reply hung. The
    scene runs on a loop of its own, so a hang fails this test instead of the session."""
    answers = []

    async def scene():
        first_token = asyncio.Event()

        async def consume():
            async for _ in local_backend.stream(QUESTION, GenerationParams(max_tokens=2000, temperature=0.0)):
                first_token.set()

        task = asyncio.create_task(consume())
        await first_token.wait()
        while not task.done():  # as a cancel scope does: cancel at every turn of the loop until the task ends
            task.cancel()
            await asyncio.sleep(0)
        answers.append(await local_backend.complete(QUESTION, GenerationParams(max_tokens=4, temperature=0.0)))

    running = threading.Thread(target=asyncio.run, args=(scene(),), daemon=True)
    running.start()
    running.join(300)  # not a timing limit: a dead generation thread never answers
    assert answers, "the generation thread died: the next reply never came"
    text, finished = answers[0]
    assert text and finished.usage.completion_tokens == 4


async def test_local_rejects_a_prompt_longer_than_the_context(local_backend):
    huge = [ChatMessage(role="user", content="silk " * 9000)]
    with pytest.raises(DialogueError, match="exceeds the model's context"):
        await local_backend.complete(huge, GREEDY)


def test_local_names_a_missing_model_folder(tmp_path):
    with pytest.raises(DialogueError, match="no config.json"):
        LocalBackend.from_pretrained(tmp_path)


def test_generation_params_reject_bad_values():
    with pytest.raises(ValueError, match="temperature"):
        GenerationParams(temperature=3)
    with pytest.raises(ValueError, match="max_tokens"):
        GenerationParams(max_tokens=0)


def test_stop_scanner_never_emits_half_a_stop_string():
    scanner = StopScanner(["END"])
    assert scanner.feed("hello E") == ("hello", False)  # " E" might begin "END"
    assert scanner.feed("N") == (" ", False)
    assert scanner.feed("D more") == ("", True)
    scanner = StopScanner(["END"])
    assert scanner.feed("EN") == ("", False)
    assert scanner.feed("ough") == ("ENou", False)
    assert scanner.flush() == "gh"


# --- vLLM, a real server on 127.0.0.1 -------------------------------------------------------


@pytest.fixture
async def vllm_backend(vllm_server):
    backend = OpenAICompatibleBackend(vllm_server.base_url, "smollm2", timeout_s=60)
    yield backend
    await backend.aclose()


@pytest.mark.vllm
async def test_vllm_streams_deltas_then_usage(vllm_backend, local_backend):
    deltas, finished = await collect(vllm_backend.stream(QUESTION, GREEDY))
    assert len(deltas) > 5 and "".join(deltas).strip()
    assert finished.usage.completion_tokens == 32 and finished.finish_reason == "length"
    assert finished.usage.prompt_tokens == len(local_backend.encode(QUESTION))


@pytest.mark.vllm
async def test_vllm_and_local_agree_on_greedy_output(vllm_backend, local_backend_fp32):
    prompts = [
        QUESTION,
        [ChatMessage(role="user", content="Write one line about rain on a skylight.")],
        [ChatMessage(role="system", content="Answer briefly."), ChatMessage(role="user", content="What is ramie?")],
    ]
    params = GenerationParams(max_tokens=40, temperature=0.0)
    for messages in prompts:
        local, _ = await local_backend_fp32.complete(messages, params)
        remote, _ = await vllm_backend.complete(messages, params)
        assert remote == local


@pytest.mark.vllm
async def test_vllm_stop_string(vllm_backend):
    full, _ = await vllm_backend.complete(QUESTION, GREEDY)
    word = full.split()[3]
    cut, finished = await vllm_backend.complete(QUESTION, GREEDY.model_copy(update={"stop": [word]}))
    assert word not in cut and full.startswith(cut) and finished.finish_reason == "stop"


@pytest.mark.vllm
async def test_vllm_cancellation_aborts_the_upstream_request(vllm_backend, vllm_server):
    stream = vllm_backend.stream(QUESTION, GenerationParams(max_tokens=3000, temperature=0.0))
    seen = 0
    async for event in stream:
        seen += 1
        if seen == 3:
            break
    assert vllm_server.metric("vllm:num_requests_running") >= 1
    await stream.aclose()
    deadline = time.monotonic() + 10
    while vllm_server.metric("vllm:num_requests_running") > 0:
        assert time.monotonic() < deadline, "vLLM kept generating after the client closed the stream"
        await asyncio.sleep(0.2)


@pytest.mark.vllm
async def test_vllm_unknown_model_is_a_clear_error(vllm_server):
    backend = OpenAICompatibleBackend(vllm_server.base_url, "no-such-model")
    with pytest.raises(DialogueError, match="HTTP 404.*no-such-model"):
        await backend.complete(QUESTION, GREEDY)
    await backend.aclose()


def test_an_openai_server_that_cannot_follow_a_schema_is_not_asked_to():
    from pipelines.dialogue import DialogueConfig, create_backend

    assert create_backend(DialogueConfig(backend="openai"), Path("/nonexistent")).supports_json_schema
    assert not create_backend(DialogueConfig(backend="openai", json_schema=False), Path("/nonexistent")).supports_json_schema


async def test_openai_backend_reports_an_unreachable_server():
    from server_process import free_port

    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{free_port()}/v1", "smollm2", connect_timeout_s=1)
    with pytest.raises(DialogueConnectionError, match="cannot reach the dialogue server"):
        await backend.complete(QUESTION, GREEDY)
    await backend.aclose()


async def test_openai_backend_times_out_on_a_silent_server():
    async def never_answer(reader, writer):
        while await reader.read(1024):  # read the request, answer nothing, until the client leaves
            pass

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", "smollm2", timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(DialogueTimeout, match="did not answer in time"):
        await backend.complete(QUESTION, GREEDY)
    assert time.perf_counter() - started < 5
    await backend.aclose()
    server.close()


# --- prefix caching: the prompt order pays off on both backends ------------------------------


def persona_turns(haeun, tokenizer) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """Two consecutive prompts of one conversation, built the way the director builds them."""
    from persona.prompt import FanProfile, PromptBuilder

    builder = PromptBuilder(haeun, tokenizer, 4096)
    first = builder.build([], "Hi Haeun! How is Bobbin?", FanProfile(name="Jisoo"))
    history = [first.messages[-1], ChatMessage(role="assistant", content="Asleep on the organza, as usual.")]
    second = builder.build(history, "What fabric do you love most?", FanProfile(name="Jisoo"))
    return first.messages, second.messages


async def test_local_prefix_cache_skips_the_shared_prefix_and_changes_nothing(local_backend_fp32, haeun, tokenizer):
    first, second = persona_turns(haeun, tokenizer)
    params = GenerationParams(max_tokens=16, temperature=0.0)
    await local_backend_fp32.complete(first, params)
    reused_text, reused = await local_backend_fp32.complete(second, params)
    assert reused.usage.cached_tokens > 0.9 * reused.usage.prompt_tokens
    for n in range(4):  # four unrelated conversations push it out of the cache
        await local_backend_fp32.complete([ChatMessage(role="system", content=f"Unrelated {n}."), ChatMessage(role="user", content="Hi.")], params)
    fresh_text, fresh = await local_backend_fp32.complete(second, params)
    assert fresh.usage.cached_tokens == 0
    assert reused_text == fresh_text


async def test_local_prefix_cache_shares_the_persona_block_between_fans(local_backend_fp32, haeun, tokenizer):
    from persona.prompt import FanProfile, PromptBuilder, render_persona_block

    builder = PromptBuilder(haeun, tokenizer, 4096)
    params = GenerationParams(max_tokens=4, temperature=0.0)
    await local_backend_fp32.complete(builder.build([], "Hello!", FanProfile(name="Minji")).messages, params)
    _, other_fan = await local_backend_fp32.complete(builder.build([], "Hi there", FanProfile(name="Tomás")).messages, params)
    persona_block = len(tokenizer(render_persona_block(haeun, [e for e in haeun.canon if e.constant]))["input_ids"])
    assert other_fan.usage.cached_tokens >= persona_block


async def test_local_replies_side_by_side_share_the_persona_block(model_dir, haeun, tokenizer):
    from persona.prompt import FanProfile, PromptBuilder, render_persona_block

    backend = LocalBackend.from_pretrained(model_dir)  # nothing cached yet
    builder = PromptBuilder(haeun, tokenizer, 4096)
    try:
        first = backend.stream(builder.build([], "Hello!", FanProfile(name="Minji")).messages, GenerationParams(max_tokens=64, temperature=0.0))
        assert isinstance(await anext(first), TextDelta)  # Minji's reply is under way
        _, other_fan = await backend.complete(builder.build([], "Hi there", FanProfile(name="Tomás")).messages, GenerationParams(max_tokens=4, temperature=0.0))
        await first.aclose()
    finally:
        await backend.aclose()
    persona_block = len(tokenizer(render_persona_block(haeun, [e for e in haeun.canon if e.constant]))["input_ids"])
    assert other_fan.usage.cached_tokens >= persona_block


@pytest.mark.vllm
async def test_vllm_prefix_cache_hits_across_turns(vllm_backend, haeun, tokenizer):
    first, second = persona_turns(haeun, tokenizer)
    params = GenerationParams(max_tokens=8, temperature=0.0)
    await vllm_backend.complete(first, params)
    _, finished = await vllm_backend.complete(second, params)
    assert finished.usage.cached_tokens > 0.8 * finished.usage.prompt_tokens, finished.usage


async def test_vllm_constrains_a_reply_to_a_json_schema(vllm_backend):
    schema = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["indigo", "persimmon"]}, "count": {"type": "integer"}},
              "required": ["colour", "count"], "additionalProperties": False}
    params = GenerationParams(max_tokens=40, temperature=0.0, json_schema=schema)
    text, _ = await vllm_backend.complete([ChatMessage(role="user", content="Pick a colour and a number.")], params)
    reply = json.loads(text)
    assert set(reply) == {"colour", "count"} and reply["colour"] in ("indigo", "persimmon") and isinstance(reply["count"], int)


async def test_local_backend_refuses_a_json_schema_clearly(local_backend):
    with pytest.raises(DialogueError, match="cannot constrain a reply to a JSON schema"):
        await local_backend.complete([ChatMessage(role="user", content="hi")], GenerationParams(json_schema={"type": "object"}))


async def test_local_no_repeat_ngram_stops_a_greedy_loop(local_backend_fp32):
    # Greedy SmolLM2 answers this with one sentence eight times over; the n-gram block (over
    # her reply, not the prompt) makes it go on to something else instead.
    asked = [ChatMessage(role="user", content="Write a list of ten things you love about your cat.")]
    looping, _ = await local_backend_fp32.complete(asked, GenerationParams(max_tokens=48, temperature=0.0))
    assert repeated_run(looping)
    blocked, _ = await local_backend_fp32.complete(asked, GenerationParams(max_tokens=48, temperature=0.0, no_repeat_ngram=3))
    assert not repeated_run(blocked) and len(blocked.split()) > 20


def test_a_lora_merges_as_peft_merges_it_without_importing_peft(model_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, use_rslora=True, layers_to_transform=[28, 29],
                                           target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, weight in lora.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(weight, std=0.05)  # peft starts B at zero: a no-op adapter
    lora.save_pretrained(tmp_path / "lora")
    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), tmp_path / "lora").merge_and_unload()
    merged = LocalBackend.from_pretrained(model_dir, dtype=torch.float32, adapter_dir=tmp_path / "lora").model
    plain = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).state_dict()
    for name, weight in expected.state_dict().items():
        torch.testing.assert_close(merged.state_dict()[name], weight, rtol=0, atol=1e-6)
    changed = [name for name, weight in merged.state_dict().items() if not torch.equal(weight, plain[name])]
    assert sorted(changed) == sorted(f"model.layers.{i}.{m}.weight" for i in (28, 29) for m in ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"))


def test_an_adapter_that_cannot_be_merged_is_refused_by_name(model_dir, tmp_path):
    with pytest.raises(DialogueError, match="is not a LoRA adapter folder"):
        LocalBackend.from_pretrained(model_dir, adapter_dir=tmp_path)
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_dora": true}')
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(DialogueError, match="only a plain LoRA can be merged here .*use_dora"):
        LocalBackend.from_pretrained(model_dir, adapter_dir=tmp_path)
