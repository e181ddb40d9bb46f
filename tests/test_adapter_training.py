"""Her persona adapter's training: the data comes from her card alone and is built as the chat
builds its prompts, and training writes a whole, reproducible adapter folder or nothing.

A tiny Llama (two layers, 32 wide) with a byte-level tokenizer and a ChatML template is built in
code, with a tiny card, so training takes a second or two."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from pathlib import Path

import pytest
import torch
import yaml

from persona.adapter import METADATA, card_fingerprint, find_adapter, tuned_adapter_dir
from persona.adapter.dataset import build_conversations, conversation_times, first_person, shared_prefix, tokenize_conversations
from persona.adapter.train import TuneCancelled, TuneConfig, build_examples, train_adapter
from persona.card import PersonaCard
from persona.prompt import FanProfile, PromptBuilder
from persona.reply_quality import TERMINAL, confused_with_fan, sentences
from pipelines.dialogue import ChatMessage, GenerationParams, TextDelta
from pipelines.dialogue.local import LocalBackend

REPO = Path(__file__).resolve().parent.parent
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY = TuneConfig(steps=3, batch_size=2, rank=4, alpha=8, top_layers=2, learning_rate=5e-2, warmup_steps=1, rounds=1,
                  refresh_prefix_every=2, threads=1, max_suffix_tokens=4096)


def tiny_card(**changes) -> PersonaCard:
    data = {
        "id": "mira",
        "name": "Mira",
        "identity": {"full_name": "Han Mira", "age": 31, "home": "Busan", "occupation": "Potter",
                     "biography": "Mira is a potter in Busan.", "tagline": "Clay remembers."},
        "canon": [
            {"id": "dog", "name": "Her dog", "keys": ["dog", "Yeti"], "content": "Mira's dog Yeti sleeps under the wheel. She walks him at dawn."},
            {"id": "kiln", "name": "The kiln", "keys": ["kiln"], "content": "Mira fires her kiln on Fridays and keeps the door shut."},
            {"id": "secret", "name": "Next show", "keys": ["Ash Garden"], "embargo_until": "2030-01-01",
             "content": "Ash Garden is Mira's show of 2030."},
        ],
        "voice": {"greetings": ["Hi, come in! The wheel is still warm."], "catchphrases": ["Slow hands, good pots."],
                  "example_dialogue": [{"user": "What do you make?", "persona": "Bowls, mostly. Wide ones, for soup. What do you make?"}]},
        "visual": {"palette": [{"name": "Clay", "hex": "#B5651D"}]},
        "safety": {"topics": {"politics": False, "pottery": True}},
    }
    data.update(changes)
    return PersonaCard.model_validate(data)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A two-layer Llama and a byte-level BPE tokenizer with ChatML, saved as a model folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", bos_token="<|im_start|>", pad_token="<|im_end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=16384, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory, one_torch_thread):
    folder = tmp_path_factory.mktemp("adapters") / "mira"
    return train_adapter(tiny_card(), tiny_model_dir, folder, TINY)


# ------------------------------------------------------------------ the data


def test_her_sentences_are_in_the_first_person():
    card = tiny_card()
    assert first_person("Mira fires her kiln on Fridays and keeps the door shut.", card) == "I fire my kiln on Fridays and keep the door shut."
    assert first_person("She walks him at dawn.", card) == "I walk him at dawn."
    assert first_person("Yeti sleeps under the wheel, and he loves Mira's shoes.", card) == "Yeti sleeps under the wheel, and he loves my shoes."
    assert first_person("Mira credits her for every fit.", card) is None  # "her" is someone else: not said at all


def test_replies_are_short_and_end_at_a_sentence_boundary():
    for conversation in build_conversations(tiny_card(), seed=0):
        for exchange in conversation.exchanges:
            assert exchange.reply.strip().endswith(TERMINAL), exchange.reply
            assert 1 <= len(sentences(exchange.reply)) <= 3, exchange.reply


def test_the_fans_facts_stay_theirs():
    fan_life = [c for c in build_conversations(tiny_card(), seed=0) if c.kind == "fan_life"]
    assert fan_life and any(c.fan.pets for c in fan_life) and any(c.fan.people for c in fan_life) and any(c.fan.name for c in fan_life)
    for conversation in fan_life:
        assert len(conversation.exchanges) >= 2
        for exchange in conversation.exchanges:
            assert not confused_with_fan(exchange.reply, conversation.fan), exchange.reply
    said = " ".join(e.reply for c in fan_life for e in c.exchanges)
    assert re.search(r"\byour (?:dog|cat|puppy|kitten|rabbit|hamster|parrot) [A-Z]|\byour [A-Z]\w+", said)


def test_lore_under_embargo_is_never_in_the_data():
    said = " ".join(e.fan + " " + e.reply for c in build_conversations(tiny_card(), seed=0) for e in c.exchanges)
    assert "Ash Garden" not in said and "Yeti" in said and "Busan" in said and "31" in said


def test_the_data_is_seeded():
    first, again, other = (build_conversations(tiny_card(), seed=s) for s in (0, 0, 1))
    assert first == again and first != other


def test_each_prompt_is_built_as_the_chat_builds_it(tiny_tokenizer):
    """Replayed as the director runs turns (PromptBuilder.build on the history kept as sent), every
    turn's prompt has exactly the example's tokens before her reply."""
    card = tiny_card()
    builder = PromptBuilder(card, tiny_tokenizer, 8192)
    conversations = build_conversations(card, seed=0)
    examples = tokenize_conversations(conversations, builder, seed=0)
    times = conversation_times(0, len(conversations), builder.timezone)
    for conversation, example, now in zip(conversations, examples, times):
        history: list[ChatMessage] = []
        for turn, exchange in enumerate(conversation.exchanges):
            prompt = builder.build(history, exchange.fan, FanProfile(name=conversation.fan_name), now=now + dt.timedelta(minutes=turn))
            assert example.prompts[turn] == prompt.messages
            start, end = example.reply_spans[turn]
            assert example.token_ids[:start] == prompt.token_ids  # the prompt's tokens, then her reply
            assert tiny_tokenizer.decode(example.token_ids[start:end]) == exchange.reply + "<|im_end|>"
            history += [prompt.messages[-1], ChatMessage(role="assistant", content=exchange.reply)]
    shared = tiny_tokenizer.decode(examples[0].token_ids[: shared_prefix(examples)])
    assert shared.startswith("<|im_start|>system\n" + builder.build([], "x", None).messages[0].content)  # her whole system block


def test_no_benchmark_message_is_in_the_data(haeun):
    """The reply benchmark's fan messages (its held-out split included) never reach training."""
    bench = [entry["message"] for entries in yaml.safe_load((REPO / "bench" / "replies.yaml").read_text()).values() for entry in entries]
    said = [text for c in build_conversations(haeun, seed=0) for e in c.exchanges for text in (e.fan, e.reply)]
    text = "\n".join(said).lower()
    assert len(bench) > 50
    lines = {line.lower().strip().rstrip("?.!") for line in said}
    # a bench message is neither a line of the data nor (when it is more than a greeting) inside one
    leaked = [message for message in bench if message.lower().rstrip("?.!") in lines or (len(message.split()) > 3 and message.lower() in text)]
    assert not leaked


