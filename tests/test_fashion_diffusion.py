"""Diffusion looks with tiny random models built in code, saved to folders and loaded through
the production loader (diffusers' own tests use the same kind of "dummy components").

Images are 32x32 (64x64 where seams are measured) and most calls take 2 steps, so the whole
file runs in seconds on a CPU.
"""

from __future__ import annotations

import json
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxControlNetModel,
    FluxPipeline,
    FluxTransformer2DModel,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

from pipelines.fashion import diffusion
from pipelines.fashion.diffusion import Cancelled, DiffusionDesigner, DiffusionModelError, choose_attention, choose_device
from pipelines.fashion.prompting import a1111_parameters, estimate_clip_tokens, look_prompt
from pipelines.fashion.spec import DesignSpec
from pipelines.style import LoraRef, VisualIdentity
from persona.engine.settings import load_settings

SIZE = 32
STEPS = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- inputs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> DesignSpec:
    return DesignSpec(
        id="look-01",
        category="coat",
        silhouette="cocoon",
        length="midi",
        neckline="lapel",
        sleeve={"length": "long", "type": "drop-shoulder"},
        closure="wrap-tie",
        details=["patch-pockets", "hand-stitching"],
        fabric={"type": "linen", "finish": "washed"},
        print={"type": "celestial", "motif": "moon over rooftops", "scale": "large"},
        palette=[
            {"hex": "#2E3A5C", "name": "Monsoon Indigo", "share": 0.6},
            {"hex": "#F2EDE3", "name": "Hanji White", "share": 0.3},
            {"hex": "#E0703A", "name": "Persimmon", "share": 0.1},
        ],
        concept=["tide", "moon"],
        season="autumn-winter",
        occasion="evening",
    )


@pytest.fixture(scope="module")
def visual() -> VisualIdentity:
    return VisualIdentity(
        palette=[{"name": "Ink", "hex": "#1F2430"}],
        aesthetic=["quiet Seoul modernism", "rain-washed minimalism"],
        motifs=["concentric ripples"],
        negative_prompt="logo, text, watermark, garish neon",
    )


def flat_drawing() -> Image.Image:
    """A technical flat as the procedural pipeline draws one: dark lines on transparent."""
    image = Image.new("RGBA", (48, 40), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(14, 4), (34, 4), (42, 36), (6, 36)], outline=(20, 20, 20, 255), width=2)
    draw.line([(24, 4), (24, 36)], fill=(20, 20, 20, 255), width=1)
    return image


def photo(seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


# --- tiny components ----------------------------------------------------------------------------

# A CLIP BPE vocabulary small enough to write by hand: every printable character, with and
# without the end-of-word mark, plus whole-word tokens for a few words the prompts use.
WORDS = ["fashion", "photograph", "of", "a", "and", "coat", "linen", "print", "seamless", "pattern", "style", "look"]


def write_clip_tokenizer(folder: Path) -> CLIPTokenizer:
    characters = [chr(code) for code in range(33, 127)]
    vocab: dict[str, int] = {}
    for token in characters + [character + "</w>" for character in characters]:
        vocab.setdefault(token, len(vocab))
    merges: list[str] = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:
            if f"{merged} {piece}" not in merges:
                merges.append(f"{merged} {piece}")
            merged += piece
            vocab.setdefault(merged, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=77)


def tiny_t5_tokenizer() -> T5Tokenizer:
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(letter, -2.0) for letter in letters + ",.-'"] + [("▁" + letter, -2.5) for letter in letters]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def clip_text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        projection_dim=32,
        hidden_act="gelu",
    )


def sdxl_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",  # SDXL: pooled text and size/crop ids join the time embedding
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + 32 pooled text
        cross_attention_dim=64,  # the two text encoders' 32 + 32, concatenated
    )


def tiny_vae(**config) -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(in_channels=3, out_channels=3, norm_num_groups=4, **config)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("diffusion-models")


@pytest.fixture(scope="module")
def clip_tokenizer(models) -> CLIPTokenizer:
    return write_clip_tokenizer(models / "clip-vocab")


@pytest.fixture(scope="module")
def sdxl_dir(models, clip_tokenizer) -> Path:
    tokenizer = clip_tokenizer
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(clip_text_config(tokenizer))
    text_encoder_2 = CLIPTextModelWithProjection(clip_text_config(tokenizer))
    pipe = StableDiffusionXLPipeline(
        unet=sdxl_unet(),
        vae=tiny_vae(
            block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
        ),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
        ),
    )
    pipe.save_pretrained(models / "sdxl")
    return models / "sdxl"


