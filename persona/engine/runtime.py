"""Everything a conversation runs on, built once from settings: the persona card, the
dialogue backend, memory and the director. `atelier chat` and `atelier serve` both start here.

Her persona adapter is chosen here, for the persona being started: the local backend merges the
folder `dialogue.adapter` leads to (auto: `persona.adapter.find_adapter`), and an OpenAI-compatible
backend asks for her LoRA's served name (`dialogue.lora_models`). A stale adapter, trained on an
older version of her card, is never used: she replies from the base model and the start-up line
says how to rebuild it. `atelier doctor` reports the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from persona.adapter import METADATA, AdapterState, card_fingerprint, find_adapter, read_metadata
from persona.card import PersonaCard, load_persona
from persona.director import Director
from persona.engine.artifacts import ArtifactStore
from persona.engine.jobs import JobRunner
from persona.memory.persona_memory import PersonaMemory
from pipelines.dialogue import DialogueBackend, DialogueConfig, adapter_dir_problem, create_backend, resolve_model_dir, resolve_tokenizer_dir
from persona.engine.settings import ConfigError, Settings

if TYPE_CHECKING:
    from persona.commissions import Commissions
    from persona.portfolio import Portfolio


@dataclass
class Runtime:
    persona: PersonaCard
    backend: DialogueBackend
    director: Director
    memory: PersonaMemory | None
    jobs: JobRunner | None = None  # the one runner of model-bound work: fans' pieces and the studio's
    artifacts: ArtifactStore | None = None  # fans' pieces, each under its fan
    portfolio: Portfolio | None = None  # her published work, shown to every fan

    def publish_canon(self) -> None:
        """After a piece is published or unpublished: what she knows of her work follows. From a
        worker thread (a studio handler), never the event loop: it waits for the memory thread."""
        if self.memory is not None and self.portfolio is not None:
            self.director.on_memory_thread_from_worker(self.memory.sync_studio_canon, self.portfolio.canon())

    async def aclose(self) -> None:
        if self.jobs is not None:
            await asyncio.to_thread(self.jobs.close, False)  # queued pieces are cancelled; running ones stop at their next step
        await self.director.close()
        await self.backend.aclose()
        if self.memory is not None:
            self.memory.store.close()


async def start_runtime(settings: Settings, persona_id: str | None = None, remember: bool = True, log: Callable[[str], None] = print) -> Runtime:
    """Load the persona, the backend and (with `remember`) her memory. Call from the event loop
    the runtime will serve on: model-read fan facts run their requests on it."""
    from transformers import AutoTokenizer

    from persona.memory import open_store
    from persona.prompt import PromptBuilder

    card = load_persona(persona_id or settings.persona, settings.personas_dir)
    config = settings.dialogue
    tokenizer_dir = resolve_tokenizer_dir(config, settings.cache_path, log)  # a missing folder fails before the model loads
    log(f"Loading dialogue backend '{config.backend}'...")
    if config.backend == "local":
        adapter = persona_adapter(settings, card, resolve_model_dir(config, settings.cache_path, log).name)
        log(adapter.message)
        backend = create_backend(config, settings.cache_path, log=log, adapter_dir=adapter.path)
    else:
        served = await asyncio.to_thread(served_adapter, config, card)
        if served.message:
            log(served.message)
        backend = create_backend(config, settings.cache_path, log=log, served_model=served.model)
    tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, tokenizer_dir, local_files_only=True)
    memory = None
    if remember:
        from persona.memory.embeddings import Embedder

        extractor = None
        if backend.supports_json_schema:  # the model reads fan facts, constrained to a JSON schema
            from persona.memory.llm_extraction import JsonSchemaExtractor

            extractor = JsonSchemaExtractor(backend, asyncio.get_running_loop())
        memory = PersonaMemory(open_store(settings.memory, card.id), await asyncio.to_thread(Embedder), card, extractor=extractor)
        await asyncio.to_thread(memory.sync_canon)
    director = Director(card, backend, PromptBuilder(card, tokenizer, config.context_tokens), config.generation, memory)
    jobs = JobRunner(job_concurrency(settings), settings.studio.max_queue, settings.creations.fan_daily_quota)
    artifacts = portfolio = None
    if memory is not None and settings.creations.enabled:
        artifacts, director.commissions = await asyncio.to_thread(start_commissions, settings, card, director, jobs, memory)
        director.portfolio = portfolio = open_portfolio(settings, card)
        await asyncio.to_thread(memory.sync_studio_canon, portfolio.canon())
    return Runtime(card, backend, director, memory, jobs, artifacts, portfolio)


def artifacts_dir(settings: Settings) -> Path:
    """Where fans' pieces are kept: creations.artifacts_dir, else memory.data_dir/artifacts."""
    return (settings.creations.artifacts_dir or settings.memory.data_dir / "artifacts").expanduser()


