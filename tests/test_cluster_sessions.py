"""Sessions that survive any gateway replica (`sessions.backend: redis`), on a real Redis: the
frame log and resume window, idempotent replies, held pieces and the fans' rate limits are
shared, so a fan whose replica dies resumes on another and gets exactly the frames they missed."""

from __future__ import annotations

import json
import signal

import pytest

from redis_server import redis_url  # noqa: F401  (a real redis-server for the session)
from serving.redis_sessions import RedisFrameLog, RedisRateLimits
from serving_server import AtelierServer, Client


def delta(seq: int, text: str) -> str:
    return json.dumps({"type": "delta", "seq": seq, "turn": 1, "text": text})


def test_every_replica_reads_the_frames_and_replies_another_wrote(redis_url):  # noqa: F811
    one = RedisFrameLog(redis_url, "log-test", window_s=60, max_frames=100)
    other = RedisFrameLog(redis_url, "log-test", window_s=60, max_frames=100)
    try:
        one.start_turn("s1", "mina", 1, 1)
        for seq in (2, 3, 4):
            one.stream("s1", seq, delta(seq, f"part {seq}."))
        end = json.dumps({"type": "end", "seq": 5, "turn": 1, "message_id": "m1", "text": "part 2. part 3. part 4."})
        one.record("s1", "mina", 5, 1, end, "m1")
        one.start_turn("s1", "mina", 2, 5)
        one.stream("s1", 6, delta(6, "and then"))
        one.flush()

        assert other.session("s1") == ("mina", 6, 2, 1)  # turn 2 started and never answered: a resume is told it was cut off
        assert [json.loads(frame)["seq"] for frame in other.frames_after("s1", 3)] == [4, 5, 6]  # deltas too, in order, once
        assert other.frames_after("s1", 6) == []
        assert other.reply_to("mina", "m1") == end and other.reply_to("someone-else", "m1") is None
        assert other.session("unknown") is None
        assert 0 < other.redis.ttl(other._key("frames", "s1")) <= 60  # everything but held pieces expires with the window

        one.hold("mina", "a1", "j1")
        one.hold("mina", "a2", None)
        assert other.held("mina") == [("a1", "j1"), ("a2", None)]
        other.delivered("mina", ["a1"])
        assert one.held("mina") == [("a2", None)]
    finally:
        one.close()
        other.close()


def test_a_streams_length_is_bounded(redis_url):  # noqa: F811
    log = RedisFrameLog(redis_url, "bound-test", window_s=60, max_frames=100)
    try:
        for seq in range(1, 1001):
            log.stream("long", seq, delta(seq, "x"))
        log.flush()
        kept = log.redis.xlen(log._key("frames", "long"))
        assert 100 <= kept < 1000  # MAXLEN ~ 100: trimmed in whole nodes, never below the bound
        assert json.loads(log.frames_after("long", 999)[0])["seq"] == 1000
    finally:
        log.close()


def test_rate_limits_are_one_bucket_across_replicas(redis_url):  # noqa: F811
    replicas = [RedisRateLimits(redis_url, "limit-test", rate=1 / 60, burst=3) for _ in range(2)]
    taken = [replicas[index % 2].take("busy-fan") for index in range(6)]
    assert taken == [True, True, True, False, False, False]  # the sum, not three per replica
    assert replicas[1].take("another-fan")


def test_a_bad_redis_url_is_named_at_start():
    with pytest.raises(ConnectionError, match="sessions.redis_url redis://127.0.0.1:1/0: Redis does not answer"):
        RedisFrameLog("redis://127.0.0.1:1/0", "x", 60)


async def test_a_fan_whose_replica_dies_resumes_on_another_and_misses_nothing(cache_dir, model_dir, tmp_path, redis_url):  # noqa: F811
    settings = {"sessions__backend": "redis", "sessions__redis_url": redis_url, "serving__message_burst": "4",
                "serving__messages_per_minute": "1", "dialogue__generation__max_tokens": "48"}
    first = AtelierServer(cache_dir, tmp_path, **settings).start()
    second = AtelierServer(cache_dir, tmp_path, **settings).start()
    try:
        fan = await Client.connect(first, "replica-fan")
        session = (await fan.until("ready"))["session"]
        await fan.send(type="message", id="1", text="Hi there!")
        committed = await fan.until("end")
        await fan.send(type="message", id="2", text="Tell me about your studio and the music you make there.")
        await fan.until("delta")
        first.stop(signal.SIGKILL)  # the replica dies mid-reply

        back = await Client.connect(second, "replica-fan", resume={"session": session, "last_seq": fan.last_seq})
        frames = []
        while (frame := await back.receive())["type"] != "ready":  # Client.receive fails on a seq seen twice or skipped
            frames.append(frame)
        assert frame["resumed"] and all(missed["type"] == "delta" for missed in frames)
        assert (await back.receive())["code"] == "cut_off"
        await back.send(type="message", id="1", text="Hi there!")  # committed on the dead replica: the same reply again
        again = await back.until("end")
        assert again["repeated"] and again["text"] == committed["text"]
        await back.send(type="message", id="2", text="Tell me about your studio and the music you make there.")
        fresh = await back.until("end")  # cut off: answered afresh
        assert not fresh["repeated"] and fresh["text"]
        await back.send(type="message", id="3", text="Thanks!")
        error = await back.until("end", "error")  # the fifth message of a burst of 4, counted on both replicas
        assert error["type"] == "error" and error["code"] == "rate_limited", error
        await back.close()
    finally:
        first.stop()
        second.stop()