@pytest.fixture(scope="module")
def sdxl_controlnet_dir(models) -> Path:
    torch.manual_seed(0)
    controlnet = ControlNetModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        conditioning_embedding_out_channels=(16, 32),  # one halving: the tiny VAE's scale factor
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
    )
    # A new ControlNet adds nothing (its output convolutions start at zero); a trained one does.
    untrained_zeros_to_random(controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.controlnet_cond_embedding.conv_out)
    controlnet.save_pretrained(models / "sdxl-controlnet")
    return models / "sdxl-controlnet"


@pytest.fixture(scope="module")
def sdxl_lora_file(models) -> Path:
    """A LoRA on the UNet's attention projections, saved the way trainers save them."""
    unet = sdxl_unet()
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    StableDiffusionXLPipeline.save_lora_weights(models / "lora", unet_lora_layers=get_peft_model_state_dict(unet))
    return models / "lora" / "pytorch_lora_weights.safetensors"


def untrained_zeros_to_random(*modules: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for module in modules:
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)


def image_encoder() -> CLIPVisionModelWithProjection:
    torch.manual_seed(0)
    return CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8
        )
    )


@pytest.fixture(scope="module")
def sdxl_ip_adapter_dir(models) -> Path:
    """IP-Adapter weights in the layout `load_ip_adapter` reads: one file of image_proj.* and
    ip_adapter.<n>.to_k_ip / to_v_ip for every cross-attention layer, beside image_encoder/."""
    generator = torch.Generator().manual_seed(2)
    unet = sdxl_unet()
    cross, embed = unet.config.cross_attention_dim, 32
    weights = {
        "image_proj.proj.weight": torch.randn(cross * 4, embed, generator=generator),  # four image tokens
        "image_proj.proj.bias": torch.zeros(cross * 4),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key = 1  # diffusers numbers self- and cross-attention together: cross-attention layers are odd
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            block = name.split(".")[0]
            channels = unet.config.block_out_channels
            if block == "mid_block":
                hidden = channels[-1]
            elif block == "up_blocks":
                hidden = list(reversed(channels))[int(name.split(".")[1])]
            else:
                hidden = channels[int(name.split(".")[1])]
            weights[f"ip_adapter.{key}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=generator)
            weights[f"ip_adapter.{key}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=generator)
            key += 2
    folder = models / "sdxl-ip-adapter"
    folder.mkdir()
    save_file(weights, folder / "ip-adapter_sdxl.safetensors")
    image_encoder().save_pretrained(folder / "image_encoder")
    return folder


def flux_transformer(model_class=FluxTransformer2DModel):
    torch.manual_seed(0)
    return model_class(
        patch_size=1,
        in_channels=16,  # 4 latent channels x a 2x2 patch
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,  # the T5 width
        pooled_projection_dim=32,  # the CLIP width
        axes_dims_rope=[4, 4, 8],
    )


@pytest.fixture(scope="module")
def flux_dir(models, clip_tokenizer) -> Path:
    tokenizer = clip_tokenizer
    t5_tokenizer = tiny_t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(clip_text_config(tokenizer))
    t5 = T5EncoderModel(
        T5Config(vocab_size=len(t5_tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8)
    )
    pipe = FluxPipeline(
        transformer=flux_transformer(),
        vae=tiny_vae(
            block_out_channels=(8,),
            layers_per_block=1,
            latent_channels=4,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.0609,
            scaling_factor=1.5035,
        ),
        text_encoder=text_encoder,
        text_encoder_2=t5,
        tokenizer=tokenizer,
        tokenizer_2=t5_tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    pipe.save_pretrained(models / "flux")
    return models / "flux"


@pytest.fixture(scope="module")
def flux_controlnet_dir(models) -> Path:
    controlnet = flux_transformer(FluxControlNetModel)
    untrained_zeros_to_random(controlnet.controlnet_blocks, controlnet.controlnet_single_blocks, controlnet.controlnet_x_embedder)
    controlnet.save_pretrained(models / "flux-controlnet")
    return models / "flux-controlnet"


@pytest.fixture(scope="module")
def flux_lora_dir(models) -> Path:
    transformer = flux_transformer()
    torch.manual_seed(1)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    FluxPipeline.save_lora_weights(models / "flux-lora", transformer_lora_layers=get_peft_model_state_dict(transformer))
    return models / "flux-lora"


@pytest.fixture(scope="module")
def flux_ip_adapter_dir(models) -> Path:
    """XLabs-style FLUX IP-Adapter weights: an image projection and k/v projections per double block."""
    generator = torch.Generator().manual_seed(3)
    joint, hidden, embed = 32, 32, 32
    weights = {
        "image_proj.proj.weight": torch.randn(joint * 4, embed, generator=generator),
        "image_proj.proj.bias": torch.zeros(joint * 4),
        "image_proj.norm.weight": torch.ones(joint),
        "image_proj.norm.bias": torch.zeros(joint),
    }
    for projection in ("to_k_ip", "to_v_ip"):
        weights[f"ip_adapter.0.{projection}.weight"] = torch.randn(hidden, joint, generator=generator)
        weights[f"ip_adapter.0.{projection}.bias"] = torch.zeros(hidden)
    folder = models / "flux-ip-adapter"
    folder.mkdir()
    save_file(weights, folder / "ip_adapter.safetensors")
    image_encoder().save_pretrained(folder / "image_encoder")
    return folder


@pytest.fixture(scope="module")
def sdxl(sdxl_dir, sdxl_controlnet_dir, sdxl_ip_adapter_dir) -> DiffusionDesigner:
    return DiffusionDesigner.from_pretrained(
        sdxl_dir, "sdxl", controlnet_dir=sdxl_controlnet_dir, ip_adapter_dir=sdxl_ip_adapter_dir, ip_adapter_scale=1.0
    )


@pytest.fixture(scope="module")
def flux(flux_dir, flux_controlnet_dir, flux_ip_adapter_dir) -> DiffusionDesigner:
    return DiffusionDesigner.from_pretrained(
        flux_dir, "flux", controlnet_dir=flux_controlnet_dir, ip_adapter_dir=flux_ip_adapter_dir, ip_adapter_scale=1.0
    )


# --- prompts ------------------------------------------------------------------------------------


def test_look_prompt_describes_the_garment_in_the_persona_aesthetic(spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path="lora.safetensors", trigger="hae_un style")})
    prompt, negative = look_prompt(spec, styled)
    assert prompt.startswith("hae_un style, fashion photograph of a monsoon indigo and hanji white washed linen cocoon midi coat")
    for words in ("celestial print of moon over rooftops", "notched lapels", "long drop-shoulder sleeves", "wrap tie closure", "quiet Seoul modernism"):
        assert words in prompt
    assert "#2E3A5C" not in prompt  # colours by name: CLIP knows words, not hex codes
    assert "garish neon" in negative and "watermark" in negative and "bad anatomy" in negative
    assert negative.count("watermark") == 1  # the persona's and the default negatives are merged
    assert estimate_clip_tokens(prompt) <= 75 and estimate_clip_tokens(negative) <= 75


def test_prompts_for_the_shipped_persona_fit_clip(spec, haeun):
    styled = haeun.visual.model_copy(update={"lora": LoraRef(path="lora.safetensors", trigger="hae_un style")})
    for kind in ("look", "print", "flat"):
        prompt, negative = look_prompt(spec, styled, kind)
        assert estimate_clip_tokens(prompt) <= 75 and estimate_clip_tokens(negative) <= 75
        assert "extra fingers" in negative or kind != "look"
    prompt, _ = look_prompt(spec, styled)
    assert haeun.visual.aesthetic[0] in prompt


def test_print_and_flat_prompts(spec, visual):
    prompt, negative = look_prompt(spec, visual, "print")
    assert prompt.startswith("seamless repeating textile pattern, celestial print of moon over rooftops")
    assert "photograph" not in prompt and "person" in negative
    solid = spec.model_copy(update={"print": spec.print.model_copy(update={"type": "solid"})})
    assert look_prompt(solid, visual, "print")[0].startswith("seamless washed linen fabric texture in monsoon indigo and hanji white")
    styled = visual.model_copy(update={"lora": LoraRef(path="lora.safetensors", trigger="hae_un style")})
    flat, flat_negative = look_prompt(spec, styled, "flat")
    assert flat.startswith("technical fashion flat drawing of a cocoon midi coat") and "hae_un" not in flat
    assert "shading" in flat_negative and "monsoon" not in flat


def test_prompt_keeps_the_important_things_when_the_budget_is_short(spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path="lora.safetensors", trigger="hae_un style")})
    words = lambda text: len(text.replace(",", " ").split())  # noqa: E731  (a word-count proxy for CLIP tokens)
    full, _ = look_prompt(spec, styled, count_tokens=words, budget=200)
    short, short_negative = look_prompt(spec, styled, count_tokens=words, budget=30)
    assert words(short) <= 30 and words(short_negative) <= 30
    assert short.startswith("hae_un style, fashion photograph of a monsoon indigo")  # trigger and garment always stay
    assert "celestial print" in short and "tide" in full and "tide" not in short  # concept words are dropped before the print
    assert "high detail" in full and "high detail" not in short


def test_prompt_kind_must_be_known(spec, visual):
    with pytest.raises(ValueError, match="look, print, flat"):
        look_prompt(spec, visual, "poster")


def test_a1111_parameters():
    text = a1111_parameters("a coat", "blurry, text", 30, "DPM++ 2M", 7.0, 1, (1024, 768), "sdxl-base")
    assert text == "a coat\nNegative prompt: blurry, text\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 1024x768, Model: sdxl-base"
    text = a1111_parameters("a coat", "", 4, "Euler", 3.5, 9, (512, 512), "tiny, v2", {"Denoising strength": 0.6})
    assert text == 'a coat\nSteps: 4, Sampler: Euler, CFG scale: 3.5, Seed: 9, Size: 512x512, Model: "tiny, v2", Denoising strength: 0.6'


# --- loading --------------------------------------------------------------------------------


def test_missing_or_incomplete_model_folder_says_what_to_configure(tmp_path, sdxl_dir, flux_dir):
    with pytest.raises(DiffusionModelError, match="set fashion.diffusion.model_dir"):
        DiffusionDesigner.from_pretrained(None, "sdxl")
    with pytest.raises(DiffusionModelError, match="does not exist: set fashion.diffusion.model_dir"):
        DiffusionDesigner.from_pretrained(tmp_path / "nowhere", "sdxl")
    with pytest.raises(DiffusionModelError, match="no model_index.json"):
        DiffusionDesigner.from_pretrained(tmp_path, "flux")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "model_index.json").write_text((sdxl_dir / "model_index.json").read_text())
    with pytest.raises(DiffusionModelError, match=r"incomplete: missing or empty unet/, vae/"):
        DiffusionDesigner.from_pretrained(incomplete, "sdxl")
    with pytest.raises(DiffusionModelError, match="holds a FluxPipeline, not an sdxl model.*fashion.diffusion.architecture"):
        DiffusionDesigner.from_pretrained(flux_dir, "sdxl")
    with pytest.raises(DiffusionModelError, match="unknown architecture 'sd3'"):
        DiffusionDesigner.from_pretrained(sdxl_dir, "sd3")


