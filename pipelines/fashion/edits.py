"""Edits to a DesignSpec in a designer's own words: "longer sleeves, darker", "make it wool".

    edited, changes = apply_edit(spec, "longer sleeves, darker and add pockets", palette_names=card.visual.palette)
    # changes: ["sleeve length: short → elbow", "palette: Persimmon #E0703A → Persimmon (deep) #BB511C", ...,
    #           "details: added side-pockets"]

An instruction is clauses separated by commas, semicolons, "and" or "then", applied in order.
A clause steps along an ordered scale (longer/shorter, looser/slimmer, bigger/smaller print,
darker/lighter), names a vocabulary word that sets its field ("V-neck", "wool", "midi length"),
names one of the persona's colours to make it the main colour ("in Celadon"), adds or removes
a detail ("add pockets", "no belt") or swaps the print ("swap the print for stripes").

Stepping past the end of a scale ("longer" on a floor-length dress) leaves the field as it is
and says so in the changes, so the rest of a chain still applies. A clause that cannot be read,
or that asks for something the garment cannot have (a neckline on trousers), raises EditError
naming the clause; nothing is applied then. The edited spec keeps the original's id and
provenance (its seed), so it can still be traced to the candidate it came from.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.garments import (
    CLOSURES_BY_CATEGORY,
    FABRICS_BY_CATEGORY,
    FINISHES_BY_FABRIC,
    LENGTHS_BY_CATEGORY,
    NECKLINES_BY_CATEGORY,
    POCKET_DETAILS,
    SILHOUETTES_BY_CATEGORY,
    SLEEVE_LENGTHS_BY_CATEGORY,
    detail_fits,
    pocket_for,
)
from pipelines.fashion.palette import hex_to_lab, lab_to_hex
from pipelines.fashion.spec import DesignSpec, DesignSpecError
from pipelines.style import HEX_COLOR, NamedColor

EXAMPLES = (
    "longer sleeves", "shorter", "more oversized", "slimmer", "darker", "much lighter", "make it wool", "V-neck",
    "midi length", "add pockets", "add a belt", "no pockets", "swap the print for stripes", "bigger print", "in Celadon",
)
SHADE_STEP = 12.0  # Lab L* per "darker": visible, and a few steps still stay in gamut
DEEP, LIGHT = " (deep)", " (light)"


class EditError(ValueError):
    """An edit that cannot be applied; names the clause and says what can be asked instead."""


def apply_edit(spec: DesignSpec, instruction: str, palette_names: Sequence[NamedColor] | None = None) -> tuple[DesignSpec, list[str]]:
    """The edited spec and one readable line per change. ``palette_names`` are the colours
    that can be asked for by name (the persona's palette); the spec's own colours always can."""
    clauses = split_clauses(instruction)
    if not clauses:
        raise EditError(f"the edit is empty; try one of: {', '.join(EXAMPLES)}")
    draft = Draft(spec, list(palette_names or []))
    previous_mode = None
    for clause in clauses:
        previous_mode = draft.apply(clause, previous_mode)
    return draft.spec, draft.changes


# --- reading a clause -----------------------------------------------------------------------

_AND_TERMS = [term for kind in vocab.VOCABULARY.values() for term in kind if "-and-" in term]
_WORD = r"(?<![\w-]){}(?![\w-])"  # a whole word: the "and" of "fit-and-flare" does not split
_CLAUSE_BREAK = re.compile(rf"\s*(?:[,;]|\.(?:\s+|$)|\s&\s|\s\+\s|{_WORD.format('and then')}|{_WORD.format('then')}|{_WORD.format('and')})\s*", re.IGNORECASE)


def split_clauses(instruction: str) -> list[str]:
    """'longer sleeves, darker and add pockets' -> ['longer sleeves', 'darker', 'add pockets']."""
    text = instruction.strip()
    for term in _AND_TERMS:  # "fit and flare" is one word, not two clauses
        text = re.sub(term.replace("-", r"[\s-]+"), term, text, flags=re.IGNORECASE)
    return [clause.strip(" .!?") for clause in _CLAUSE_BREAK.split(text) if clause.strip(" .!?")]


_REPLACEMENTS = ((r"3/4|¾", "three-quarter"), (r"off[\s-]the[\s-]shoulder", "off-shoulder"), (r"\bt[\s-]shirt", "tee"))
_SWAP_PRINT = re.compile(r"^(?:swap|change|switch|replace|turn|make)\s+(?:the\s+|its\s+)?(?:print|pattern)\s+(?:for|to|with|into|in)\s+(?P<object>.+)$")
_REMOVE = re.compile(r"^(?:no|remove|without|lose|drop|delete|ditch|minus|take\s+(?:off|away|out)|get\s+rid\s+of|leave\s+(?:off|out))\s+(?P<object>.+)$")
_ADD = re.compile(r"^(?:add|with|plus|include|attach|put\s+on|give\s+it)\s+(?P<object>.+)$")

STEP_WORDS: dict[str, tuple[str, int]] = {
    "longer": ("length", 1), "lengthen": ("length", 1), "shorter": ("length", -1), "shorten": ("length", -1),
    "looser": ("fit", 1), "roomier": ("fit", 1), "baggier": ("fit", 1), "slimmer": ("fit", -1), "tighter": ("fit", -1),
    "narrower": ("fit", -1), "wider": ("fit", 1), "bigger": ("size", 1), "larger": ("size", 1), "smaller": ("size", -1),
    "darker": ("shade", -1), "deeper": ("shade", -1), "lighter": ("shade", 1), "paler": ("shade", 1), "brighter": ("shade", 1),
}
_VOLUME_WORDS = {"oversized", "relaxed", "loose", "roomy", "volume", "voluminous", "baggy", "boxy"}
_FITTED_WORDS = {"fitted", "slim", "tailored", "tight", "close"}
INTENSITY = {"much": 2.0, "lot": 2.0, "lots": 2.0, "way": 2.0, "far": 2.0, "considerably": 2.0,
             "slightly": 0.5, "bit": 0.5, "little": 0.5, "touch": 0.5, "tad": 0.5, "somewhat": 0.5, "subtly": 0.5}
SLEEVE_WORDS = {"sleeve", "sleeves", "sleeved", "arms"}
PRINT_WORDS = {"print", "prints", "pattern", "patterns", "motif", "repeat"}
NECK_WORDS = {"neck", "neckline"}
POCKET_WORDS = {"pocket", "pockets"}
FILLER = frozenset(
    "make it its it's the a an some please in into to with go use try instead now also just very colour color main "
    "fabric material length shape silhouette fit finish closure season occasion version one give change set switch "
    "turn of for so really all over be should can you me i want would like let's lets look feel overall garment piece "
    "design whole bit little more less do them".split()
)

PRINT_SCALE_WORDS = {"small": "small", "tiny": "small", "ditsy": "small", "micro": "small", "medium": "medium",
                     "large": "large", "big": "large", "bold": "large", "oversized": "large", "giant": "large", "huge": "large"}
SLEEVE_LENGTH_WORDS = {"long": "long", "short": "short", "cap": "cap", "elbow": "elbow", "elbow-length": "elbow",
                       "three-quarter": "three-quarter", "sleeveless": "sleeveless", "full-length": "long"}
# Which field a word two fields share sets, unless the clause says ("wrap neckline").
KIND_PRIORITY = ("fit", "silhouette", "length", "neckline", "sleeve length", "sleeve type", "fabric type", "fabric finish",
                 "print type", "print scale", "print repeat", "closure", "detail", "season", "occasion", "category")


@dataclass(frozen=True)
class Action:
    """One change a clause asks for; ``order`` applies a clause's parts sensibly (sleeve length before type)."""

    order: float
    method: str
    args: tuple[Any, ...] = ()


# Within a clause: the garment first, then what depends on it ("long puff sleeves": length, then type).
_ORDER = {"category": 0, "fabric type": 1, "field": 1.5, "sleeve length": 2, "sleeve type": 3, "print": 4, "main colour": 5,
          "shade": 6, "print scale": 7, "details": 8, "step": 9}


def _kinds_of(term: str) -> list[str]:
    return [kind for kind in KIND_PRIORITY if term in vocab.VOCABULARY[kind] and term != "none"]


class ClauseReader:
    """Turns one clause into actions, or explains what it did not understand."""

    def __init__(self, clause: str, colours: Sequence[tuple[str, str]]):
        self.clause = clause
        self.colours = colours  # (name, hex), the spec's own and the persona's

    def read(self, mode: str | None) -> tuple[list[Action], str]:
        text = self.clause.lower()
        for pattern, replacement in _REPLACEMENTS:
            text = re.sub(pattern, replacement, text)
        if match := _SWAP_PRINT.match(text):
            return self._swap_print(match["object"]), "swap"
        if match := _REMOVE.match(text):
            return self._remove(_tokens(match["object"])), "remove"
        if match := _ADD.match(text):
            return self._set(_tokens(match["object"]), adding=True), "add"
        tokens = _tokens(text)
        if mode == "remove":  # "no pockets and belt": the belt goes too
            try:
                return self._remove(tokens), "remove"
            except EditError:
                pass
        return self._set(tokens, adding=False), "set"

    # "swap the print for thin stripes": the designer's words become the motif
    def _swap_print(self, obj: str) -> list[Action]:
        tokens = _tokens(obj)
        actions: list[Action] = []
        for phrase in _phrases(tokens):
            term = _print_term(phrase)
            if term is not None:
                actions.append(Action(_ORDER["print"], "set_print", (term, obj.strip())))
                break
        if not actions:
            raise self.error(f"it names no print; prints are {', '.join(vocab.PRINT_TYPES)}")
        scale = next((PRINT_SCALE_WORDS[t] for t in tokens if t in PRINT_SCALE_WORDS), None)
        if scale:
            actions.append(Action(_ORDER["print scale"], "set_term", ("print scale", scale)))
        return actions

    def _remove(self, tokens: list[str]) -> list[Action]:
        actions, leftover = [], []
        words = [t for t in tokens if t not in FILLER]
        i = 0
        while i < len(words):
            word = words[i]
            if word in POCKET_WORDS:
                actions.append(Action(_ORDER["details"], "remove_pockets"))
            elif word in PRINT_WORDS:
                actions.append(Action(_ORDER["print"], "set_print", ("solid", "")))
            elif word in SLEEVE_WORDS:
                actions.append(Action(_ORDER["sleeve length"], "set_term", ("sleeve length", "sleeveless")))
            elif word in ("details", "detail", "trims", "embellishments"):
                actions.append(Action(_ORDER["details"], "clear_details"))
            elif word == "hood":
                actions.append(Action(_ORDER["details"], "remove_hood"))
            else:
                found = self._match(words, i, only=("detail",))
                if found is None:
                    leftover.append(word)
                else:
                    (kind, value), used = found
                    actions.append(Action(_ORDER["details"], "remove_detail", (value,)))
                    i += used
                    continue
            i += 1
        if leftover or not actions:
            raise self.not_understood(leftover, "only details, pockets, the print and sleeves can be removed")
        return actions

    def _set(self, tokens: list[str], adding: bool) -> list[Action]:
        sleeve_context = any(t in SLEEVE_WORDS for t in tokens)
        print_context = any(t in PRINT_WORDS for t in tokens)
        neck_context = any(t in NECK_WORDS for t in tokens)
        intensity = next((INTENSITY[t] for t in tokens if t in INTENSITY), 1.0)
        actions: list[Action] = []
        leftover: list[str] = []
        i = 0
        while i < len(tokens):
            word = tokens[i]
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            phrase = self._match(tokens, i, min_size=2, neck_context=neck_context, sleeve_context=sleeve_context, print_context=print_context)
            if phrase is not None:  # several words first, even from a filler word ("a line", "in hanji white")
                found, used = phrase
                actions.append(self._action_for(found))
                i += used
                continue
            if word in ("more", "less") and (following in _VOLUME_WORDS or following in _FITTED_WORDS):
                looser = (following in _VOLUME_WORDS) == (word == "more")
                actions.append(Action(_ORDER["step"], "step", ("fit", 1 if looser else -1)))
                i += 2
                continue
            if word in STEP_WORDS:
                actions.append(self._step(word, intensity, sleeve_context, print_context))
            elif word in POCKET_WORDS:
                actions.append(Action(_ORDER["details"], "add_pockets"))
            elif sleeve_context and word in SLEEVE_LENGTH_WORDS:
                actions.append(Action(_ORDER["sleeve length"], "set_term", ("sleeve length", SLEEVE_LENGTH_WORDS[word])))
            elif print_context and word in PRINT_SCALE_WORDS:
                actions.append(Action(_ORDER["print scale"], "set_term", ("print scale", PRINT_SCALE_WORDS[word])))
            elif adding and word in SLEEVE_WORDS and not any(t in SLEEVE_LENGTH_WORDS for t in tokens):
                actions.append(Action(_ORDER["sleeve length"], "add_sleeves"))
            elif word in INTENSITY or word in SLEEVE_WORDS or word in PRINT_WORDS or word in NECK_WORDS or word in FILLER:
                pass
            elif HEX_COLOR.match(word):
                actions.append(Action(_ORDER["main colour"], "set_main_colour", (word.upper(), word.upper())))
            else:
                found = self._match(tokens, i, neck_context=neck_context, sleeve_context=sleeve_context, print_context=print_context)
                if found is None:
                    leftover.append(word)
                else:
                    term, used = found
                    actions.append(self._action_for(term))
                    i += used
                    continue
            i += 1
        if leftover or not actions:
            raise self.not_understood(leftover)
        return actions

    def _step(self, word: str, intensity: float, sleeve_context: bool, print_context: bool) -> Action:
        scale, direction = STEP_WORDS[word]
        steps = 2 if intensity > 1 else 1
        if scale == "shade":
            return Action(_ORDER["shade"], "shade", (direction * intensity,))
        if scale == "size":
            scale = "print scale" if print_context else "fit"
        if scale == "length" and sleeve_context:
            scale = "sleeve length"
        return Action(_ORDER["step"], "step", (scale, direction * steps))

    def _match(self, tokens: list[str], start: int, only: Sequence[str] | None = None, min_size: int = 1,
               **context: bool) -> tuple[Any, int] | None:
        """The longest phrase from ``start`` that names a colour or a vocabulary word: (what, tokens used)."""
        for size in range(3, min_size - 1, -1):
            if start + size > len(tokens):
                continue
            phrase = " ".join(tokens[start:start + size])
            if only is None:
                colour = self._colour(phrase, whole_name=True)
                if colour is not None:
                    return ("main colour", colour), size
            term = _term(phrase, only, **context)
            if term is not None:
                return term, size
            if only is None and size == 1:
                colour = self._colour(phrase, whole_name=False)
                if colour is not None:
                    return ("main colour", colour), size
        return None

    def _colour(self, phrase: str, whole_name: bool) -> tuple[str, str] | None:
        wanted = vocab.normalize(phrase)
        for name, hex_color in self.colours:
            if whole_name and vocab.normalize(name) == wanted:
                return name, hex_color
            if not whole_name and wanted in vocab.normalize(name).split("-"):
                return name, hex_color
        return None

    @staticmethod
    def _action_for(found: tuple[str, Any]) -> Action:
        kind, value = found
        if kind == "main colour":
            return Action(_ORDER["main colour"], "set_main_colour", value)
        if kind == "detail":
            return Action(_ORDER["details"], "add_detail", (value,))
        if kind == "print type":
            return Action(_ORDER["print"], "set_print", (value, ""))
        return Action(_ORDER.get(kind, _ORDER["field"]), "set_term", (kind, value))

    def error(self, reason: str) -> EditError:
        return EditError(f"cannot apply {self.clause!r}: {reason}")

    def not_understood(self, leftover: list[str], reason: str = "") -> EditError:
        words = leftover or _tokens(self.clause)
        nearest = list(dict.fromkeys(match for word in words for match in difflib.get_close_matches(word, _lexicon(self.colours), n=2, cutoff=0.8)))
        parts = [f"did not understand {self.clause!r}" + (f" (unknown: {', '.join(repr(w) for w in leftover)})" if leftover else "")]
        if reason:
            parts.append(reason)
        if set(leftover) & {"long", "short"}:
            parts.append("say 'longer' or 'shorter' for the garment, 'long sleeves' or 'short sleeves' for the sleeves")
        if nearest:
            parts.append(f"perhaps you meant {' or '.join(repr(m) for m in nearest)}")
        return EditError(f"{'; '.join(parts)}. Edits look like: {', '.join(EXAMPLES)}")


def _tokens(text: str) -> list[str]:
    return re.findall(r"#[0-9a-fA-F]{6}|[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower())


def _phrases(tokens: list[str]) -> list[str]:
    return [" ".join(tokens[i:i + size]) for size in (3, 2, 1) for i in range(len(tokens) - size + 1)]


def _term(phrase: str, only: Sequence[str] | None = None, neck_context: bool = False,
          sleeve_context: bool = False, print_context: bool = False) -> tuple[str, str] | None:
    """(kind, value) for a vocabulary word or a synonym; shared words go to the field the clause names."""
    word = vocab.normalize(phrase)
    candidates = [word, vocab.singular(word)] if "-" not in word else [word]
    for candidate in candidates:
        if candidate in vocab.SYNONYMS and (only is None or vocab.SYNONYMS[candidate][0] in only):
            return vocab.SYNONYMS[candidate]
        kinds = [kind for kind in _kinds_of(candidate) if only is None or kind in only]
        # "long" alone is not a sleeve, nor "large" a print scale, unless the clause says so
        if not sleeve_context and candidate not in ("sleeveless", "three-quarter"):
            kinds = [kind for kind in kinds if kind != "sleeve length"]
        if not print_context:
            kinds = [kind for kind in kinds if kind != "print scale"]
        if not kinds:
            continue
        for wanted, context in (("neckline", neck_context), ("sleeve type", sleeve_context), ("print type", print_context)):
            if context and wanted in kinds:
                return wanted, candidate
        return kinds[0], candidate
    return None


def _print_term(phrase: str) -> str | None:
    found = _term(phrase, only=("print type",))
    return found[1] if found else None


def _lexicon(colours: Sequence[tuple[str, str]]) -> list[str]:
    terms = {term for kind in vocab.VOCABULARY.values() for term in kind if term != "none"}
    return sorted(terms | set(vocab.SYNONYMS) | set(STEP_WORDS) | {name.lower() for name, _ in colours}
                  | {"pockets", "sleeves", "print", "add", "remove", "swap"})


# --- applying actions --------------------------------------------------------------------------

_LABELS = {"fabric type": "fabric", "fabric finish": "finish", "print type": "print"}
_PATHS = {"sleeve length": ("sleeve", "length"), "sleeve type": ("sleeve", "type"), "fabric type": ("fabric", "type"),
          "fabric finish": ("fabric", "finish"), "print type": ("print", "type"), "print scale": ("print", "scale"),
          "print repeat": ("print", "repeat")}
_SCALES = {"length": vocab.LENGTHS, "sleeve length": vocab.SLEEVE_LENGTHS, "fit": vocab.FITS, "print scale": vocab.PRINT_SCALES}
_ENDS = {"length": ("shortest", "longest"), "sleeve length": ("shortest", "longest"), "fit": ("slimmest", "loosest"),
         "print scale": ("smallest", "largest")}


class Draft:
    """The spec being edited, as plain data; each clause is checked whole before the next."""

    def __init__(self, spec: DesignSpec, palette: list[NamedColor]):
        self.data: dict[str, Any] = spec.model_dump()
        self.spec = spec
        self.changes: list[str] = []
        self.colours = [(c["name"], c["hex"]) for c in self.data["palette"]] + [(c.name, c.hex) for c in palette]
        self.clause = ""

    def apply(self, clause: str, previous_mode: str | None) -> str:
        self.clause = clause
        actions, mode = ClauseReader(clause, self.colours).read(previous_mode)
        for action in sorted(actions, key=lambda a: a.order):
            getattr(self, action.method)(*action.args)
        try:
            self.spec = DesignSpec.from_data(self.data, source="edited design")
        except DesignSpecError as error:
            raise self.error(f"it would make an invalid design: {error}") from None
        self.data = self.spec.model_dump()  # the spec's own normalising (a sleeveless sleeve has no type) carries on
        return mode

    def error(self, reason: str) -> EditError:
        return EditError(f"cannot apply {self.clause!r}: {reason}")

    # -- reading and writing fields
    @property
    def category(self) -> str:
        return self.data["category"]

    @property
    def part(self) -> str:
        return vocab.body_part(self.category)

    def get(self, kind: str) -> Any:
        path = _PATHS.get(kind, (kind,))
        value = self.data
        for key in path:
            value = value[key]
        return value

    def put(self, kind: str, value: Any, note: str = "") -> None:
        old = self.get(kind)
        if old == value:
            self.changes.append(f"{_LABELS.get(kind, kind)}: already {value}")
            return
        *parents, last = _PATHS.get(kind, (kind,))
        target = self.data
        for key in parents:
            target = target[key]
        target[last] = value
        self.changes.append(f"{_LABELS.get(kind, kind)}: {old} → {value}{note}")

    # -- actions
    def set_term(self, kind: str, value: str) -> None:
        if kind == "category":
            return self.set_category(value)
        if kind in ("neckline", "sleeve length", "sleeve type") and self.part == "lower":
            raise self.error(f"{garment(self.category)} {_has(self.category)} no {'neckline' if kind == 'neckline' else 'sleeves'}")
        if kind == "sleeve type" and self.get("sleeve length") == "sleeveless":
            raise self.error(f"the design is sleeveless; give the sleeves a length too, e.g. 'long {value} sleeves'")
        if kind in ("print scale", "print repeat") and self.get("print type") == "solid":
            raise self.error("the design has no print; swap one in first, e.g. 'swap the print for stripes'")
        if kind == "length" and value not in self._lengths():
            raise self.error(f"{garment(self.category)} cannot be {value} length; it can be {', '.join(self._lengths())}")
        if kind == "detail":
            return self.add_detail(value)
        self.put(kind, value)
        if kind == "sleeve length" and value != "sleeveless" and self.get("sleeve type") == "none":
            self.put("sleeve type", "set-in")
        if kind == "fabric type" and self.get("fabric finish") not in FINISHES_BY_FABRIC[value]:
            self.put("fabric finish", "matte", f" ({self.get('fabric finish')} does not suit {value})")

    def step(self, scale: str, steps: int) -> None:
        if scale == "sleeve length" and self.part == "lower":
            raise self.error(f"{garment(self.category)} {_has(self.category)} no sleeves")
        if scale == "print scale" and self.get("print type") == "solid":
            raise self.error("the design has no print; swap one in first, e.g. 'swap the print for stripes'")
        current = self.get(scale)
        order = _SCALES[scale]
        if scale == "length":  # the lengths this kind of garment comes in, plus wherever it is now
            order = tuple(value for value in order if value in LENGTHS_BY_CATEGORY[self.category] or value == current)
        position = order.index(current)
        target = min(max(position + steps, 0), len(order) - 1)
        if target == position:
            end = _ENDS[scale][0 if steps < 0 else 1]
            whose = f" for {garment(self.category)}" if scale == "length" else ""
            self.changes.append(f"{_LABELS.get(scale, scale)}: already {current}, the {end}{whose} (unchanged)")
            return
        self.set_term(scale, order[target])

    def _lengths(self) -> tuple[str, ...]:
        """Lengths the spec accepts for this garment, in order (what fits is the spec's rule)."""
        return tuple(length for length in vocab.LENGTHS if _length_fits(self.category, length))

    def set_category(self, category: str) -> None:
        """A new garment: the fields it cannot keep are changed to what it usually has, and said."""
        if category == self.category:
            self.changes.append(f"category: already {category}")
            return
        self.put("category", category)
        usual_lengths = LENGTHS_BY_CATEGORY[category]
        if self.get("length") not in usual_lengths:
            self.put("length", _nearest(self.get("length"), usual_lengths))
        if self.get("silhouette") not in SILHOUETTES_BY_CATEGORY[category]:
            self.put("silhouette", SILHOUETTES_BY_CATEGORY[category][0])
        if self.part == "lower":
            if self.get("neckline") != "none":
                self.put("neckline", "none")
            if self.get("sleeve length") != "sleeveless":
                self.put("sleeve length", "sleeveless")
                self.data["sleeve"]["type"] = "none"
        else:
            if self.get("neckline") == "none":
                self.put("neckline", NECKLINES_BY_CATEGORY[category][0])
            if self.get("sleeve length") not in SLEEVE_LENGTHS_BY_CATEGORY[category] and self.get("sleeve length") == "sleeveless":
                self.set_term("sleeve length", SLEEVE_LENGTHS_BY_CATEGORY[category][-1])
        if self.get("closure") not in CLOSURES_BY_CATEGORY[category]:
            self.put("closure", CLOSURES_BY_CATEGORY[category][0])
        if self.get("fabric type") not in FABRICS_BY_CATEGORY[category]:
            self.set_term("fabric type", FABRICS_BY_CATEGORY[category][0])
        sleeveless = self.get("sleeve length") == "sleeveless" and self.part != "lower"
        for detail in [d for d in self.data["details"] if not detail_fits(d, category, sleeveless)]:
            self.remove_detail(detail, f" ({garment(category)} {_has(category)} none)")

    def shade(self, amount: float) -> None:
        """Every colour lighter (+) or darker (-) in Lab lightness; names say which way they went."""
        shift = SHADE_STEP * amount
        moved = False
        for colour in self.data["palette"]:
            light, a, b = hex_to_lab(colour["hex"])
            # stop short of pure black and white, and never move the wrong way from beyond them
            target = min(light + shift, max(light, 98.0)) if shift > 0 else max(light + shift, min(light, 2.0))
            new_hex = lab_to_hex(target, a, b)
            if abs(target - light) < 0.5 or new_hex == colour["hex"]:
                continue
            new_name = shade_name(colour["name"], lighter=shift > 0)
            self.changes.append(f"palette: {colour['name']} {colour['hex']} → {new_name} {new_hex}")
            colour["hex"], colour["name"] = new_hex, new_name
            moved = True
        if not moved:
            self.changes.append(f"palette: already as {'light' if shift > 0 else 'dark'} as it goes (unchanged)")

    def set_main_colour(self, name: str, hex_color: str) -> None:
        """The named colour becomes the main one: moved to the front with the largest share if the
        palette has it, otherwise it takes the main colour's place."""
        palette = self.data["palette"]
        main = max(range(len(palette)), key=lambda i: palette[i]["share"])
        existing = next((i for i, c in enumerate(palette) if c["name"].lower() == name.lower()), None)
        old_name = palette[main]["name"]
        if existing == main:
            self.changes.append(f"main colour: already {name}")
            return
        if existing is None:
            palette[main] = {**palette[main], "name": name, "hex": hex_color}
        else:
            palette[main]["share"], palette[existing]["share"] = palette[existing]["share"], palette[main]["share"]
        palette.sort(key=lambda c: -c["share"])
        self.changes.append(f"main colour: {old_name} → {name}")

    def set_print(self, print_type: str, motif: str) -> None:
        self.put("print type", print_type)
        self.data["print"]["motif"] = motif[:120] if print_type != "solid" else ""

    def add_detail(self, detail: str) -> None:
        details = self.data["details"]
        if detail in details:
            self.changes.append(f"details: already has {detail}")
            return
        sleeveless = self.get("sleeve length") == "sleeveless"
        if not detail_fits(detail, self.category, sleeveless):
            where = f"a sleeveless {self.category}" if sleeveless and detail == "cuffs" else garment(self.category)
            raise self.error(f"{detail} cannot go on {where}")
        if len(details) >= 8:
            raise self.error(f"a design has at most 8 details and this one has {len(details)}; remove one first")
        details.append(detail)
        self.changes.append(f"details: added {detail}")

    def add_pockets(self) -> None:
        present = [d for d in self.data["details"] if d in POCKET_DETAILS]
        if present:
            self.changes.append(f"details: already has {', '.join(present)}")
            return
        self.add_detail(pocket_for(self.category))

    def add_sleeves(self) -> None:
        if self.get("sleeve length") != "sleeveless":
            self.changes.append(f"sleeve length: already {self.get('sleeve length')}")
            return
        self.set_term("sleeve length", "long")

    def remove_detail(self, detail: str, note: str = "") -> None:
        if detail not in self.data["details"]:
            self.changes.append(f"details: has no {detail} to remove")
            return
        self.data["details"].remove(detail)
        self.changes.append(f"details: removed {detail}{note}")

    def remove_pockets(self) -> None:
        present = [d for d in self.data["details"] if d in POCKET_DETAILS]
        if not present:
            self.changes.append("details: has no pockets to remove")
        for detail in present:
            self.remove_detail(detail)

    def remove_hood(self) -> None:
        if "hood" in self.data["details"]:
            self.remove_detail("hood")
        elif self.get("neckline") == "hooded":
            self.put("neckline", next(n for n in (*NECKLINES_BY_CATEGORY[self.category], "stand-collar") if n != "hooded"))
        else:
            self.changes.append("details: has no hood to remove")

    def clear_details(self) -> None:
        if not self.data["details"]:
            self.changes.append("details: already none")
        for detail in list(self.data["details"]):
            self.remove_detail(detail)


@functools.lru_cache(maxsize=None)
def _length_fits(category: str, length: str) -> bool:
    """The spec's own rule, asked of the spec: does a design of this category validate at this length?"""
    probe = {"category": category, "length": length, "palette": [{"hex": "#000000", "name": "probe", "share": 1.0}]}
    try:
        DesignSpec.model_validate(probe)
    except ValueError:
        return False
    return True


def garment(category: str) -> str:
    """'a skirt', but 'trousers': the words a sentence about the garment needs."""
    return category if category in _PLURAL_GARMENTS else f"a {category}"


def _has(category: str) -> str:
    return "have" if category in _PLURAL_GARMENTS else "has"


_PLURAL_GARMENTS = frozenset(("trousers", "jeans", "shorts", "culottes", "joggers", "leggings"))


def _nearest(length: str, allowed: Sequence[str]) -> str:
    position = vocab.LENGTHS.index(length)
    return min(allowed, key=lambda value: abs(vocab.LENGTHS.index(value) - position))


def shade_name(name: str, lighter: bool) -> str:
    """'Persimmon' darker is 'Persimmon (deep)'; 'Persimmon (deep)' lighter is 'Persimmon' again."""
    base, suffix = name, ""
    for candidate in (DEEP, LIGHT):
        if name.endswith(candidate):
            base, suffix = name[: -len(candidate)], candidate
    wanted = LIGHT if lighter else DEEP
    if suffix and suffix != wanted:
        return base
    return base[: 60 - len(wanted)] + wanted
