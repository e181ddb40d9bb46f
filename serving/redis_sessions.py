"""Session state in Redis, so that any gateway replica can resume a fan's session
(`sessions.backend: redis`): the frame log and resume window, idempotent replies, pieces held
for a fan's next hello, and the fans' rate limits, shared by every replica.

    atelier:<persona>:frames:<session>    a Stream of every frame of the session, each with the
                                          id "<seq>-1", bounded by MAXLEN; XRANGE from a client's
                                          last_seq gives exactly what it missed, deltas included
    atelier:<persona>:session:<session>   a hash: fan, last logged seq, turns started / answered
    atelier:<persona>:reply:<fan>:<msg>   the `end` frame that answered that message id
    atelier:<persona>:held:<fan>          a hash: artifact id -> {"job", "at"}
    atelier:<persona>:rate:<fan>          a token bucket, updated by one Lua script (atomic)

Everything but held pieces expires after the resume window. Frames stream to Redis from a
writer thread in order, pipelined, off the event loop; a frame that answers a turn (`end`, or
an `error` of the turn) waits until it and every frame before it are in Redis before it is sent:
what was committed is never lost with a replica. A replica that dies may take the last few
milliseconds of deltas with it; their turn was not committed, so the fan gets `cut_off` and
sends the message again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent.futures import Future

log = logging.getLogger(__name__)

FLUSH_BATCH = 512  # frames in one pipeline at most
TOKEN_BUCKET = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(bucket[1]) or burst
local updated = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local taken = 0
if tokens >= 1 then tokens = tokens - 1; taken = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return taken
"""


def connect(url: str):
    """A client of the Redis at `url`, checked now so a wrong URL fails at start, by name."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
    try:
        client.ping()
    except redis.RedisError as error:
        raise ConnectionError(f"sessions.redis_url {url}: Redis does not answer ({error})") from None
    return client


class RedisFrameLog:
    """The same interface as serving.sessions.FrameLog, kept in Redis for every replica."""

    def __init__(self, url: str, persona: str, window_s: float, max_frames: int = 4096):
        self.redis = connect(url)
        self.window_s = window_s
        self.ttl_s = max(1, int(window_s))
        self.max_frames = max_frames
        self.prefix = f"atelier:{persona}:"
        self._pending: queue.SimpleQueue[tuple[str, int, str] | Future | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_frames, name="atelier-redis-frames", daemon=True)
        self._writer.start()

    # --- every frame ---------------------------------------------------------------------

    def stream(self, session: str, seq: int, frame: str) -> None:
        """Every frame of a session, in order; written by the writer thread."""
        self._pending.put((session, seq, frame))

    def flush(self) -> None:
        """Until every frame streamed so far is in Redis."""
        done: Future = Future()
        self._pending.put(done)
        done.result(timeout=30)

    def _write_frames(self) -> None:
        while True:
            item = self._pending.get()
            batch = [item]
            while len(batch) < FLUSH_BATCH:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            frames = [entry for entry in batch if isinstance(entry, tuple)]
            try:
                if frames:
                    pipe = self.redis.pipeline(transaction=False)
                    for session, seq, frame in frames:
                        key = self._key("frames", session)
                        pipe.xadd(key, {"f": frame}, id=f"{seq}-1", maxlen=self.max_frames, approximate=True)
                        pipe.expire(key, self.ttl_s)
                    pipe.execute(raise_on_error=False)  # a frame id that went backwards (a restored session) is skipped
            except Exception as error:  # noqa: BLE001 - Redis is gone: frames are lost, durable writes will say so
                log.warning("frames could not be written to Redis: %s", error)
            for entry in batch:
                if entry is None:
                    return
                if isinstance(entry, Future):
                    entry.set_result(None)

    # --- what answers turns -------------------------------------------------------------

    def start_turn(self, session: str, fan_id: str, turn: int, seq: int) -> None:
        key = self._key("session", session)
        pipe = self.redis.pipeline()
        pipe.hsetnx(key, "fan", fan_id)
        pipe.hsetnx(key, "last_seq", seq)
        pipe.hsetnx(key, "answered", 0)
        pipe.hset(key, "started", turn)
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def record(self, session: str, fan_id: str, seq: int, turn: int, frame: str, message_id: str | None) -> None:
        """A frame that answers `turn`: in Redis, after every frame before it, before it is sent."""
        self.stream(session, seq, frame)
        self.flush()
        key = self._key("session", session)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={"fan": fan_id, "last_seq": seq})
        pipe.hsetnx(key, "started", turn)
        pipe.hget(key, "answered")
        pipe.expire(key, self.ttl_s)
        if message_id is not None:
            pipe.set(self._key("reply", f"{fan_id}:{message_id}"), frame, ex=self.ttl_s)
        answered = pipe.execute()[2]
        if int(answered or 0) < turn:
            self.redis.hset(key, "answered", turn)

    def session(self, session: str) -> tuple[str, int, int, int] | None:
        """(fan id, newest seq in Redis, turns started, turns answered), or None."""
        found = self.redis.hgetall(self._key("session", session))
        if not found.get("fan"):
            return None
        self.flush()
        newest = max(int(found.get("last_seq", 0)), self.last_streamed(session))
        return found["fan"], newest, int(found.get("started", 0)), int(found.get("answered", 0))

    def frames_after(self, session: str, seq: int) -> list[str]:
        """Every frame after `seq` still in the stream (deltas too), oldest first."""
        self.flush()
        return [fields["f"] for _, fields in self.redis.xrange(self._key("frames", session), min=f"({seq}-1", max="+")]

    def last_streamed(self, session: str) -> int:
        """The seq of the session's newest frame in Redis (0 for none)."""
        newest = self.redis.xrevrange(self._key("frames", session), count=1)
        return int(newest[0][0].split("-")[0]) if newest else 0

    def reply_to(self, fan_id: str, message_id: str) -> str | None:
        return self.redis.get(self._key("reply", f"{fan_id}:{message_id}"))

    def hold(self, fan_id: str, artifact_id: str, job: str | None) -> None:
        self.redis.hset(self._key("held", fan_id), artifact_id, json.dumps({"job": job, "at": time.time()}))

    def held(self, fan_id: str) -> list[tuple[str, str | None]]:
        entries = [(artifact_id, json.loads(value)) for artifact_id, value in self.redis.hgetall(self._key("held", fan_id)).items()]
        return [(artifact_id, value["job"]) for artifact_id, value in sorted(entries, key=lambda entry: entry[1]["at"])]

    def delivered(self, fan_id: str, artifact_ids: list[str]) -> None:
        if artifact_ids:
            self.redis.hdel(self._key("held", fan_id), *artifact_ids)

    def prune(self, now: float | None = None) -> None:
        """Nothing to do: every key expires with the resume window."""

    def close(self) -> None:
        self._pending.put(None)
        self._writer.join(timeout=10)
        self.redis.close()

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"


class RedisRateLimits:
    """FanRateLimits across replicas: one token bucket per fan in Redis, taken atomically."""

    def __init__(self, url: str, persona: str, rate: float, burst: int):
        self.redis = connect(url)
        self.rate = rate
        self.burst = burst
        self.prefix = f"atelier:{persona}:rate:"
        self._take = self.redis.register_script(TOKEN_BUCKET)

    def take(self, fan_id: str) -> bool:
        return bool(self._take(keys=[self.prefix + fan_id], args=[self.rate, self.burst]))