def test_the_configured_model_loads_through_the_settings(tmp_path, sdxl_dir):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sdxl").symlink_to(sdxl_dir)
    (tmp_path / "mine.yaml").write_text("fashion:\n  diffusion:\n    model_dir: models/sdxl\n    model_name: tiny-sdxl\n    dtype: float32\n")
    settings = load_settings(tmp_path / "mine.yaml", environ={})
    assert settings.fashion.diffusion.model_dir == tmp_path / "models" / "sdxl"  # relative to the file
    designer = settings.fashion.diffusion.load()
    assert (designer.architecture, designer.model_name, designer.dtype) == ("sdxl", "tiny-sdxl", torch.float32)
    unset = load_settings(environ={})
    assert unset.fashion.diffusion is None
    with pytest.raises(DiffusionModelError, match="does not exist"):
        load_settings(environ={"ATELIER_FASHION__DIFFUSION__MODEL_DIR": str(tmp_path / "nowhere")}).fashion.diffusion.load()


def test_attention_is_sdpa_unless_cuda_and_xformers(monkeypatch):
    xformers = types.ModuleType("xformers")
    xformers.ops = types.ModuleType("xformers.ops")
    monkeypatch.setitem(sys.modules, "xformers", xformers)
    monkeypatch.setitem(sys.modules, "xformers.ops", xformers.ops)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_attention() == "sdpa"  # xformers has no CPU kernels
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_attention("sdxl") == "xformers"
    assert choose_attention("flux") == "sdpa"
    monkeypatch.setitem(sys.modules, "xformers.ops", None)  # not installed: importing it fails
    assert choose_attention("sdxl") == "sdpa"


