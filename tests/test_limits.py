"""The per-fan message rate limit and its table of buckets."""

import time

from serving.limits import FanRateLimits


def test_a_fan_gets_the_burst_then_waits_for_the_refill():
    limits = FanRateLimits(rate=1000.0, burst=3)
    assert [limits.take("jisoo") for _ in range(4)] == [True, True, True, False]
    assert limits.take("minho")  # another fan has a bucket of their own
    time.sleep(0.005)  # 5 tokens' worth at 1000/s, capped at the burst
    assert limits.take("jisoo")


def test_quiet_fans_buckets_are_dropped_and_throttled_fans_stay_throttled():
    limits = FanRateLimits(rate=0.5, burst=2, sweep_every=4)  # a bucket is full again 4 s after its last use
    limits.take("quiet")
    limits.buckets["quiet"].updated -= 10  # long ago: full again, the same as a new bucket
    assert limits.take("busy") and limits.take("busy")
    assert not limits.take("busy")  # 4th take: the sweep runs first
    assert "quiet" not in limits.buckets
    assert "busy" in limits.buckets  # empty, so kept: reconnecting does not reset a fan's limit
    assert not limits.take("busy")
