"""Diffusion looks: a DesignSpec and the persona's visual identity in, an image and its record out.

The GPU backend of the fashion pipeline. One `DiffusionDesigner` holds one model family,
loaded once from a local diffusers folder (nothing is fetched from a model hub):

    designer = DiffusionDesigner.from_pretrained("/models/sdxl-base", "sdxl", controlnet_dir="/models/sdxl-lineart")
    look = designer.generate(spec, persona.visual, seed=7)                # text -> look
    look = designer.from_flat(spec, flat_png, persona.visual, seed=7)     # technical flat -> look (ControlNet)
    look = designer.edit(look.image, spec, persona.visual, mask=mask)     # inpaint (img2img without a mask)
    tile = designer.print_tile(spec, persona.visual, seed=7)              # seamless print
    look.image, look.record, look.spec                                    # PIL image, what made it, spec with provenance

Architectures: "sdxl" (guided, 30 steps, 1024²), "sdxl-turbo" (the same classes, distilled:
no guidance, 1-4 steps, 512²) and "flux" (FLUX.1, guidance embedded in the transformer).
Every mode reuses the loaded components: img2img, inpainting and ControlNet pipelines are
made with `from_pipe`, which shares the modules instead of loading them again, so a LoRA or
an IP-Adapter loaded once applies to all of them.

The persona's LoRA (`visual.lora`) is loaded on first use and switched off for calls without
one; her reference image (`visual.reference_images[0]`, or `reference=`) steers the look
through an IP-Adapter when one is configured. A call can report progress (step, total) and
be cancelled between steps; a cancelled call raises `Cancelled` instead of returning a
half-denoised image.
"""

from __future__ import annotations