def test_device_and_dtype(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("sdxl") == ("cpu", torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("sdxl") == ("cuda", torch.float16)
    assert choose_device("flux") == ("cuda", torch.bfloat16)


# --- SDXL -----------------------------------------------------------------------------------


def test_sdxl_text_to_look_with_record_and_provenance(sdxl, spec, visual):
    look = sdxl.generate(spec, visual, seed=7, steps=STEPS, size=SIZE)
    assert look.image.size == (SIZE, SIZE)
    record = look.record
    assert (record.mode, record.kind, record.steps, record.seed, record.size) == ("text2img", "look", STEPS, 7, (SIZE, SIZE))
    assert (record.model, record.architecture, record.sampler, record.guidance) == ("sdxl", "sdxl", "Euler", 7.0)
    assert record.prompt.startswith("fashion photograph of a") and "watermark" in record.negative_prompt
    assert sdxl.count_tokens(record.prompt) <= 75
    assert look.spec.provenance.model_dump() == {"backend": "diffusers", "model": "sdxl", "lora": "", "seed": 7, "steps": STEPS}
    assert spec.provenance.backend == "procedural"  # the caller's spec is left as it was
    parameters = record.a1111_parameters()
    assert parameters.startswith(record.prompt + "\nNegative prompt: ")
    assert parameters.endswith(f"Steps: {STEPS}, Sampler: Euler, CFG scale: 7, Seed: 7, Size: {SIZE}x{SIZE}, Model: sdxl")


def test_same_seed_same_image_other_seed_other_image(sdxl, spec, visual):
    first = sdxl.generate(spec, visual, seed=1, steps=STEPS, size=SIZE).image
    again = sdxl.generate(spec, visual, seed=1, steps=STEPS, size=SIZE).image
    other = sdxl.generate(spec, visual, seed=2, steps=STEPS, size=SIZE).image
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(other)).mean() > 1


def test_sdxl_turbo_makes_a_look_in_one_unguided_step(sdxl_dir, spec, visual):
    turbo = DiffusionDesigner.from_pretrained(sdxl_dir, "sdxl-turbo", model_name="sdxl-turbo")
    look = turbo.generate(spec, visual, seed=3, size=SIZE)
    assert (look.record.steps, look.record.guidance, look.record.negative_prompt) == (1, 0.0, "")
    assert look.image.size == (SIZE, SIZE)
    edited = turbo.edit(photo(), spec, visual, strength=0.5, seed=3)
    assert (edited.record.mode, edited.record.steps) == ("img2img", 2)  # one step at strength 0.5 would run none
    with pytest.raises(ValueError, match="distilled for 1-4 steps"):
        turbo.generate(spec, visual, steps=30, size=SIZE)
    with pytest.raises(ValueError, match="multiples of 2"):
        turbo.generate(spec, visual, size=33)


def test_sdxl_controlnet_follows_the_flat(sdxl, spec, visual):
    flat = flat_drawing()
    look = sdxl.from_flat(spec, flat, visual, seed=4, steps=STEPS, size=SIZE)
    assert look.image.size == (SIZE, SIZE)
    assert (look.record.mode, look.record.controlnet, look.record.controlnet_scale) == ("controlnet", "sdxl-controlnet", 0.7)
    assert sdxl.pipeline("controlnet").unet is sdxl.pipe.unet  # shared, not loaded twice
    unguided = sdxl.from_flat(spec, flat, visual, seed=4, steps=STEPS, size=SIZE, conditioning_scale=0.0)
    assert np.abs(pixels(look.image) - pixels(unguided.image)).mean() > 0.5


def test_control_image_is_light_lines_on_black():
    control = diffusion.control_image_from_flat(flat_drawing(), (SIZE, SIZE))
    values = pixels(control)
    assert control.size == (SIZE, SIZE) and control.mode == "RGB"
    assert np.median(values) == 0 and values.max() > 200


def test_derived_pipelines_keep_the_loaded_dtype(sdxl_dir, sdxl_controlnet_dir):
    designer = DiffusionDesigner.from_pretrained(sdxl_dir, "sdxl", dtype="bfloat16", controlnet_dir=sdxl_controlnet_dir)
    for mode in ("img2img", "inpaint", "controlnet"):
        designer.pipeline(mode)
    assert designer.pipe.unet.dtype == designer.pipe.vae.dtype == torch.bfloat16
    assert designer.pipeline("controlnet").controlnet.dtype == torch.bfloat16


def test_controlnet_needs_a_configured_folder(sdxl_dir, spec, visual):
    designer = DiffusionDesigner.from_pretrained(sdxl_dir, "sdxl")
    with pytest.raises(DiffusionModelError, match="set fashion.diffusion.controlnet_dir"):
        designer.from_flat(spec, flat_drawing(), visual, steps=STEPS, size=SIZE)


def test_img2img_and_inpaint_reuse_the_loaded_components(sdxl, spec, visual):
    source = photo()
    redrawn = sdxl.edit(source, spec, visual, strength=0.5, seed=5, steps=4)
    assert redrawn.image.size == source.size
    assert (redrawn.record.mode, redrawn.record.strength) == ("img2img", 0.5)
    mask = Image.new("L", source.size, 0)
    ImageDraw.Draw(mask).rectangle([8, 8, 24, 24], fill=255)
    inpainted = sdxl.edit(source, spec, visual, mask=mask, strength=1.0, seed=5, steps=STEPS)
    assert inpainted.record.mode == "inpaint" and inpainted.image.size == source.size
    inpaint = sdxl.pipeline("inpaint")
    assert isinstance(inpaint, StableDiffusionXLInpaintPipeline)
    assert inpaint.unet is sdxl.pipe.unet and inpaint.vae is sdxl.pipe.vae and inpaint.text_encoder_2 is sdxl.pipe.text_encoder_2
    with pytest.raises(ValueError, match="leaves no step to run"):
        sdxl.edit(source, spec, visual, strength=0.2, steps=STEPS)


def test_lora_changes_the_look_and_is_switched_off_after(sdxl, sdxl_lora_file, spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path=str(sdxl_lora_file), weight=1.0, trigger="hae_un style")})
    plain = sdxl.generate(spec, visual, seed=6, steps=STEPS, size=SIZE)
    with_lora = sdxl.generate(spec, styled, seed=6, steps=STEPS, size=SIZE)
    assert with_lora.record.prompt.startswith("hae_un style, ")
    assert (with_lora.record.lora, with_lora.record.lora_weight) == (str(sdxl_lora_file), 1.0)
    assert with_lora.spec.provenance.lora == str(sdxl_lora_file)
    assert "Lora: pytorch_lora_weights.safetensors, Lora weight: 1" in with_lora.record.a1111_parameters()
    # the same prompt with the LoRA at weight 0 isolates the LoRA's own effect
    off = visual.model_copy(update={"lora": LoraRef(path=str(sdxl_lora_file), weight=0.0, trigger="hae_un style")})
    weightless = sdxl.generate(spec, off, seed=6, steps=STEPS, size=SIZE)
    assert np.abs(pixels(with_lora.image) - pixels(weightless.image)).mean() > 0.5
    after = sdxl.generate(spec, visual, seed=6, steps=STEPS, size=SIZE)
    assert np.array_equal(pixels(after.image), pixels(plain.image))


