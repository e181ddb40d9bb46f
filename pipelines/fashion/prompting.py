"""Prompts for diffusion models, written from a DesignSpec and the persona's visual identity.

    prompt, negative = look_prompt(spec, persona.visual)                 # a fashion photograph
    prompt, negative = look_prompt(spec, persona.visual, kind="print")   # a flat, seamless textile pattern
    text = a1111_parameters(prompt, negative, 30, "Euler", 7, 1, (1024, 1024), "sdxl-base")

CLIP reads at most 77 tokens (75 after its start and end tokens) and silently drops the
rest, so a prompt is built from fragments in order of importance and a fragment is kept only
while the whole still fits. The LoRA trigger word and the garment itself always stay; the
photographic finish goes first. Earlier tokens also weigh more in CLIP, which is one more
reason to put the garment before the mood.

Token counts come from the model's own tokenizer when the caller passes one
(`count_tokens=lambda text: len(tokenizer.tokenize(text))`); otherwise `estimate_clip_tokens`
over-counts a little, so the estimate errs on the side of fitting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Literal

from pipelines.fashion.spec import DesignSpec
from pipelines.style import VisualIdentity

PromptKind = Literal["look", "print", "flat"]

CLIP_TOKEN_BUDGET = 75  # 77 positions minus the start and end tokens

# CLIP's pre-tokeniser splits text into words, single digits and runs of punctuation.
_CLIP_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE)

# What a length reads as in a photographer's words.
_LENGTH_WORDS = {
    "cropped": "cropped", "waist": "waist-length", "hip": "hip-length", "tunic": "tunic-length",
    "mini": "mini", "above-knee": "above-knee", "knee": "knee-length", "midi": "midi",
    "ankle": "ankle-length", "floor": "floor-length",
}
_NECKLINE_WORDS = {
    "turtleneck": "turtleneck", "mock-neck": "mock neck", "collared": "pointed collar",
    "lapel": "notched lapels", "stand-collar": "stand collar", "hooded": "hood",
}
_CLOSURE_WORDS = {
    "button-front": "button front", "zip-front": "front zip", "zip-back": "back zip",
    "wrap-tie": "wrap tie closure", "snap-front": "snap front", "toggle": "toggle fastening",
    "hook-and-eye": "hook-and-eye closure", "drawstring": "drawstring", "side-zip": "side zip",
    "fly-zip": "zip fly",
}

# Garments named in the plural take no article ("worn with trousers").
_PLURAL_CATEGORIES = {"trousers", "jeans", "shorts", "culottes", "joggers", "leggings"}

# Negatives each kind needs whatever the persona says; the persona's own come next.
_KIND_NEGATIVES: dict[str, tuple[str, ...]] = {
    "look": ("deformed garment", "bad anatomy", "extra limbs", "cropped out of frame"),
    "print": ("person", "model", "garment", "seams", "border", "frame", "vignette", "perspective", "shadow"),
    "flat": ("person", "model", "mannequin", "photo", "shading", "gradient", "colour fill", "texture"),
}
_QUALITY_NEGATIVES = ("low quality", "blurry", "jpeg artifacts", "watermark", "text", "logo")


def estimate_clip_tokens(text: str) -> int:
    """A slight over-estimate of CLIP's token count, for when no tokenizer is at hand.

    Short common words are one CLIP token; longer and rarer ones split into pieces, so a
    word counts one more token for every started five letters beyond the sixth. Each
    punctuation mark is a token, and characters outside ASCII are several byte-level tokens.
    """
    count = 0
    for piece in _CLIP_PIECES.findall(text.lower()):
        if not piece.isascii():
            count += 2 * len(piece)
        elif piece[0].isalpha():
            count += 1 + (max(0, len(piece) - 6) + 4) // 5
        else:
            count += len(piece)
    return count


def look_prompt(
    spec: DesignSpec,
    visual: VisualIdentity,
    kind: PromptKind = "look",
    *,
    budget: int = CLIP_TOKEN_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[str, str]:
    """(prompt, negative prompt) for one garment, each within `budget` tokens.

    kind "look": a fashion photograph of the garment worn, in the persona's aesthetic.
    kind "print": the garment's print as a flat, seamless textile pattern.
    kind "flat": a technical flat drawing (line art, no colour, no model, no LoRA trigger).
    """
    if kind not in _KIND_NEGATIVES:
        raise ValueError(f"unknown prompt kind {kind!r}; expected one of: look, print, flat")
    count = count_tokens or estimate_clip_tokens
    if kind == "look":
        required, optional = _look_fragments(spec, visual)
    elif kind == "print":
        required, optional = _print_fragments(spec, visual)
    else:
        required, optional = _flat_fragments(spec)
    prompt = _fit(required, optional, budget, count)
    negatives = [*_KIND_NEGATIVES[kind], *_split_list(visual.negative_prompt), *_QUALITY_NEGATIVES]
    negative = _fit([], _unique(negatives), budget, count)
    return prompt, negative


def _look_fragments(spec: DesignSpec, visual: VisualIdentity) -> tuple[list[str], list[str]]:
    colours = _colour_names(spec)
    garment = " ".join(
        word for word in (
            _join_and(colours[:2]),
            spec.fabric.finish,
            spec.fabric.type,
            _fit_word(spec),
            spec.silhouette,
            _LENGTH_WORDS[spec.length],
            spec.category,
        ) if word
    )
    subject = f"fashion photograph of {_article(garment)} {garment}"
    aesthetic = visual.aesthetic[:2]
    optional = [
        _print_phrase(spec),
        *_parts(spec),
        *aesthetic[:1],
        *_details(spec),
        *(f"{name} accents" for name in colours[2:3]),
        *_layers(spec),
        *aesthetic[1:],
        _occasion(spec),
        *spec.concept,
        "full-length editorial shot",
        "soft natural light",
        "high detail",
    ]
    return [*_trigger(visual), subject], [fragment for fragment in optional if fragment]


def _print_fragments(spec: DesignSpec, visual: VisualIdentity) -> tuple[list[str], list[str]]:
    colours = _colour_names(spec)
    if spec.print.type == "solid":
        subject = f"seamless {spec.fabric.finish} {spec.fabric.type} fabric texture in {_join_and(colours[:2])}"
        optional = [*(f"{name} accents" for name in colours[2:3])]
    else:
        motif = spec.print.motif or (visual.motifs[0] if visual.motifs else "")
        subject = f"seamless repeating textile pattern, {spec.print.type} print" + (f" of {motif}" if motif else "")
        optional = [
            f"{_join_and(colours[:3])} palette",
            f"{spec.print.scale} scale motifs",
            f"{spec.print.repeat} repeat",
            f"printed on {spec.fabric.type}",
        ]
    optional += [
        "flat fabric swatch seen from above",
        *visual.aesthetic[:2],
        *spec.concept,
        "even lighting",
        "high detail",
    ]
    return [*_trigger(visual), subject], optional


def _flat_fragments(spec: DesignSpec) -> tuple[list[str], list[str]]:
    garment = " ".join(word for word in (_fit_word(spec), spec.silhouette, _LENGTH_WORDS[spec.length], spec.category) if word)
    subject = f"technical fashion flat drawing of {_article(garment)} {garment}, front view"
    optional = [*_parts(spec), *_details(spec), "clean black outlines on white", "no model", "vector line art"]
    return [subject], optional


def _trigger(visual: VisualIdentity) -> list[str]:
    return [visual.lora.trigger] if visual.lora and visual.lora.trigger else []


def _colour_names(spec: DesignSpec) -> list[str]:
    """Colour names, largest share first; names, because CLIP knows words, not hex codes."""
    return [color.name.lower() for color in sorted(spec.palette, key=lambda color: -color.share)]


def _fit_word(spec: DesignSpec) -> str:
    return "" if spec.fit == "regular" or spec.fit == spec.silhouette else spec.fit


def _print_phrase(spec: DesignSpec) -> str:
    if spec.print.type == "solid":
        return ""
    motif = f" of {spec.print.motif}" if spec.print.motif else ""
    return f"{spec.print.scale} {spec.print.type} print{motif}"


def _parts(spec: DesignSpec) -> list[str]:
    """Neckline, sleeves and closure: what a designer checks first after the shape."""
    parts = []
    if spec.neckline != "none":
        parts.append(_NECKLINE_WORDS.get(spec.neckline, f"{spec.neckline.replace('-', ' ')} neckline"))
    if spec.body_part != "lower":
        if spec.sleeve.length == "sleeveless":
            parts.append("sleeveless")
        else:
            sleeve_type = "" if spec.sleeve.type == "set-in" else f" {spec.sleeve.type}"
            parts.append(f"{spec.sleeve.length}{sleeve_type} sleeves")
    if spec.closure not in ("none", "pullover"):
        parts.append(_CLOSURE_WORDS.get(spec.closure, spec.closure.replace("-", " ")))
    return parts


def _details(spec: DesignSpec) -> list[str]:
    return [detail.replace("-", " ") for detail in spec.details]


def _layers(spec: DesignSpec) -> list[str]:
    worn_with = [category for category in (spec.layers.outer, spec.layers.upper, spec.layers.lower) if category and category != spec.category]
    if not worn_with:
        return []
    return ["worn with " + _join_and([category if category in _PLURAL_CATEGORIES else f"{_article(category)} {category}" for category in worn_with])]


def _occasion(spec: DesignSpec) -> str:
    season = "" if spec.season == "all-season" else f"{spec.season} "
    return f"{season}{spec.occasion} look"


def _fit(required: list[str], optional: list[str], budget: int, count: Callable[[str], int]) -> str:
    """Required fragments, then each optional one, in order, while the whole still fits."""
    chosen = list(required)
    for fragment in optional:
        if count(", ".join([*chosen, fragment])) <= budget:
            chosen.append(fragment)
    return ", ".join(chosen)


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            unique.append(item)
    return unique


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _join_and(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def a1111_parameters(
    prompt: str,
    negative: str,
    steps: int,
    sampler: str,
    cfg: float,
    seed: int,
    size: tuple[int, int],
    model: str,
    extra: Mapping[str, object] | None = None,
) -> str:
    """The "parameters" text that AUTOMATIC1111's web UI writes into a PNG, and that it and
    other tools (ComfyUI, Civitai, image viewers) read back:

        <prompt>
        Negative prompt: <negative>
        Steps: 30, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 1024x1024, Model: sdxl-base

    `size` is (width, height). `extra` adds settings after Model, such as
    {"Denoising strength": 0.6}. As in A1111, the negative line is left out when empty and a
    value with a comma, colon or newline is written as a JSON string.
    """
    width, height = size
    settings: dict[str, object] = {
        "Steps": steps,
        "Sampler": sampler,
        "CFG scale": _number(cfg),
        "Seed": seed,
        "Size": f"{width}x{height}",
        "Model": model,
        **(extra or {}),
    }
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(", ".join(f"{key}: {_quote(_number(value))}" for key, value in settings.items()))
    return "\n".join(lines)


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _quote(text: str) -> str:
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)
