"""A dialogue model as the designer: it drafts candidate DesignSpecs under a JSON schema.

A dialogue backend that can answer under a JSON schema is asked for a few batches of a few
designs, with the brief, the persona's fashion DNA and one procedural candidate as an example
of the form. Slips with one obvious fix are mended, anything else invalid is dropped with the
reason logged, and the procedural designer (brief.py) fills every gap, so a brief always gets
``brief.n`` candidates.

    specs = await LLMDesigner(backend, card.fashion, card.visual).design(brief)
    specs = await design_candidates(brief, card.fashion, card.visual, backend)  # procedural without a capable backend
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.dialogue import ChatMessage, DialogueBackend, DialogueError, GenerationParams
from pipelines.fashion import vocabulary as vocab
from pipelines.fashion.brief import BriefPlan, DesignBrief, ProceduralDesigner, candidate_seed
from pipelines.fashion.garments import LENGTHS_BY_CATEGORY
from pipelines.fashion.spec import DesignSpec
from pipelines.style import HEX_COLOR, FashionDNA, VisualIdentity

log = logging.getLogger(__name__)

MAX_MODEL_BATCH = 8


class CandidateBatch(BaseModel):
    """What the model answers: a batch of designs in the spec's vocabulary."""

    model_config = ConfigDict(extra="forbid")

    designs: list[DesignSpec] = Field(min_length=1, max_length=MAX_MODEL_BATCH)


def candidate_batch_schema() -> dict[str, Any]:
    """The JSON schema the model answers under: DesignSpec's vocabulary enums, without the
    fields the designer fills in itself (id, provenance), colours as '#RRGGBB' and short concepts."""
    schema = CandidateBatch.model_json_schema()
    spec = schema["$defs"]["DesignSpec"]
    for own in ("id", "provenance"):
        spec["properties"].pop(own, None)
    schema["$defs"].pop("Provenance", None)
    schema["$defs"]["PaletteColor"]["properties"]["hex"]["pattern"] = HEX_COLOR.pattern
    spec["properties"]["concept"].update(maxItems=6, items={"type": "string", "maxLength": 40})  # keywords, not essays
    return schema


CANDIDATE_SCHEMA = candidate_batch_schema()
INSTRUCTIONS = (
    "You are a fashion designer. Answer a brief with garment designs for the label whose style is described, "
    "in JSON: {\"designs\": [...]}. Use only the words the schema allows. Each design answers the brief and "
    "keeps to the label's silhouettes, fabrics, details, palette and motifs; vary garment, shape and colour "
    "between designs. A design's palette shares add up to 1."
)


