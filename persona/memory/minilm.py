"""The all-MiniLM-L6-v2 sentence encoder, small and direct: a fan's message is embedded on
the reply's path.

The model's weights go in one fused QKV projection a layer; attention is PyTorch's
scaled-dot-product attention; the sentence vector is the mean over the real tokens, unit
length. The forward pass is compiled by TorchScript, so it runs without returning to Python
between operations (a fifth faster for one sentence, and a thread busy in Python stalls it
ten times less). Weights are bfloat16 where the CPU computes in bfloat16 natively, laid out
once in oneDNN's blocked format: with AMX a short sentence takes 2.8 ms on one core, against
12.8 ms through sentence-transformers in float32 (AVX-512 BF16 alone: 10.7 ms), with vectors
within 1e-4 cosine of it, so vectors stored by either match. Elsewhere float32.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from persona.memory.records import MemoryStoreError
from pipelines.cpu import resolve_dtype

LENGTH_STEP = 16  # token counts are padded to a multiple of this


class MiniLMEncoder:
    """A BERT encoder with mean pooling, read from a sentence-transformers model folder."""

    def __init__(self, folder: Path, dtype: torch.dtype | None = None):
        """`dtype`: bfloat16 where the CPU computes in it natively, else float32, by default."""
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        try:
            config = json.loads((folder / "config.json").read_text())
            max_tokens = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
            weights = load_file(str(folder / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, KeyError, ValueError) as error:
            raise MemoryStoreError(f"cannot read the embedding model in {folder}: {error}") from None
        self.tokenizer.enable_truncation(max_length=max_tokens)
        # To the longest in the batch, rounded up: the math library prepares its kernels once a
        # shape (about 5 ms), so a few lengths, prepared at start, keep a new message's length cheap.
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_to_multiple_of=LENGTH_STEP)
        self.heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.dtype = resolve_dtype(dtype)

        def weight(name: str) -> torch.Tensor:
            return weights[name].to(self.dtype)

        prefix = "embeddings."
        # word, position, token type (every token is type 0), layer norm weight and bias
        self.embedding = [weight(prefix + "word_embeddings.weight"), weight(prefix + "position_embeddings.weight"),
                          weight(prefix + "token_type_embeddings.weight")[0], weight(prefix + "LayerNorm.weight"), weight(prefix + "LayerNorm.bias")]
        self.layers = []  # each in the order encoder_forward unpacks it
        for index in range(config["num_hidden_layers"]):
            layer = f"encoder.layer.{index}."
            attention = layer + "attention."
            self.layers.append([
                torch.cat([weight(f"{attention}self.{part}.weight") for part in ("query", "key", "value")]),
                torch.cat([weight(f"{attention}self.{part}.bias") for part in ("query", "key", "value")]),
                weight(attention + "output.dense.weight"), weight(attention + "output.dense.bias"),
                weight(attention + "output.LayerNorm.weight"), weight(attention + "output.LayerNorm.bias"),
                weight(layer + "intermediate.dense.weight"), weight(layer + "intermediate.dense.bias"),
                weight(layer + "output.dense.weight"), weight(layer + "output.dense.bias"),
                weight(layer + "output.LayerNorm.weight"), weight(layer + "output.LayerNorm.bias"),
            ])
        self.packed = self.dtype == torch.bfloat16 and _pack_weights(self.layers)
        self.forward = _compiled_forward()

        for length in range(LENGTH_STEP, max_tokens + 1, LENGTH_STEP):  # a one-text batch of every length
            self.encode([" ".join(["a"] * (length - 2))])

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), hidden) float32, unit length."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([encoding.ids for encoding in encodings])
        mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.bool)
        with torch.inference_mode():
            return self.forward(ids, mask, self.embedding, self.layers, self.heads, self.eps, self.packed).numpy()


WEIGHTS_PACKED = (0, 2, 6, 8)  # the projections in a layer's list: QKV, attention output, up, down


def _pack_weights(layers: list[list]) -> bool:
    """Lay the bfloat16 projection weights out once in oneDNN's blocked format (otherwise every
    call reorders them: 40% of a short sentence's time). False where this PyTorch lacks the op."""
    try:
        packed = [{index: torch.ops.mkldnn._reorder_linear_weight(layer[index], 2 * LENGTH_STEP) for index in WEIGHTS_PACKED} for layer in layers]
    except (AttributeError, RuntimeError):
        return False
    for layer, weights in zip(layers, packed):
        for index, weight in weights.items():
            layer[index] = weight
    return True


@functools.cache
def _compiled_forward():
    """`encoder_forward` compiled by TorchScript, once a process. (TorchScript is deprecated in
    favour of torch.compile, which needs a C++ toolchain and seconds to compile; PyTorch is
    pinned, so its warning is silenced here.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(encoder_forward)


def encoder_forward(ids: torch.Tensor, mask: torch.Tensor, embedding: list[torch.Tensor], layers: list[list[torch.Tensor]],
                    heads: int, eps: float, packed: bool) -> torch.Tensor:
    """BERT layers, then the mean of the real tokens' states, unit length. `mask` marks real
    tokens (padding is never attended to); `packed`: the projections are in oneDNN's layout."""
    word, position, token_type, norm_weight, norm_bias = embedding
    batch, length = ids.shape
    hidden = word.shape[1]
    x = F.layer_norm(word[ids] + position[:length] + token_type, [hidden], norm_weight, norm_bias, eps)
    attend = mask[:, None, None, :]
    for layer in layers:
        qkv, qkv_bias, out, out_bias, norm1_weight, norm1_bias, up, up_bias, down, down_bias, norm2_weight, norm2_bias = layer
        q, k, v = _linear(x, qkv, qkv_bias, packed, "none").view(batch, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(batch, length, hidden)
        x = F.layer_norm(x + _linear(attended, out, out_bias, packed, "none"), [hidden], norm1_weight, norm1_bias, eps)
        feed_forward = _linear(_linear(x, up, up_bias, packed, "gelu"), down, down_bias, packed, "none")
        x = F.layer_norm(x + feed_forward, [hidden], norm2_weight, norm2_bias, eps)
    weights = mask[:, :, None].float()
    pooled = (x.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return F.normalize(pooled, dim=-1)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, packed: bool, activation: str) -> torch.Tensor:
    """A projection, with GELU (erf) after it when `activation` is "gelu"."""
    if packed:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation, [], "none" if activation == "gelu" else "")
    y = F.linear(x, weight, bias)
    return F.gelu(y) if activation == "gelu" else y