import importlib
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import (
    ControlNetModel,
    DiffusionPipeline,
    FluxControlNetModel,
    FluxControlNetPipeline,
    FluxImg2ImgPipeline,
    FluxInpaintPipeline,
    FluxPipeline,
    StableDiffusionXLControlNetPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict

from pipelines.fashion.prompting import PromptKind, a1111_parameters, look_prompt
from pipelines.fashion.spec import DesignSpec
from pipelines.model_folder import read_model_folder
from pipelines.progress import CancelSignal, Cancelled, ProgressCallback, is_cancelled
from pipelines.style import LoraRef, VisualIdentity

Architecture = Literal["sdxl", "sdxl-turbo", "flux"]
Mode = Literal["text2img", "controlnet", "img2img", "inpaint"]
Attention = Literal["sdpa", "xformers"]


class DiffusionError(RuntimeError):
    """Something went wrong making a diffusion image."""


class DiffusionModelError(DiffusionError):
    """A model folder is missing, incomplete or of the wrong kind; the message says what to configure."""


@dataclass(frozen=True)
class ModelFamily:
    """The pipeline classes and defaults of one architecture."""

    text: type[DiffusionPipeline]
    img2img: type[DiffusionPipeline]
    inpaint: type[DiffusionPipeline]
    controlnet: type[DiffusionPipeline]
    controlnet_model: type[torch.nn.Module]
    denoiser: str  # the component that denoises: "unet" or "transformer"
    steps: int
    guidance: float
    size: int
    max_steps: int | None = None
    # FLUX is guidance-distilled: its guidance is an input of the transformer, not
    # classifier-free guidance, so a negative prompt has no effect.
    uses_negative_prompt: bool = True

    @property
    def components(self) -> tuple[str, ...]:
        return (self.denoiser, "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


_SDXL = dict(
    text=StableDiffusionXLPipeline,
    img2img=StableDiffusionXLImg2ImgPipeline,
    inpaint=StableDiffusionXLInpaintPipeline,
    controlnet=StableDiffusionXLControlNetPipeline,
    controlnet_model=ControlNetModel,
    denoiser="unet",
)
FAMILIES: dict[str, ModelFamily] = {
    "sdxl": ModelFamily(**_SDXL, steps=30, guidance=7.0, size=1024),
    "sdxl-turbo": ModelFamily(**_SDXL, steps=1, guidance=0.0, size=512, max_steps=4),
    "flux": ModelFamily(
        text=FluxPipeline,
        img2img=FluxImg2ImgPipeline,
        inpaint=FluxInpaintPipeline,
        controlnet=FluxControlNetPipeline,
        controlnet_model=FluxControlNetModel,
        denoiser="transformer",
        steps=28,
        guidance=3.5,
        size=1024,
        uses_negative_prompt=False,
    ),
}

# Scheduler classes by the sampler names A1111 and most image tools show.
SAMPLER_NAMES = {
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "FlowMatchEulerDiscreteScheduler": "Euler",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "HeunDiscreteScheduler": "Heun",
    "KDPM2DiscreteScheduler": "DPM2",
    "UniPCMultistepScheduler": "UniPC",
    "LCMScheduler": "LCM",
}

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


class ImageRecord(BaseModel):
    """Everything needed to make an image again, and to write it into the PNG."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode
    kind: PromptKind
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    seed: int
    size: tuple[int, int]  # (width, height)
    model: str
    architecture: Architecture
    sampler: str
    lora: str = ""
    lora_weight: float = 0.0
    ip_adapter_scale: float = 0.0
    strength: float | None = None
    controlnet: str = ""
    controlnet_scale: float | None = None
    tiling: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    seconds: float = 0.0

    def a1111_parameters(self) -> str:
        """The A1111 "parameters" text for a PNG text chunk."""
        extra: dict[str, object] = {}
        if self.strength is not None:
            extra["Denoising strength"] = self.strength
        if self.lora:
            extra.update({"Lora": Path(self.lora).name, "Lora weight": self.lora_weight})
        if self.controlnet:
            extra.update({"ControlNet": self.controlnet, "ControlNet weight": self.controlnet_scale})
        if self.ip_adapter_scale:
            extra["IP-Adapter scale"] = self.ip_adapter_scale
        if self.tiling:
            extra["Tiling"] = "True"
        return a1111_parameters(
            self.prompt, self.negative_prompt, self.steps, self.sampler, self.guidance, self.seed, self.size, self.model, extra
        )


@dataclass
class DesignImage:
    """One generated image, what made it, and the spec it shows (its provenance filled in)."""

    image: Image.Image
    record: ImageRecord
    spec: DesignSpec


def choose_attention(architecture: Architecture = "sdxl") -> Attention:
    """torch's scaled-dot-product attention, unless CUDA and xformers are both present.

    xformers has no CPU kernels, and its processors do not cover FLUX's joint attention, so
    FLUX always uses SDPA (which is fast on recent GPUs anyway).
    """
    if architecture == "flux" or not torch.cuda.is_available():
        return "sdpa"
    try:
        importlib.import_module("xformers.ops")
    except Exception:  # ImportError, or a build that does not match this torch/CUDA
        return "sdpa"
    return "xformers"


def choose_device(architecture: Architecture = "sdxl") -> tuple[str, torch.dtype]:
    """cuda in half precision (bf16 for FLUX, which overflows in fp16) when there is a GPU, else cpu in fp32."""
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if architecture == "flux" else torch.float16
    return "cpu", torch.float32


def check_model_folder(model_dir: str | Path | None, architecture: Architecture) -> Path:
    """The folder as a Path, or DiffusionModelError saying what is missing and what to configure."""
    if architecture not in FAMILIES:
        raise DiffusionModelError(f"unknown architecture {architecture!r}; set fashion.diffusion.architecture to one of: {', '.join(FAMILIES)}")
    family = FAMILIES[architecture]
    expected = f"a local diffusers folder of an {architecture} model (model_index.json, {', '.join(family.components)})"
    folder, index = read_model_folder(model_dir, "model_index.json", "fashion.diffusion.model_dir", "diffusion model", "diffusers pipeline folder",
                                      expected, DiffusionModelError)
    class_name = index.get("_class_name") if isinstance(index, dict) else None
    if class_name != family.text.__name__:
        raise DiffusionModelError(
            f"{folder} holds a {class_name}, not an {architecture} model ({family.text.__name__}): "
            f"set fashion.diffusion.architecture to match the folder, or point fashion.diffusion.model_dir at an {architecture} model"
        )
    missing = [name for name in family.components if not _component_complete(folder / name, name)]
    if missing:
        raise DiffusionModelError(f"{folder} is incomplete: missing or empty {', '.join(f'{name}/' for name in missing)} (expected {expected})")
    return folder


def _component_complete(path: Path, name: str) -> bool:
    if not path.is_dir():
        return False
    if name == "scheduler":
        return (path / "scheduler_config.json").is_file()
    if name.startswith("tokenizer"):
        return any(path.iterdir())
    return (path / "config.json").is_file() and _has_weights(path)


def _has_weights(folder: Path) -> bool:
    return any(file.name.endswith(_WEIGHT_SUFFIXES) for file in folder.iterdir())


def _weights_variant(folder: Path) -> str | None:
    """The weights variant to ask for: "fp16" when a folder only ships model.fp16.safetensors files."""
    files = [file.name for file in folder.iterdir() if file.name.endswith(_WEIGHT_SUFFIXES) or file.name.endswith(".index.json")]
    if files and all(".fp16." in name for name in files):
        return "fp16"
    return None


class DiffusionDesigner:
    """Makes looks, flats-to-looks, edits and seamless prints from DesignSpecs with one diffusers model.

    Calls are serialised: a pipeline and its scheduler hold per-call state, so one image is
    made at a time (run one designer per GPU for more).
    """

    def __init__(
        self,
        pipe: DiffusionPipeline,
        architecture: Architecture,
        model_name: str,
        *,
        controlnet_dir: str | Path | None = None,
        ip_adapter_dir: str | Path | None = None,
        ip_adapter_weight_name: str | None = None,
        ip_adapter_scale: float = 0.6,
    ):
        self.pipe = pipe
        self.architecture = architecture
        self.family = FAMILIES[architecture]
        self.model_name = model_name
        self.controlnet_dir = Path(controlnet_dir).expanduser() if controlnet_dir else None
        self.ip_adapter_dir = Path(ip_adapter_dir).expanduser() if ip_adapter_dir else None
        self.ip_adapter_weight_name = ip_adapter_weight_name
        self.ip_adapter_scale = ip_adapter_scale
        self._derived: dict[str, DiffusionPipeline] = {}
        self._loras: dict[str, str] = {}  # LoRA path -> adapter name
        self._ip_adapter_loaded = False
        self._lock = threading.Lock()
        pipe.set_progress_bar_config(disable=True)  # progress goes to the caller's callback instead

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path | None,
        architecture: Architecture = "sdxl",
        *,
        controlnet_dir: str | Path | None = None,
        ip_adapter_dir: str | Path | None = None,
        ip_adapter_weight_name: str | None = None,
        ip_adapter_scale: float = 0.6,
        device: str | None = None,
        dtype: torch.dtype | str | None = None,
        attention: Attention | None = None,
        model_name: str | None = None,
    ) -> DiffusionDesigner:
        """Load the model in `model_dir`; device, dtype and attention default to the best available."""
        folder = check_model_folder(model_dir, architecture)
        family = FAMILIES[architecture]
        default_device, default_dtype = choose_device(architecture)
        device = device or default_device
        if isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
            dtype = _DTYPES[dtype]
        dtype = dtype or default_dtype
        try:
            pipe = family.text.from_pretrained(
                folder, dtype=dtype, variant=_weights_variant(folder / family.denoiser), local_files_only=True
            )
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
            raise DiffusionModelError(f"could not load the {architecture} model in {folder}: {error}") from error
        pipe.to(device)
        if (attention or choose_attention(architecture)) == "xformers":
            pipe.enable_xformers_memory_efficient_attention()
        # "sdpa" needs nothing: diffusers' default attention processors call torch's SDPA.
        return cls(
            pipe,
            architecture,
            model_name or folder.name,
            controlnet_dir=controlnet_dir,
            ip_adapter_dir=ip_adapter_dir,
            ip_adapter_weight_name=ip_adapter_weight_name,
            ip_adapter_scale=ip_adapter_scale,
        )

    @property
    def device(self) -> torch.device:
        return self.pipe.device

    @property
    def dtype(self) -> torch.dtype:
        return self.pipe.dtype

    # --- modes ------------------------------------------------------------------------

    def generate(
        self,
        spec: DesignSpec,
        visual: VisualIdentity,
        seed: int | None = None,
        steps: int | None = None,
        size: int | tuple[int, int] | None = None,
        *,
        kind: PromptKind = "look",
        guidance: float | None = None,
        tiling: bool = False,
        reference: Image.Image | str | Path | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> DesignImage:
        """Text to image: a look of the garment (or, with kind="print", its print)."""
        width, height = self._size(size)
        return self._run(
            "text2img", kind, spec, visual, seed, steps, guidance, (width, height),
            inputs={"height": height, "width": width},
            tiling=tiling, reference=reference, progress=progress, cancel=cancel,
        )

    def print_tile(
        self,
        spec: DesignSpec,
        visual: VisualIdentity,
        seed: int | None = None,
        steps: int | None = None,
        size: int | tuple[int, int] | None = None,
        **options: Any,
    ) -> DesignImage:
        """The spec's print as a seamless tile: a print prompt made with circular padding."""
        return self.generate(spec, visual, seed, steps, size, kind="print", tiling=True, **options)

    def from_flat(
        self,
        spec: DesignSpec,
        flat_image: Image.Image,
        visual: VisualIdentity,
        seed: int | None = None,
        steps: int | None = None,
        size: int | tuple[int, int] | None = None,
        *,
        conditioning_scale: float = 0.7,
        guidance: float | None = None,
        reference: Image.Image | str | Path | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> DesignImage:
        """A look that follows the lines of the technical flat, through a ControlNet."""
        width, height = self._size(size)
        control = control_image_from_flat(flat_image, (width, height))
        control_key = "image" if self.family.denoiser == "unet" else "control_image"
        return self._run(
            "controlnet", "look", spec, visual, seed, steps, guidance, (width, height),
            inputs={control_key: control, "controlnet_conditioning_scale": conditioning_scale, "height": height, "width": width},
            reference=reference, progress=progress, cancel=cancel,
            record={"controlnet": self.controlnet_dir.name if self.controlnet_dir else "", "controlnet_scale": conditioning_scale},
        )

    def edit(
        self,
        image: Image.Image,
        spec: DesignSpec,
        visual: VisualIdentity,
        mask: Image.Image | None = None,
        strength: float = 0.6,
        seed: int | None = None,
        steps: int | None = None,
        *,
        size: int | tuple[int, int] | None = None,
        guidance: float | None = None,
        reference: Image.Image | str | Path | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> DesignImage:
        """Redraw `image` towards the spec: inpainting where `mask` is white, or all of it (img2img).

        `strength` is how much is redrawn (0: nothing, 1: everything); only
        steps × strength steps run.
        """
        if not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        if steps is None:
            # enough steps that at least one runs: SDXL-Turbo's single default step times 0.6 is none
            steps = max(self.family.steps, math.ceil(1 / strength))
        width, height = self._size(size or self._rounded(image.size))
        inputs: dict[str, Any] = {"image": image.convert("RGB").resize((width, height)), "strength": strength}
        mode: Mode = "img2img"
        if mask is not None:
            mode = "inpaint"
            inputs["mask_image"] = mask.convert("L").resize((width, height))
        if mode == "inpaint" or self.family.denoiser == "transformer":
            inputs.update(height=height, width=width)  # SDXL img2img takes its size from the image
        return self._run(
            mode, "look", spec, visual, seed, steps, guidance, (width, height),
            inputs=inputs, reference=reference, progress=progress, cancel=cancel, record={"strength": strength},
        )

    def pipeline(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline for a mode, sharing every loaded component with the text-to-image one."""
        if mode == "text2img":
            return self.pipe
        if mode not in self._derived:
            # from_pipe casts every shared module to its dtype argument (float32 when left out)
            extra = {"controlnet": self._load_controlnet()} if mode == "controlnet" else {}
            self._derived[mode] = getattr(self.family, mode).from_pipe(self.pipe, dtype=self.dtype, **extra)
            self._derived[mode].set_progress_bar_config(disable=True)
        return self._derived[mode]

    # --- one call ---------------------------------------------------------------------

    def _run(
        self,
        mode: Mode,
        kind: PromptKind,
        spec: DesignSpec,
        visual: VisualIdentity,
        seed: int | None,
        steps: int | None,
        guidance: float | None,
        size: tuple[int, int],
        *,
        inputs: dict[str, Any],
        tiling: bool = False,
        reference: Image.Image | str | Path | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
        record: dict[str, Any] | None = None,
    ) -> DesignImage:
        steps = self._steps(steps)
        guidance = self.family.guidance if guidance is None else guidance
        seed = secrets.randbelow(2**32) if seed is None else seed
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        if "strength" in inputs and int(steps * inputs["strength"]) < 1:
            raise ValueError(f"strength {inputs['strength']} with {steps} steps leaves no step to run: raise steps or strength")
        lora = visual.lora if kind != "flat" else None  # a flat is line art: the persona's look would only blur it
        uses_negative = self.family.uses_negative_prompt and guidance > 1  # below that, classifier-free guidance is off
        if is_cancelled(cancel):
            raise Cancelled("cancelled before the first step")

        with self._lock:  # also around the tokenizer: a fast tokenizer refuses to be used from two threads at once
            prompt, negative = look_prompt(spec, visual, kind, count_tokens=self.count_tokens)
            if not uses_negative:
                negative = ""
            if reference is None:
                reference = _default_reference(visual, self.ip_adapter_dir)
            identity, ip_adapter_scale = self._identity_inputs(reference)
            self._use_lora(lora)
            pipe = self.pipeline(mode)
            state = _StepState()
            arguments = dict(
                prompt=prompt,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=torch.Generator(device=self.device).manual_seed(seed),
                callback_on_step_end=_step_callback(state, progress, cancel),
                **identity,
                **inputs,
            )
            if uses_negative:
                arguments["negative_prompt"] = negative
            started = time.perf_counter()
            with seamless_tiling(*self._convolution_models(pipe), enabled=tiling):
                image = pipe(**arguments).images[0]
            seconds = time.perf_counter() - started
        if state.cancelled:
            raise Cancelled(f"cancelled after step {state.steps_done} of {state.total}")

        image_record = ImageRecord(
            mode=mode,
            kind=kind,
            prompt=prompt,
            negative_prompt=negative,
            steps=steps,
            guidance=guidance,
            seed=seed,
            size=size,
            model=self.model_name,
            architecture=self.architecture,
            sampler=SAMPLER_NAMES.get(type(pipe.scheduler).__name__, type(pipe.scheduler).__name__),
            lora=lora.path if lora else "",
            lora_weight=lora.weight if lora else 0.0,
            ip_adapter_scale=ip_adapter_scale,
            tiling=tiling,
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
            seconds=round(seconds, 3),
            **(record or {}),
        )
        made = spec.with_provenance(backend="diffusers", model=self.model_name, lora=image_record.lora, seed=seed, steps=steps)
        return DesignImage(image=image, record=image_record, spec=made)

    def count_tokens(self, text: str) -> int:
        """Tokens the first text encoder (CLIP) reads, without its start and end tokens."""
        # verbose=False: a prompt being measured may be over the limit, and that is not an error
        return len(self.pipe.tokenizer(text, add_special_tokens=False, verbose=False).input_ids)

    def _steps(self, steps: int | None) -> int:
        steps = self.family.steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if self.family.max_steps and steps > self.family.max_steps:
            raise ValueError(f"{self.architecture} is distilled for 1-{self.family.max_steps} steps, got {steps}")
        return steps

    def _size(self, size: int | tuple[int, int] | None) -> tuple[int, int]:
        """(width, height), checked against what the VAE and the denoiser can divide."""
        width, height = (size, size) if isinstance(size, int) else size or (self.family.size, self.family.size)
        multiple = self._size_multiple()
        if width <= 0 or height <= 0 or width % multiple or height % multiple:
            raise ValueError(f"size must be positive multiples of {multiple} for {self.architecture}, got {width}x{height}")
        return width, height

    def _rounded(self, size: tuple[int, int]) -> tuple[int, int]:
        multiple = self._size_multiple()
        return max(multiple, size[0] // multiple * multiple), max(multiple, size[1] // multiple * multiple)

    def _size_multiple(self) -> int:
        # FLUX packs 2x2 latent patches into one token, so its sizes divide by twice the VAE's factor.
        factor = self.pipe.vae_scale_factor
        return factor * 2 if self.family.denoiser == "transformer" else factor

    def _convolution_models(self, pipe: DiffusionPipeline) -> list[torch.nn.Module]:
        # FLUX's transformer has no convolutions (patches are linear projections), so only its
        # VAE wraps around; the latents it denoises do not, and its tiles are less seamless.
        return [getattr(pipe, name, None) for name in ("unet", "controlnet", "vae") if getattr(pipe, name, None) is not None]

    # --- adapters -----------------------------------------------------------------------

    def _use_lora(self, lora: LoraRef | None) -> None:
        """Activate the persona's LoRA at its weight (loading it once), or switch LoRAs off."""
        if lora is None:
            if self._loras:
                self.pipe.disable_lora()
            return
        if lora.path not in self._loras:
            self._loras[lora.path] = self._load_lora(lora.path)
        self.pipe.enable_lora()
        self.pipe.set_adapters([self._loras[lora.path]], adapter_weights=[lora.weight])

    def _load_lora(self, path_text: str) -> str:
        path = Path(path_text).expanduser()
        if path.is_file():
            folder, weight_name = path.parent, path.name
        elif path.is_dir():
            folder, weight_name = path, _single_weights_file(path, "pytorch_lora_weights.safetensors", "LoRA")
        else:
            raise DiffusionModelError(f"LoRA {path} does not exist: fix visual.lora.path in the persona file (a .safetensors file or a folder)")
        name = f"persona_{len(self._loras)}"
        try:
            self.pipe.load_lora_weights(str(folder), weight_name=weight_name, adapter_name=name)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise DiffusionModelError(f"could not load the LoRA {path} into the {self.architecture} model: {error}") from error
        return name

    def _identity_inputs(self, reference: Image.Image | str | Path | None) -> tuple[dict[str, Any], float]:
        """IP-Adapter inputs for this call and their scale: the reference image, or a blank one at scale 0.

        Once an IP-Adapter is loaded the denoiser expects image embeddings on every call;
        a blank image at scale 0 adds nothing, and keeps the adapter loaded for the next call.
        """
        if reference is None and not self._ip_adapter_loaded:
            return {}, 0.0
        image = _open_image(reference) if reference is not None else Image.new("RGB", (64, 64))
        if not self._ip_adapter_loaded:
            self._load_ip_adapter()
        scale = self.ip_adapter_scale if reference is not None else 0.0
        self.pipe.set_ip_adapter_scale(scale)
        return {"ip_adapter_image": image}, scale

    def _load_ip_adapter(self) -> None:
        folder = self.ip_adapter_dir
        if folder is None:
            raise DiffusionModelError(
                "an identity reference needs an IP-Adapter: set fashion.diffusion.ip_adapter_dir to a folder "
                "with the adapter weights and an image_encoder/ folder"
            )
        if not folder.is_dir():
            raise DiffusionModelError(f"IP-Adapter folder {folder} does not exist: fix fashion.diffusion.ip_adapter_dir")
        encoder = folder / "image_encoder"
        if not (encoder / "config.json").is_file():
            raise DiffusionModelError(
                f"IP-Adapter folder {folder} has no image_encoder/ (a CLIPVisionModelWithProjection folder with config.json)"
            )
        weight_name = self.ip_adapter_weight_name or _single_weights_file(folder, None, "IP-Adapter")
        try:
            if self.family.denoiser == "unet":
                self.pipe.load_ip_adapter(str(folder), subfolder="", weight_name=weight_name, image_encoder_folder="image_encoder")
            else:
                self.pipe.load_ip_adapter(
                    str(folder),
                    weight_name=weight_name,
                    image_encoder_pretrained_model_name_or_path=str(encoder),
                    image_encoder_dtype=self.dtype,  # FLUX's loader would otherwise load it in float16
                )
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise DiffusionModelError(f"could not load the IP-Adapter in {folder} into the {self.architecture} model: {error}") from error
        self._ip_adapter_loaded = True
        self._derived.clear()  # pipelines made before now lack the image encoder

    def _load_controlnet(self) -> torch.nn.Module:
        folder = self.controlnet_dir
        model_class = self.family.controlnet_model
        hint = f"set fashion.diffusion.controlnet_dir to a local {model_class.__name__} folder (config.json and weights) for {self.architecture}"
        if folder is None:
            raise DiffusionModelError(f"no ControlNet configured: {hint}")
        if not folder.is_dir() or not (folder / "config.json").is_file() or not _has_weights(folder):
            raise DiffusionModelError(f"ControlNet folder {folder} is missing or incomplete: {hint}")
        try:
            controlnet = model_class.from_pretrained(folder, dtype=self.dtype, variant=_weights_variant(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise DiffusionModelError(f"could not load the ControlNet in {folder}: {error}; {hint}") from error
        return controlnet.to(self.device)


# --- helpers ------------------------------------------------------------------------------


@dataclass
class _StepState:
    steps_done: int = 0
    total: int = 0
    cancelled: bool = False


def _step_callback(state: _StepState, progress: ProgressCallback | None, cancel: CancelSignal | None):
    """A `callback_on_step_end` that reports (step, total) and stops the loop when cancelled.

    Setting `pipe._interrupt` is how diffusers pipelines are told to stop: the remaining
    steps are skipped. The caller then raises Cancelled rather than return the unfinished image.
    """

    def on_step_end(pipe: DiffusionPipeline, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        state.steps_done, state.total = step + 1, pipe.num_timesteps
        if progress is not None:
            progress(state.steps_done, state.total)
        if is_cancelled(cancel):
            state.cancelled = True
            pipe._interrupt = True
        return {}

    return on_step_end


@contextmanager
def seamless_tiling(*models: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Pad every Conv2d circularly for the duration, so the image wraps around at its edges.

    A convolution at the left edge then sees the right edge as its neighbour, and the
    result tiles without a seam. The padding modes are restored afterwards, also on error.
    """
    convolutions = [module for model in models for module in model.modules() if isinstance(module, torch.nn.Conv2d)] if enabled else []
    previous = [conv.padding_mode for conv in convolutions]
    for conv in convolutions:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convolutions, previous):
            conv.padding_mode = mode


def control_image_from_flat(flat: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A technical flat (dark lines on white or transparent) as a ControlNet condition.

    Line-art, scribble and canny ControlNets are trained on light lines on black, so the
    flat is put on white, fitted into `size` without distortion and inverted.
    """
    if flat.mode in ("RGBA", "LA") or "transparency" in flat.info:
        rgba = flat.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        flat = Image.alpha_composite(background, rgba)
    gray = flat.convert("L")
    fitted = ImageOps.pad(gray, size, color=255)
    return ImageOps.invert(fitted).convert("RGB")


def _default_reference(visual: VisualIdentity, ip_adapter_dir: Path | None) -> str | None:
    """The persona's first reference image, when an IP-Adapter is configured to use it."""
    return visual.reference_images[0] if ip_adapter_dir and visual.reference_images else None


def _open_image(reference: Image.Image | str | Path) -> Image.Image:
    if isinstance(reference, Image.Image):
        return reference.convert("RGB")
    path = Path(reference).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"reference image {path} does not exist (visual.reference_images in the persona file, or reference=)")
    return Image.open(path).convert("RGB")


def _single_weights_file(folder: Path, preferred: str | None, what: str) -> str:
    if preferred and (folder / preferred).is_file():
        return preferred
    candidates = sorted(file.name for file in folder.iterdir() if file.is_file() and file.name.endswith(_WEIGHT_SUFFIXES))
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise DiffusionModelError(f"{what} folder {folder} should hold one weights file (.safetensors or .bin), found: {found}")
    return candidates[0]