class LLMDesigner:
    """Candidates drafted by a dialogue model under a JSON schema, a few batches of a few designs.
    Invalid drafts are dropped with the reason logged, a failed request drafts nothing, and the
    procedural designer fills every gap, so ``brief.n`` candidates always come back."""

    def __init__(self, backend: DialogueBackend, fashion: FashionDNA, visual: VisualIdentity, *,
                 max_designs: int = 16, batch_size: int = 4, timeout_s: float = 120.0, temperature: float = 0.8):
        if not backend.supports_json_schema:
            raise DialogueError(f"the {backend.name} backend cannot constrain a reply to a JSON schema")
        if not 1 <= batch_size <= MAX_MODEL_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_MODEL_BATCH}, got {batch_size}")
        self.backend = backend
        self.fashion, self.visual = fashion, visual
        self.procedural = ProceduralDesigner(fashion, visual)
        self.max_designs = max_designs
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.temperature = temperature

    def messages(self, brief: DesignBrief, count: int) -> list[ChatMessage]:
        example = self.procedural.candidate(brief, 0).model_dump(mode="json", exclude={"id", "provenance"})
        constraints = brief.constraints
        lines = [
            f"Brief: {brief.text}",
            f"Keywords: {', '.join(brief.keywords) or '(none)'}",
            *([f"Only these garments: {', '.join(constraints.categories)}"] if constraints.categories else []),
            *([f"Season: {constraints.season}"] if constraints.season else []),
            *([f"Occasion: {constraints.occasion}"] if constraints.occasion else []),
            "The label's style:",
            f"- silhouettes: {'; '.join(self.fashion.silhouettes) or '(open)'}",
            f"- fabrics: {'; '.join(self.fashion.fabrics) or '(open)'}",
            f"- signature details: {'; '.join(self.fashion.signature_details) or '(open)'}",
            f"- palette: {', '.join(f'{c.name} {c.hex}' for c in self.visual.palette)}",
            f"- motifs: {'; '.join(self.visual.motifs) or '(open)'}",
            f"- aesthetic: {'; '.join(self.visual.aesthetic) or '(open)'}",
            f"One design in this form: {json.dumps(example, ensure_ascii=False)}",
            f"Now answer with {count} new designs.",
        ]
        return [ChatMessage(role="system", content=INSTRUCTIONS), ChatMessage(role="user", content="\n".join(lines))]

    def params(self, brief: DesignBrief, request: int, count: int) -> GenerationParams:
        return GenerationParams(max_tokens=min(32768, 450 * count), temperature=self.temperature, top_p=0.95,
                                seed=request_seed(brief.seed, request), json_schema=CANDIDATE_SCHEMA)

    def parse(self, reply: str, brief: DesignBrief) -> list[DesignSpec]:
        """The valid designs of a reply; invalid ones are logged and dropped. Raises ValueError
        when the reply is not a batch of designs at all."""
        designs = []
        for position, item in enumerate(designs_in_reply(reply)):
            try:
                designs.append(self._checked(item, brief))
            except ValueError as error:
                log.info("dropped model design %d: %s", position, str(error).replace("\n", "; "))
        return designs

    def _checked(self, item: Any, brief: DesignBrief) -> DesignSpec:
        if not isinstance(item, dict):
            raise ValueError(f"expected a design object, got {type(item).__name__}")
        item = {key: value for key, value in item.items() if key not in ("id", "provenance")}
        spec = DesignSpec.from_data(_repaired(item), source="model design")
        allowed = brief.constraints.categories
        if allowed and spec.category not in allowed:
            raise ValueError(f"category {spec.category!r} is outside the brief's {', '.join(allowed)}")
        for kind in ("season", "occasion"):
            wanted = getattr(brief.constraints, kind)
            if wanted and getattr(spec, kind) != wanted:
                raise ValueError(f"{kind} {getattr(spec, kind)!r} is not the brief's {wanted!r}")
        return spec

    async def design(self, brief: DesignBrief | str | Sequence[str]) -> list[DesignSpec]:
        brief = DesignBrief.of(brief)
        wanted = min(brief.n, self.max_designs)
        counts = [min(self.batch_size, wanted - start) for start in range(0, wanted, self.batch_size)]
        batches = await asyncio.gather(*(self._draft(brief, request, count) for request, count in enumerate(counts)))
        drafted = [spec for batch in batches for spec in batch][:wanted]
        if len(drafted) < brief.n:
            log.info("the model drafted %d of %d designs; the procedural designer makes the rest", len(drafted), brief.n)
        plan = self.procedural.plan(brief)
        rest = await asyncio.to_thread(lambda: [self.procedural.compose(plan, i) for i in range(len(drafted), brief.n)])
        return [self._finished(spec, plan, i) for i, spec in enumerate(drafted)] + rest

    async def _draft(self, brief: DesignBrief, request: int, count: int) -> list[DesignSpec]:
        try:
            reply, _ = await asyncio.wait_for(self.backend.complete(self.messages(brief, count), self.params(brief, request, count)), self.timeout_s)
            return self.parse(reply, brief)[:count]
        except (DialogueError, ValueError, TimeoutError, asyncio.TimeoutError) as error:
            log.warning("model design request failed (%s); the procedural designer fills in", error)
            return []

    def _finished(self, spec: DesignSpec, plan: BriefPlan, index: int) -> DesignSpec:
        update: dict[str, Any] = {"id": f"{plan.slug}-{index + 1:04d}"}
        if not spec.concept:
            update["concept"] = plan.brief.keywords[:12]
        finished = spec.model_copy(update=update)
        return finished.with_provenance(backend="llm", model=model_name(self.backend), seed=candidate_seed(plan.brief.seed, index))


