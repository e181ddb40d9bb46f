"""The character: her card, prompt assembly and the director that runs a turn."""

from persona.card import CanonEntry, PersonaCard, PersonaError, list_personas, load_persona, save_persona

__all__ = ["CanonEntry", "PersonaCard", "PersonaError", "list_personas", "load_persona", "save_persona"]
