"""The per-fan message rate limit and its table of buckets, on a fake clock."""

from persona.engine.limits import FanRateLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_fan_gets_the_burst_then_waits_for_the_refill():
    clock = FakeClock()
    limits = FanRateLimits(rate=2.0, burst=3, clock=clock)
    assert [limits.take("jisoo") for _ in range(4)] == [True, True, True, False]
    assert limits.take("minho")  # another fan has a bucket of their own
    clock.advance(0.4)  # 0.8 of a token at 2/s: not yet
    assert not limits.take("jisoo")
    clock.advance(0.2)  # now a whole one
    assert limits.take("jisoo") and not limits.take("jisoo")
    clock.advance(3600)  # refilled, capped at the burst
    assert [limits.take("jisoo") for _ in range(4)] == [True, True, True, False]


def test_quiet_fans_buckets_are_dropped_and_throttled_fans_stay_throttled():
    clock = FakeClock()
    limits = FanRateLimits(rate=0.5, burst=2, sweep_every=4, clock=clock)  # a bucket is full again 4 s after its last use
    limits.take("quiet")
    clock.advance(10)  # long ago: full again, the same as a new bucket
    assert limits.take("busy") and limits.take("busy")
    assert not limits.take("busy")  # 4th take: the sweep runs first
    assert "quiet" not in limits.buckets
    assert "busy" in limits.buckets  # empty, so kept: reconnecting does not reset a fan's limit
    assert not limits.take("busy")