def test_missing_lora_file_is_a_clear_error(sdxl, tmp_path, spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path=str(tmp_path / "haeun.safetensors"))})
    with pytest.raises(DiffusionModelError, match="fix visual.lora.path"):
        sdxl.generate(spec, styled, steps=STEPS, size=SIZE)


def test_ip_adapter_reference_steers_the_look(sdxl, spec, visual, tmp_path):
    plain = sdxl.generate(spec, visual, seed=8, steps=STEPS, size=SIZE)
    reference = tmp_path / "haeun.png"
    photo(1).save(reference)
    with_reference = sdxl.generate(spec, visual, seed=8, steps=STEPS, size=SIZE, reference=reference)
    assert with_reference.record.ip_adapter_scale == 1.0 and plain.record.ip_adapter_scale == 0.0
    assert np.abs(pixels(plain.image) - pixels(with_reference.image)).mean() > 0.5
    # the persona's own reference images are used by default
    persona = visual.model_copy(update={"reference_images": [str(reference)]})
    assert np.array_equal(pixels(sdxl.generate(spec, persona, seed=8, steps=STEPS, size=SIZE).image), pixels(with_reference.image))
    # once loaded, the adapter stays, at scale 0 for calls without a reference
    assert np.abs(pixels(sdxl.generate(spec, visual, seed=8, steps=STEPS, size=SIZE).image) - pixels(plain.image)).max() <= 1
    assert sdxl.from_flat(spec, flat_drawing(), visual, seed=8, steps=STEPS, size=SIZE, reference=reference).record.ip_adapter_scale == 1.0