def model_name(backend: DialogueBackend) -> str:
    """The model that drafted a design ('smollm2', 'EXAONE-3.5-7.8B-Instruct') where the backend
    names one as text, otherwise the backend's own name."""
    served = getattr(backend, "model", None)
    return served if isinstance(served, str) and served else backend.name


def designs_in_reply(reply: str) -> list[Any]:
    """The reply's 'designs' list. A reply cut off by the token limit is not JSON, but the
    designs before the cut are whole: those are kept. Raises ValueError when there are none."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as error:
        whole = _whole_designs_before_the_cut(reply)
        if not whole:
            raise ValueError(f"the design reply is not JSON: {error.msg} ({reply[:120]!r})") from None
        log.info("the design reply was cut off; keeping the %d designs before the cut", len(whole))
        return whole
    if not isinstance(data, dict) or not isinstance(data.get("designs"), list):
        raise ValueError(f"the design reply has no 'designs' list ({reply[:120]!r})")
    return data["designs"]


def _whole_designs_before_the_cut(reply: str) -> list[Any]:
    start = re.match(r'\s*\{\s*"designs"\s*:\s*\[', reply)
    if start is None:
        return []
    decoder, position, designs = json.JSONDecoder(), start.end(), []
    while True:
        position = len(reply) - len(reply[position:].lstrip())
        try:
            design, position = decoder.raw_decode(reply, position)
        except json.JSONDecodeError:
            return designs
        designs.append(design)
        position = len(reply) - len(reply[position:].lstrip())
        if not reply.startswith(",", position):
            return designs
        position += 1


def _repaired(item: dict[str, Any]) -> dict[str, Any]:
    """Slips a model makes that have one obvious fix; anything else is left for validation to refuse.

    - palette shares that are all positive but do not add up to 1 are rescaled;
    - a length left out becomes one the garment usually has (the spec's default, 'hip', would not fit a skirt);
    - sleeves and a neckline on trousers or a skirt are dropped, as the spec itself would drop them.
    """
    item = dict(item)
    palette = item.get("palette")
    if isinstance(palette, list) and all(isinstance(c, dict) and isinstance(c.get("share"), (int, float)) for c in palette):
        total = sum(c["share"] for c in palette)
        if total > 0 and all(c["share"] > 0 for c in palette):
            item["palette"] = [{**c, "share": c["share"] / total} for c in palette]
    category = vocab.normalize(item["category"]) if isinstance(item.get("category"), str) else None
    if category in LENGTHS_BY_CATEGORY:
        lengths = LENGTHS_BY_CATEGORY[category]
        item.setdefault("length", lengths[len(lengths) // 2])
        if vocab.body_part(category) == "lower":
            item.pop("sleeve", None)
            item.pop("neckline", None)
    return item


def request_seed(brief_seed: int, request: int) -> int:
    """The sampling seed of the model's ``request``-th batch, so a brief asks the same way twice."""
    digest = hashlib.blake2b(f"{brief_seed}:request:{request}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


async def design_candidates(brief: DesignBrief | str | Sequence[str], fashion: FashionDNA, visual: VisualIdentity,
                            backend: DialogueBackend | None = None) -> list[DesignSpec]:
    """``brief.n`` candidates: drafted by ``backend`` when it can answer under a JSON schema,
    otherwise (and for whatever it cannot draft) by the procedural designer."""
    brief = DesignBrief.of(brief)
    if backend is not None and backend.supports_json_schema:
        return await LLMDesigner(backend, fashion, visual).design(brief)
    # Thousands of specs take a moment: keep the event loop free for chat meanwhile.
    return await asyncio.to_thread(ProceduralDesigner(fashion, visual).design, brief)