def open_portfolio(settings: Settings, card: PersonaCard) -> Portfolio:
    """Her published work, in a folder of hers under creations.portfolio_dir (else memory.data_dir/portfolio)."""
    from persona.portfolio import Portfolio

    root = (settings.creations.portfolio_dir or settings.memory.data_dir / "portfolio").expanduser() / card.id
    return Portfolio(root, settings.creations.portfolio_bytes, card.identity.timezone)


def library_dir(settings: Settings) -> Path:
    """Where the studio keeps what it makes: studio.library_dir, else memory.data_dir/studio."""
    return (settings.studio.library_dir or settings.memory.data_dir / "studio").expanduser()


def artifact_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(artifacts_dir(settings), settings.creations.bytes_per_fan)


def start_commissions(settings: Settings, card: PersonaCard, director: Director, jobs: JobRunner, memory: PersonaMemory) -> tuple[ArtifactStore, Commissions]:
    """Fans' pieces: the store they are kept in and the commissions desk that reads requests
    (with her memory's embedder: the turn's recall vector is reused) and starts jobs."""
    from persona.commissions import Commissions

    from persona.engine.workers import LocalMaker, RayMaker

    artifacts = artifact_store(settings)
    remember = partial(director.on_memory_thread_from_worker, memory.remember_artifact)
    maker = RayMaker() if settings.creations.workers == "ray" else LocalMaker(card, settings.creations.song_seconds, settings.music.soundfont)
    return artifacts, Commissions(card, jobs, artifacts, settings.creations, intent_reader(settings, memory.embedder), remember, maker)


def job_concurrency(settings: Settings) -> int:
    """Jobs running at once. Here they use this machine's CPU or GPU; with creations.workers: ray
    a running job only waits on a worker replica, so every admitted job is sent on at once and
    waits in the workers' queue (their replicas take one each)."""
    return settings.studio.max_queue if settings.creations.workers == "ray" else settings.studio.gpu_concurrency


def intent_reader(settings: Settings, embedder):
    """creations.intents: the embedded reader, or a tool call to the dialogue server (which
    falls back to the embedded reader when the server's answer is no use)."""
    from persona.intents import IntentReader, ToolCallIntentReader

    embedded = IntentReader(embedder)
    if settings.creations.intents == "embedded":
        return embedded
    if settings.dialogue.backend != "openai":
        raise ConfigError(f"creations.intents: tool_call asks the dialogue server, but dialogue.backend is {settings.dialogue.backend!r} "
                          f"(set it to openai, or creations.intents to embedded; set in {settings.source_of('creations.intents')})")
    return ToolCallIntentReader.from_config(embedded, settings.dialogue)


def persona_adapter(settings: Settings, card: PersonaCard, model_name: str | None = None) -> AdapterState:
    """Her adapter for the local backend, as dialogue.adapter names it: auto looks where
    `atelier persona tune` writes and beside her card; a folder is used unless its
    atelier-adapter.json says it was trained on another version of her card (then it is stale,
    as under auto) or, given the local model's folder name `model_name`, on another base model
    (status "other-model"); none (status "off") is the base model alone. ConfigError names
    dialogue.adapter when the folder is not a LoRA folder."""
    state = _configured_adapter(settings, card)
    trained_on = read_metadata(state.path).get("base_model") if state.usable and (state.path / METADATA).is_file() else None
    if model_name is not None and trained_on is not None and trained_on != model_name:
        return AdapterState(None, "other-model", f"the persona adapter for {card.id} in {state.path} was trained on {trained_on}, not on "
                                                 f"{model_name} (dialogue.model_dir); replying without it (run `atelier persona tune {card.id}` "
                                                 "to train one for this model)")
    return state