def test_lora_and_reference_together(sdxl, sdxl_lora_file, spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path=str(sdxl_lora_file), weight=0.8, trigger="hae_un style")})
    look = sdxl.generate(spec, styled, seed=8, steps=STEPS, size=SIZE, reference=photo(1))
    assert (look.record.lora_weight, look.record.ip_adapter_scale) == (0.8, 1.0)
    assert "IP-Adapter scale: 1" in look.record.a1111_parameters()


def test_reference_without_ip_adapter_is_a_clear_error(sdxl_dir, spec, visual):
    designer = DiffusionDesigner.from_pretrained(sdxl_dir, "sdxl")
    with pytest.raises(DiffusionModelError, match="set fashion.diffusion.ip_adapter_dir"):
        designer.generate(spec, visual, steps=STEPS, size=SIZE, reference=photo())


def seam_visibility(image: Image.Image) -> float:
    """How unlike its neighbours inside the image the wrap-around edge is (0: seamless).

    The log ratio of the difference across the wrap-around edges (last column to first,
    last row to first) to the mean difference between neighbouring pixels inside.
    """
    values = pixels(image)
    inside = np.abs(np.diff(values, axis=1)).mean() + np.abs(np.diff(values, axis=0)).mean()
    across = np.abs(values[:, 0] - values[:, -1]).mean() + np.abs(values[0] - values[-1]).mean()
    return abs(float(np.log(across / inside)))


