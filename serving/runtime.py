"""Everything a conversation runs on, built once from settings: the persona card, the
dialogue backend, memory and the director. `atelier chat` and `atelier serve` both start here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from persona.card import PersonaCard, load_persona
from persona.director import Director
from persona.memory.persona_memory import PersonaMemory
from pipelines.dialogue import DialogueBackend, create_backend, resolve_tokenizer_dir
from serving.settings import Settings


@dataclass
class Runtime:
    persona: PersonaCard
    backend: DialogueBackend
    director: Director
    memory: PersonaMemory | None

    async def aclose(self) -> None:
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
    backend = create_backend(config, settings.cache_path, log=log)
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
    return Runtime(card, backend, director, memory)