def _configured_adapter(settings: Settings, card: PersonaCard) -> AdapterState:
    setting = settings.dialogue.adapter
    if setting == "none":
        return AdapterState(None, "off", f"persona adapter off (dialogue.adapter: none): {card.id} replies from the base model")
    if setting == "auto":
        return find_adapter(card, settings.cache_path, settings.personas_dir)
    if problem := adapter_dir_problem(setting):
        raise ConfigError(f"{problem} (dialogue.adapter is set in {settings.source_of('dialogue.adapter')})")
    folder = setting.expanduser()
    if not (folder / METADATA).is_file():
        return AdapterState(folder, "fresh", f"persona adapter for {card.id}: {folder} (dialogue.adapter; it has no {METADATA}, "
                                             "so whether it matches her card is not checked)")
    if read_metadata(folder).get("card_fingerprint") != card_fingerprint(card):
        return AdapterState(None, "stale", f"the persona adapter for {card.id} in {folder} (dialogue.adapter) is stale: her card changed "
                                           f"since it was trained; replying without it (run `atelier persona tune {card.id}` to rebuild it, "
                                           "and set dialogue.adapter to auto or to the new folder)")
    return AdapterState(folder, "fresh", f"persona adapter for {card.id}: {folder} (dialogue.adapter)")


@dataclass(frozen=True)
class ServedAdapter:
    """What an OpenAI-compatible backend asks for on her behalf: `model` (her LoRA's served name,
    or None for dialogue.model), with the adapter's status and a line for start-up and doctor."""

    model: str | None
    status: str  # "fresh", "stale", "unchecked" (the server did not say where it loaded the LoRA from), "missing" or "off"
    message: str


def served_adapter(config: DialogueConfig, card: PersonaCard, timeout_s: float | None = None) -> ServedAdapter:
    """Her LoRA on the OpenAI-compatible server, from dialogue.lora_models. The server's model list
    names the folder each LoRA was loaded from (vLLM's `root`); where that folder is readable here
    and its atelier-adapter.json was trained on another version of her card, the LoRA is stale
    and her replies ask for the base model. A server that does not answer is not held against
    the setting: the name is used unchecked."""
    name = config.lora_models.get(card.id)
    if name is None:
        return ServedAdapter(None, "off", f"no served LoRA for {card.id} (dialogue.lora_models); her replies ask for '{config.model}'")
    listed = _served_models(config, timeout_s or config.connect_timeout_s)
    if listed is None:
        return ServedAdapter(name, "unchecked", f"her replies ask for the served LoRA '{name}' (dialogue.lora_models.{card.id}); "
                                                f"{config.base_url} did not answer, so it is not checked yet")
    if name not in listed:
        return ServedAdapter(None, "missing", f"{config.base_url} does not serve '{name}' (dialogue.lora_models.{card.id}; it serves "
                                              f"{', '.join(listed) or 'nothing'}); replying from '{config.model}' without her LoRA")
    root = Path(listed[name]) if listed[name] else None
    if root is None or not (root / METADATA).is_file():
        return ServedAdapter(name, "unchecked", f"her replies ask for the served LoRA '{name}' (dialogue.lora_models.{card.id}); "
                                                "its folder is not readable here, so whether it matches her card is not checked")
    if read_metadata(root).get("card_fingerprint") != card_fingerprint(card):
        return ServedAdapter(None, "stale", f"the served LoRA '{name}' for {card.id} ({root}) is stale: her card changed since it was trained; "
                                            f"replying from '{config.model}' without it (run `atelier persona tune {card.id}` and restart "
                                            f"the server with --lora-modules {name}=<the new folder>)")
    return ServedAdapter(name, "fresh", f"her replies ask for the served LoRA '{name}' ({root})")


def _served_models(config: DialogueConfig, timeout_s: float) -> dict[str, str | None] | None:
    """{served name: the folder it was loaded from, where the server says} or None when it does not answer."""
    import httpx

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    try:
        response = httpx.get(f"{config.base_url.rstrip('/')}/models", headers=headers, timeout=timeout_s)
        response.raise_for_status()
        return {model["id"]: model.get("root") for model in response.json().get("data", [])}
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None