@pytest.mark.parametrize("name", ["sdxl", "flux"])
def test_print_tiles_wrap_around_better_than_plain_prints(name, request, spec, visual):
    designer = request.getfixturevalue(name)
    tiles = [designer.print_tile(spec, visual, seed=seed, steps=STEPS, size=64) for seed in range(3)]
    plain = [designer.generate(spec, visual, seed=seed, steps=STEPS, size=64, kind="print") for seed in range(3)]
    assert all(tile.record.tiling and tile.record.kind == "print" for tile in tiles)
    assert np.mean([seam_visibility(tile.image) for tile in tiles]) < 0.5 * np.mean([seam_visibility(look.image) for look in plain])
    convolutions = [module for module in designer.pipe.components.values() if isinstance(module, torch.nn.Module)]
    modes = {conv.padding_mode for model in convolutions for conv in model.modules() if isinstance(conv, torch.nn.Conv2d)}
    assert modes == {"zeros"}  # restored after the call


def test_circular_padding_makes_the_unet_and_vae_periodic(sdxl_dir):
    """Shifting the starting noise around the torus shifts the image the same way: it tiles."""
    pipe = DiffusionDesigner.from_pretrained(sdxl_dir, "sdxl").pipe
    noise = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(0))
    shifted = torch.roll(noise, shifts=(4, 6), dims=(2, 3))  # even: the UNet halves the latents once

    def make(latents: torch.Tensor) -> np.ndarray:
        return pipe("a coat", latents=latents, num_inference_steps=STEPS, output_type="np").images[0]

    with diffusion.seamless_tiling(pipe.unet, pipe.vae):
        image, image_of_shifted = make(noise), make(shifted)
    assert np.abs(np.roll(image, (8, 12), axis=(0, 1)) - image_of_shifted).max() < 1e-4  # the VAE doubles the shift
    image, image_of_shifted = make(noise), make(shifted)
    assert np.abs(np.roll(image, (8, 12), axis=(0, 1)) - image_of_shifted).max() > 1e-2


def test_progress_and_cancel(sdxl, spec, visual):
    reported: list[tuple[int, int]] = []
    sdxl.generate(spec, visual, seed=9, steps=5, size=SIZE, progress=lambda step, total: reported.append((step, total)))
    assert reported == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    calls = []
    hook = sdxl.pipe.unet.register_forward_hook(lambda *_: calls.append(1))
    cancel = threading.Event()
    reported.clear()

    def progress(step: int, total: int) -> None:
        reported.append((step, total))
        if step == 2:
            cancel.set()

    try:
        with pytest.raises(Cancelled, match="after step 2 of 5"):
            sdxl.generate(spec, visual, seed=9, steps=5, size=SIZE, progress=progress, cancel=cancel)
    finally:
        hook.remove()
    assert reported == [(1, 5), (2, 5)] and len(calls) == 2  # the UNet ran twice, not five times
    with pytest.raises(Cancelled, match="before the first step"):
        sdxl.generate(spec, visual, steps=5, size=SIZE, cancel=lambda: True)
    assert sdxl.generate(spec, visual, seed=9, steps=STEPS, size=SIZE).image.size == (SIZE, SIZE)  # usable again


# --- FLUX -----------------------------------------------------------------------------------


