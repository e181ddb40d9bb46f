"""Limits that keep one fan or one address from crowding out the others."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

Clock = Callable[[], float]  # seconds, monotonic; tests pass a fake one


class TokenBucket:
    """`rate` tokens a second up to `burst`; each message takes one."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FanRateLimits:
    """One TokenBucket per fan, shared by all of the fan's connections and API calls. A bucket
    that has refilled to full is the same as a new one, so the buckets of fans gone quiet are
    dropped now and then: the table stays the size of the fans active lately."""

    def __init__(self, rate: float, burst: int, sweep_every: int = 1024, clock: Clock = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.sweep_every = sweep_every
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self._takes = 0

    def take(self, fan_id: str) -> bool:
        """Whether the fan may send a message now (and if so, it is counted)."""
        self._takes += 1
        if self._takes % self.sweep_every == 0:
            self._drop_full()
        bucket = self.buckets.get(fan_id)
        if bucket is None:
            bucket = self.buckets[fan_id] = TokenBucket(self.rate, self.burst, self.clock)
        return bucket.take()

    def _drop_full(self) -> None:
        full_after = self.burst / self.rate
        now = self.clock()
        for fan_id in [fan for fan, bucket in self.buckets.items() if now - bucket.updated >= full_after]:
            del self.buckets[fan_id]


class ConnectionCaps:
    """Open connections per client address, at most `per_address`."""

    def __init__(self, per_address: int):
        self.per_address = per_address
        self.open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        if self.open[address] >= self.per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]
