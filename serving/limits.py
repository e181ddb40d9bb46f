"""Limits that keep one fan or one address from crowding out the others."""

from __future__ import annotations

import time
from collections import Counter


class TokenBucket:
    """`rate` tokens a second up to `burst`; each message takes one."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


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
