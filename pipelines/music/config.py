"""Music settings: the soundfont stems are rendered with and, when configured, the MusicGen
model that adds generated audio stems."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipelines.music.musicgen import MusicgenRenderer


class MusicgenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_dir: Path = Field(description="a local MusicGen-melody folder (transformers format)")
    model_name: str | None = Field(default=None, description="the name written into the manifest; default: the folder's name")
    licence: str = Field(default="CC-BY-NC-4.0", description="the weights' licence, recorded per stem; non-commercial licences block commercial exports")
    device: str | None = Field(default=None, description="default: cuda when present, else cpu")
    dtype: Literal["float16", "bfloat16", "float32"] | None = Field(default=None, description="default: float16 on cuda, float32 on cpu")
    guidance_scale: float = Field(default=3.0, ge=1.0, le=20.0, description="classifier-free guidance; 3 is MusicGen's own default, 1 turns it off")
    top_k: int = Field(default=250, ge=1, description="sample from the k likeliest codes at each step (MusicGen's default)")
    temperature: float = Field(default=1.0, gt=0.0, le=5.0)
    max_seconds_per_call: float = Field(
        default=30.0, ge=2.0, le=30.0,
        description="the longest window one generate() call makes; MusicGen was trained on 30 s and drifts beyond",
    )
    stem_lufs: float = Field(
        default=-18.0, ge=-40.0, le=-6.0,
        description="integrated loudness of the generated stem: below the -14 LUFS master, since it is summed with the rendered parts",
    )

    def refuse_commercial_use(self) -> None:
        """Raise LicenceError when these weights cannot go into a commercial export: checked
        before the model is loaded, so no generation time is spent on a stem to be refused."""
        from pipelines.music.bundle import refuse_non_commercial

        refuse_non_commercial([(f"the MusicGen stem ({self.model_dir.name})", self.licence)])

    def folder_problems(self) -> list[tuple[str, str]]:
        """(setting, what is wrong) when model_dir is missing or not a model folder; cheap (nothing
        is imported or read), so commands check before anything loads."""
        from pipelines.model_folder import folder_problem

        problem = folder_problem(self.model_dir, "music.musicgen.model_dir", "MusicGen model", "transformers model folder", ("config.json",),
                                 "a local MusicGen-melody folder (transformers format: config.json and weights), or unset music.musicgen")
        return [("music.musicgen.model_dir", problem)] if problem else []

    def load(self) -> MusicgenRenderer:
        """Load the model (torch and transformers are imported only now)."""
        from pipelines.music.musicgen import MusicgenRenderer

        return MusicgenRenderer.from_config(self)


class MusicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    soundfont: Path | None = Field(default=None, description="a General MIDI .sf2; unset: the Debian soundfonts, else the built-in synth")
    musicgen: MusicgenConfig | None = Field(default=None, description="unset: stems come from the soundfont only")
