"""Fashion settings: which diffusion model to load, when one is configured. Without one,
designs come from the embedded renderers (flats, prints) and need no model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipelines.fashion.diffusion import DiffusionDesigner


class DiffusionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_dir: Path = Field(description="a local diffusers folder (model_index.json inside)")
    architecture: Literal["sdxl", "sdxl-turbo", "flux"] = "sdxl"
    model_name: str | None = Field(default=None, description="the name written into image metadata; default: the folder's name")
    controlnet_dir: Path | None = Field(default=None, description="a ControlNet that turns technical flats into looks")
    ip_adapter_dir: Path | None = Field(default=None, description="an IP-Adapter that steers looks toward her reference image")
    ip_adapter_weight_name: str | None = None
    ip_adapter_scale: float = Field(default=0.6, ge=0, le=2)
    device: str | None = Field(default=None, description="default: cuda when present, else cpu")
    dtype: Literal["float16", "bfloat16", "float32"] | None = Field(default=None, description="default: float16 on cuda, float32 on cpu")
    attention: Literal["sdpa", "xformers"] | None = Field(default=None, description="default: xformers only when CUDA and xformers are both present")

    def folder_problems(self) -> list[tuple[str, str]]:
        """(setting, what is wrong) for each configured folder that is missing or not a model folder;
        cheap (diffusers is not imported), so commands check before anything loads."""
        from pipelines.model_folder import folder_problem

        checks = [
            ("fashion.diffusion.model_dir", self.model_dir, "diffusion model", "diffusers pipeline folder", ("model_index.json",),
             f"a local diffusers folder of an {self.architecture} model (model_index.json inside)"),
            ("fashion.diffusion.controlnet_dir", self.controlnet_dir, "ControlNet", "ControlNet folder", ("config.json",),
             f"a local ControlNet folder (config.json and weights) for {self.architecture}, or unset it"),
            ("fashion.diffusion.ip_adapter_dir", self.ip_adapter_dir, "IP-Adapter", "IP-Adapter folder", (),
             "a local IP-Adapter folder, or unset it"),
        ]
        problems = [(setting, folder_problem(folder, setting, model, layout, markers, expected))
                    for setting, folder, model, layout, markers, expected in checks if folder is not None]
        return [(setting, problem) for setting, problem in problems if problem]

    def load(self) -> DiffusionDesigner:
        """Load the model (diffusers is imported only now: it is an optional dependency)."""
        from pipelines.fashion.diffusion import DiffusionDesigner

        return DiffusionDesigner.from_pretrained(
            self.model_dir,
            self.architecture,
            controlnet_dir=self.controlnet_dir,
            ip_adapter_dir=self.ip_adapter_dir,
            ip_adapter_weight_name=self.ip_adapter_weight_name,
            ip_adapter_scale=self.ip_adapter_scale,
            device=self.device,
            dtype=self.dtype,
            attention=self.attention,
            model_name=self.model_name,
        )


class FashionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diffusion: DiffusionConfig | None = Field(default=None, description="unset: no diffusion looks; flats and prints need no model")