def test_flux_text_to_look(flux, spec, visual):
    look = flux.generate(spec, visual, seed=1, steps=STEPS, size=SIZE)
    again = flux.generate(spec, visual, seed=1, steps=STEPS, size=SIZE)
    assert look.image.size == (SIZE, SIZE) and np.array_equal(pixels(look.image), pixels(again.image))
    assert (look.record.architecture, look.record.guidance, look.record.negative_prompt) == ("flux", 3.5, "")
    assert look.spec.provenance.backend == "diffusers"


def test_flux_controlnet_img2img_inpaint(flux, spec, visual):
    look = flux.from_flat(spec, flat_drawing(), visual, seed=2, steps=STEPS, size=SIZE)
    assert look.record.mode == "controlnet" and look.image.size == (SIZE, SIZE)
    unguided = flux.from_flat(spec, flat_drawing(), visual, seed=2, steps=STEPS, size=SIZE, conditioning_scale=0.0)
    assert np.abs(pixels(look.image) - pixels(unguided.image)).mean() > 0.5
    assert flux.pipeline("controlnet").transformer is flux.pipe.transformer
    redrawn = flux.edit(photo(), spec, visual, strength=1.0, seed=2, steps=STEPS)
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle([8, 8, 24, 24], fill=255)
    inpainted = flux.edit(photo(), spec, visual, mask=mask, strength=1.0, seed=2, steps=STEPS)
    assert (redrawn.record.mode, inpainted.record.mode) == ("img2img", "inpaint")
    assert flux.pipeline("inpaint").vae is flux.pipe.vae


def test_flux_ip_adapter(flux, spec, visual):
    plain = flux.generate(spec, visual, seed=3, steps=STEPS, size=SIZE)
    with_reference = flux.generate(spec, visual, seed=3, steps=STEPS, size=SIZE, reference=photo(2))
    assert with_reference.record.ip_adapter_scale == 1.0
    assert np.abs(pixels(plain.image) - pixels(with_reference.image)).mean() > 0.5


def test_flux_lora_from_a_folder(flux, flux_lora_dir, spec, visual):
    styled = visual.model_copy(update={"lora": LoraRef(path=str(flux_lora_dir), weight=1.0, trigger="hae_un style")})
    with_lora = flux.generate(spec, styled, seed=5, steps=STEPS, size=SIZE)
    off = visual.model_copy(update={"lora": LoraRef(path=str(flux_lora_dir), weight=0.0, trigger="hae_un style")})
    weightless = flux.generate(spec, off, seed=5, steps=STEPS, size=SIZE)
    assert with_lora.record.prompt.startswith("hae_un style, ") and with_lora.spec.provenance.lora == str(flux_lora_dir)
    assert np.abs(pixels(with_lora.image) - pixels(weightless.image)).mean() > 0.5


def test_atelier_design_renders_each_look_from_its_flat_when_a_model_is_configured(tmp_path, sdxl_dir, sdxl_controlnet_dir):
    import zipfile

    from conftest import atelier
    from pipelines.fashion.metadata import read_png_metadata

    env = {"ATELIER_FASHION__DIFFUSION__MODEL_DIR": str(sdxl_dir), "ATELIER_FASHION__DIFFUSION__CONTROLNET_DIR": str(sdxl_controlnet_dir),
           "ATELIER_FASHION__DIFFUSION__MODEL_NAME": "tiny-sdxl"}
    result = atelier("design", "flowers on Venus", "--looks", "2", "--candidates", "4", "--steps", "2", "--size", "64", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert "through the flat's ControlNet" in result.stderr
    looks = sorted((tmp_path / "flowers-on-venus" / "looks").glob("*/look.png"))
    assert len(looks) == 2
    spec, parameters = read_png_metadata(looks[0])
    assert "Steps: 2" in parameters and "tiny-sdxl" in parameters
    assert spec.provenance.backend == "diffusers" and spec.provenance.model == "tiny-sdxl"
    assert sum(name.endswith("/look.png") for name in zipfile.ZipFile(tmp_path / "flowers-on-venus.zip").namelist()) == 2
    skipped = atelier("design", "flowers on Venus", "--looks", "2", "--candidates", "4", "--no-render", "--out", str(tmp_path / "plain"), env=env)
    assert skipped.returncode == 0 and not list((tmp_path / "plain").rglob("look.png"))
    missing = atelier("design", "x", "--looks", "1", "--out", str(tmp_path / "none"), env={"ATELIER_FASHION__DIFFUSION__MODEL_DIR": str(tmp_path / "gone")})
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "--no-render" in missing.stderr and not (tmp_path / "none").exists()
