"""DesignSpec: one garment, described in the shared vocabulary.

A spec is what every fashion artifact is made from: the technical flat, the print, the
prompt for a diffusion look, the lookbook page. It is plain data (JSON in and out, with a
JSON Schema from `design_spec_schema()`), so a designer can edit one by hand.

    spec = DesignSpec.model_validate_json(text)      # errors name the field and the allowed words
    DesignSpec.from_data(data, source="look-03.json")  # the same, as a DesignSpecError with one line a problem
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.fashion import vocabulary as vocab
from pipelines.style import NamedColor
from pipelines.validation import describe_validation_error


def _term(kind: str):
    """A field that accepts 'A-Line' for 'a-line' and answers a typo with the nearest word."""
    allowed = vocab.VOCABULARY[kind]

    def check(value: Any) -> Any:
        return vocab.check_term(kind, value) if isinstance(value, str) else value

    return Annotated[Literal[allowed], BeforeValidator(check)]


Category = _term("category")
Silhouette = _term("silhouette")
Fit = _term("fit")
Length = _term("length")
Neckline = _term("neckline")
SleeveLength = _term("sleeve length")
SleeveType = _term("sleeve type")
Closure = _term("closure")
Detail = _term("detail")
FabricType = _term("fabric type")
FabricFinish = _term("fabric finish")
PrintType = _term("print type")
PrintScale = _term("print scale")
PrintRepeat = _term("print repeat")
Season = _term("season")
Occasion = _term("occasion")


class DesignSpecError(ValueError):
    """An invalid spec; one line a problem, each naming the field."""


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sleeve(SpecModel):
    length: SleeveLength = "long"
    type: SleeveType = "set-in"

    @model_validator(mode="after")
    def _sleeveless_has_no_type(self) -> Sleeve:
        if self.length == "sleeveless":
            self.type = "none"
        return self


class Fabric(SpecModel):
    type: FabricType = "cotton"
    finish: FabricFinish = "matte"


class Print(SpecModel):
    type: PrintType = "solid"
    motif: str = Field(default="", max_length=120, description="what the print shows, in the brief's words")
    scale: PrintScale = "medium"
    repeat: PrintRepeat = "block"


class PaletteColor(NamedColor):
    """One of the garment's colours and its share of the surface."""

    share: float = Field(gt=0, le=1, description="share of the garment's surface")


class Layers(SpecModel):
    """What is worn with it in a look: the categories of the other layers (None: nothing)."""

    upper: Category | None = None
    lower: Category | None = None
    outer: Category | None = None


class Provenance(SpecModel):
    """How the design was made, so it can be made again."""

    backend: str = "procedural"
    model: str = ""
    lora: str = ""
    seed: int = Field(default=0, ge=0, lt=2**32)
    steps: int = Field(default=0, ge=0)


class DesignSpec(SpecModel):
    id: str = Field(default="design", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    name: str = Field(default="Untitled", min_length=1, max_length=80)
    category: Category
    silhouette: Silhouette = "straight"
    fit: Fit = "regular"
    length: Length | None = Field(default=None, description="unset: the usual length for the category (hip for tops and jackets, knee otherwise)")
    neckline: Neckline = "crew"
    sleeve: Sleeve = Sleeve()
    closure: Closure = "none"
    details: list[Detail] = Field(default=[], max_length=8)
    fabric: Fabric = Fabric()
    print: Print = Print()
    palette: list[PaletteColor] = Field(min_length=1, max_length=8)
    layers: Layers = Layers()
    concept: list[str] = Field(default=[], max_length=12, description="the brief's keywords this design answers")
    season: Season = "all-season"
    occasion: Occasion = "everyday"
    provenance: Provenance = Provenance()

    @field_validator("details")
    @classmethod
    def _unique_details(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check_whole(self) -> DesignSpec:
        total = sum(color.share for color in self.palette)
        if abs(total - 1.0) > 0.02:
            raise ValueError(f"palette shares must add up to 1, they add up to {total:.3f}")
        part = vocab.body_part(self.category)
        if self.length is None:
            self.length = "hip" if part in ("upper", "outer") else "knee"
        upper_lengths = ("cropped", "waist", "hip", "tunic", "knee", "midi", "ankle", "floor") if part == "outer" else ("cropped", "waist", "hip", "tunic")
        if part in ("upper", "outer") and self.length not in upper_lengths:
            raise ValueError(f"length {self.length!r} does not fit a {self.category}; use one of: {', '.join(upper_lengths)}")
        if part in ("lower", "full") and self.length in ("cropped", "waist", "hip", "tunic") and self.category not in ("shorts",):
            raise ValueError(f"length {self.length!r} does not fit a {self.category}; use mini, above-knee, knee, midi, ankle or floor")
        if part == "lower" and (self.neckline != "none" or self.sleeve.length != "sleeveless"):
            # trousers and skirts have neither: normalise rather than refuse, so a generic spec still validates
            self.neckline, self.sleeve = "none", Sleeve(length="sleeveless")
        elif self.sleeve.type == "none" and self.sleeve.length != "sleeveless":
            raise ValueError(f"sleeve: a {self.sleeve.length} sleeve needs a type other than 'none'")
        return self

    @classmethod
    def from_data(cls, data: Any, source: str = "design spec") -> DesignSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise DesignSpecError(describe_validation_error(error, source)) from None

    @property
    def body_part(self) -> str:
        return vocab.body_part(self.category)

    def with_provenance(self, **fields: Any) -> DesignSpec:
        return self.model_copy(update={"provenance": self.provenance.model_copy(update=fields)})


def design_spec_schema() -> dict[str, Any]:
    return DesignSpec.model_json_schema()