# ------------------------------------------------------------------ training


def test_training_writes_the_adapter_and_its_metadata(trained):
    folder = trained.folder
    assert {p.name for p in folder.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", METADATA}
    metadata = json.loads((folder / METADATA).read_text())
    assert metadata["card_fingerprint"] == card_fingerprint(tiny_card())
    assert metadata["steps"] == 3 and metadata["rank"] == 4 and metadata["seed"] == 0 and metadata["examples"] > 10
    assert metadata["base_model"] and metadata["train_seconds"] > 0 and metadata["final_loss"] > 0
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    from safetensors import safe_open

    with safe_open(folder / "adapter_model.safetensors", "pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float16}


def test_same_seed_same_bytes(trained, tiny_model_dir, tmp_path, one_torch_thread):
    again = train_adapter(tiny_card(), tiny_model_dir, tmp_path / "again", TINY)
    other = train_adapter(tiny_card(), tiny_model_dir, tmp_path / "other", TuneConfig(**{**TINY.__dict__, "seed": 1}))
    digest = lambda folder: hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    assert digest(again.folder) == digest(trained.folder) != digest(other.folder)


async def _greedy(backend: LocalBackend, builder: PromptBuilder) -> str:
    prompt = builder.build([], "Tell me about your kiln.", None)
    parts = [event.text async for event in backend.stream(prompt.messages, GenerationParams(max_tokens=12, temperature=0.0))
             if isinstance(event, TextDelta)]
    await backend.aclose()
    return "".join(parts)


async def test_the_local_backend_loads_it_and_replies_differently(trained, tiny_model_dir, one_torch_thread):
    base = LocalBackend.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tuned = LocalBackend.from_pretrained(tiny_model_dir, dtype=torch.float32, adapter_dir=trained.folder)
    builder = PromptBuilder(tiny_card(), base.tokenizer, 8192)
    assert await _greedy(base, builder) != await _greedy(tuned, builder)


def test_the_chat_finds_it_by_her_card(tiny_model_dir, tmp_path, one_torch_thread):
    card = tiny_card()
    folder = train_adapter(card, tiny_model_dir, tuned_adapter_dir(tmp_path, card), TuneConfig(**{**TINY.__dict__, "steps": 1})).folder
    assert find_adapter(card, tmp_path, tmp_path / "personas").path == folder


def test_cancel_leaves_no_folder(tiny_model_dir, tmp_path, one_torch_thread):
    cancel = threading.Event()

    def stop_after_first(step, steps, loss):
        cancel.set()

    with pytest.raises(TuneCancelled):
        train_adapter(tiny_card(), tiny_model_dir, tmp_path / "adapter", TuneConfig(**{**TINY.__dict__, "steps": 5}), stop_after_first, cancel)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_keeps_the_adapter_that_was_there(trained, tiny_model_dir, tmp_path, one_torch_thread):
    import shutil

    folder = tmp_path / "adapter"
    shutil.copytree(trained.folder, folder)
    before = (folder / "adapter_model.safetensors").read_bytes()

    def interrupt(step, steps, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_adapter(tiny_card(), tiny_model_dir, folder, TINY, interrupt)
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"] and (folder / "adapter_model.safetensors").read_bytes() == before


def test_examples_fit_the_tiny_budget(tiny_tokenizer):
    examples = build_examples(tiny_card(), tiny_tokenizer, TINY)
    assert examples and all(example.trained_tokens > 0 for example in examples)
    assert {example.kind for example in examples} >= {"canon", "example", "greeting", "refusal", "fan_life"}


def test_the_command_checks_its_arguments_first(tmp_path):
    from conftest import atelier

    for args, says in ((["--steps", "0"], "--steps must be between 1"), (["--seed", "-1"], "--seed must be between 0"),
                       (["--output", str(tmp_path / "file.txt")], "is a file, not a folder")):
        (tmp_path / "file.txt").write_text("x")
        result = atelier("persona", "tune", "haeun", *args)
        assert result.returncode == 2 and says in result.stderr and result.stderr.count("\n") == 1, result.stderr
