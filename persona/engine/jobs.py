"""The one job runner for creative work (a look, a print, a song, a studio render), shared by
fans' chat and the studio: one FIFO queue, one limit on how many model-bound jobs run at once,
a daily quota per fan, cancellation between steps, and events for whoever shows progress.

    runner = JobRunner(concurrency=1, max_queue=32, fan_daily_quota=20)

    # the chat (an asyncio loop): submit, and hop every event onto the loop
    unsubscribe = runner.listen(lambda job: loop.call_soon_threadsafe(send_update, job))
    job = runner.submit("song", compose, owner=fan_id, title="a song for the rain")

    # the studio (a Gradio worker thread): block until the job ends, progress on the Gradio bar
    bundle = runner.run("studio:music", export, progress=reporter(progress, cancelled))

A work function is plain code on a worker thread: `work(progress)`, where `progress(step,
fraction)` records where it is and raises JobCancelled once the job was cancelled, so pipelines
stop between steps and clean up after themselves. There is no asyncio in here.
"""

from __future__ import annotations

import enum
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from typing import Any, Literal

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
RefusalCode = Literal["quota", "queue_full", "closed"]
ENDED: frozenset[str] = frozenset({"done", "failed", "cancelled"})

Progress = Callable[[str, float], None]
Work = Callable[[Progress], Any]
Listener = Callable[["JobSnapshot"], None]

PROGRESS_EVENT_STEP = 0.01  # listeners hear of progress at most once per 1% ...
PROGRESS_EVENT_INTERVAL_S = 0.2  # ... or once per 0.2 s of the runner's clock
RUN_POLL_S = 0.5  # run() calls its caller's progress at least this often, so a Cancel button is seen while queued
KEEP_FINISHED = 1000  # finished jobs remembered for get() and jobs() ...
KEEP_FINISHED_S = 3600.0  # ... and for at most this long


class JobCancelled(Exception):
    """Raised inside work by its progress callback once the job was cancelled."""


class JobRefused(Exception):
    """A job the runner did not take; `code` says why, the message says the limit."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Anyone(enum.Enum):
    ANYONE = "anyone"


ANYONE = _Anyone.ANYONE
"""The default `owner` of get(), cancel() and jobs(): any job, whoever owns it (operators)."""

OwnerFilter = str | None | Literal[_Anyone.ANYONE]


@dataclass(frozen=True)
class JobSnapshot:
    """One job as it was at one moment: what listeners, get(), jobs() and wait() hand out."""

    id: str
    kind: str
    owner: str | None
    title: str
    request: str | None
    status: JobStatus
    progress: float
    step: str
    position: int | None
    result: Any
    error: str | None
    created: float
    started: float | None
    finished: float | None
    cancel_requested: bool

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclass
class Job:
    """The runner's live record of one job. The runner changes it from several threads under its
    lock, so everyone else reads it through `snapshot()`."""

    id: str
    kind: str
    owner: str | None  # the fan who asked; None for studio work
    title: str
    request: str | None = None  # the caller's id for what asked for it (a fan's message or create id)
    status: JobStatus = "queued"
    progress: float = 0.0
    step: str = ""
    position: int | None = None  # 1-based place in the queue while queued
    result: Any = None
    error: str | None = None  # what went wrong, for failed jobs
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _work: Work | None = field(default=None, repr=False, compare=False)
    _exception: BaseException | None = field(default=None, repr=False, compare=False)  # re-raised by run()
    _reported_progress: float = field(default=0.0, repr=False, compare=False)
    _reported_at: float = field(default=0.0, repr=False, compare=False)

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(**{name.name: getattr(self, name.name) for name in fields(JobSnapshot)})


class JobRunner:
    """`concurrency` worker threads take jobs first in, first out. Fans (owner set) may submit
    `fan_daily_quota` jobs per UTC day by `clock`; studio work (owner None) is exempt. At most
    `max_queue` jobs wait at once, whoever asked.

    Listeners are called with a JobSnapshot on every status change, on progress (throttled) and
    when a queued job's place in the queue changes, in the order the changes happened. They run
    on whichever thread made the change (a worker, or the thread that called submit() or
    cancel()), so keep them quick: an asyncio consumer hops with `loop.call_soon_threadsafe`.
    A listener that raises is logged and skipped.
    """

    def __init__(
        self,
        concurrency: int,
        max_queue: int,
        fan_daily_quota: int,
        clock: Callable[[], float] = time.time,
        *,
        keep_finished: int = KEEP_FINISHED,
        keep_finished_s: float = KEEP_FINISHED_S,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        if fan_daily_quota < 0:
            raise ValueError(f"fan_daily_quota must be 0 or more, got {fan_daily_quota}")
        self._max_queue = max_queue
        self._fan_daily_quota = fan_daily_quota
        self._clock = clock
        self._keep_finished = keep_finished
        self._keep_finished_s = keep_finished_s

        self._lock = threading.Lock()
        self._work_waiting = threading.Condition(self._lock)  # workers wait here for the queue
        self._job_changed = threading.Condition(self._lock)  # wait() and run() wait here
        self._jobs: dict[str, Job] = {}  # in submission order
        self._queue: deque[Job] = deque()
        self._finished: deque[Job] = deque()  # in finishing order, for forgetting old ones
        self._quota_day: date | None = None
        self._asked_today: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._outbox: deque[JobSnapshot] = deque()  # events not yet handed to the listeners
        self._delivering = False
        self._closed = False

        self._workers = [
            threading.Thread(target=self._work_loop, name=f"atelier-jobs-{number}", daemon=True)
            for number in range(concurrency)
        ]
        for worker in self._workers:
            worker.start()

    # ---- asking for work

    def submit(self, kind: str, work: Work, *, owner: str | None = None, title: str = "", request: str | None = None) -> JobSnapshot:
        """Queue `work(progress)` to run on a worker thread and return the queued job at once.
        Raises JobRefused when the runner is closed, the fan's daily quota is used up or the
        queue is full (refused submissions do not count against the quota)."""
        with self._lock:
            job = self._enqueue(kind, work, owner, title, request)
            view = job.snapshot()
        self._deliver()
        return view

    def run(self, kind: str, work: Work, *, title: str = "", progress: Progress | None = None) -> Any:
        """Studio work from a synchronous handler: submit as owner None, block this thread until
        the job ends and return what the work returned, or raise what it raised (JobCancelled
        when cancelled). The job's progress is passed on to `progress(step, fraction)` on this
        thread, also while queued and at least every RUN_POLL_S; when it raises (JobCancelled
        from a Cancel button, say) the job is cancelled, and once it has ended that error is
        raised here."""
        with self._lock:
            job = self._enqueue(kind, work, None, title)
        self._deliver()
        shown: tuple[Any, ...] | None = None
        caller_error: Exception | None = None
        while True:
            with self._lock:
                self._job_changed.wait_for(lambda: job.ended or _progress_state(job) != shown, RUN_POLL_S)
                view = job.snapshot()
            if view.ended:
                break
            shown = _progress_state(view)
            if progress is not None and caller_error is None:
                try:
                    progress(_describe(view), view.progress)
                except Exception as error:  # JobCancelled from the caller's Cancel button, or its own failure
                    caller_error = error
                    self.cancel(job.id)
        if caller_error is not None:
            raise caller_error
        if view.status == "done":
            return view.result
        raise job._exception or JobCancelled(f"job {job.id} was cancelled")

    def cancel(self, job_id: str, owner: OwnerFilter = ANYONE) -> bool:
        """Cancel a job: a queued one at once (it never runs); a running one is flagged, its
        next progress call raises JobCancelled and it ends as cancelled (whatever the work then
        does). False for a finished or unknown job, or, with `owner` given, another owner's."""
        with self._lock:
            job = self._find(job_id, owner)
            if job is None or job.ended:
                return False
            if job.status == "queued":
                self._queue.remove(job)
                job._cancel.set()
                self._end(job, "cancelled", exception=JobCancelled(f"job {job.id} was cancelled before it started"))
                self._renumber()
            elif not job._cancel.is_set():
                job._cancel.set()
                self._changed(job)  # listeners can show "cancelling" while the work winds down
        self._deliver()
        return True

    def close(self, wait: bool = True) -> None:
        """Take no new work (JobRefused "closed") and cancel the queued jobs. With `wait`, let
        the running jobs finish and join the worker threads; without, flag the running jobs as
        cancelled and return at once (the workers exit after their current job)."""
        with self._lock:
            self._closed = True
            while self._queue:
                job = self._queue.popleft()
                job._cancel.set()
                self._end(job, "cancelled", exception=JobCancelled(f"job {job.id} was cancelled: the runner closed"))
            if not wait:
                for job in self._jobs.values():
                    if job.status == "running" and not job._cancel.is_set():
                        job._cancel.set()
                        self._changed(job)
            self._work_waiting.notify_all()
        self._deliver()
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- looking at work

    def get(self, job_id: str, owner: OwnerFilter = ANYONE) -> JobSnapshot | None:
        """The job now; None when unknown, forgotten, or (with `owner` given) another owner's."""
        with self._lock:
            job = self._find(job_id, owner)
            return None if job is None else job.snapshot()

    def jobs(self, owner: OwnerFilter = ANYONE) -> list[JobSnapshot]:
        """That owner's jobs (None: the studio's), newest first; finished ones are remembered
        for `keep_finished_s` and at most `keep_finished` of them."""
        with self._lock:
            self._forget_old()
            return [job.snapshot() for job in reversed(self._jobs.values()) if owner is ANYONE or job.owner == owner]

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job has ended and return it. KeyError for an unknown job,
        TimeoutError when it is still queued or running after `timeout` seconds."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            if not self._job_changed.wait_for(lambda: job.ended, timeout):
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            return job.snapshot()

    def listen(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(job_snapshot)` on every change (see the class); returns unsubscribe."""
        with self._lock:
            self._listeners = [*self._listeners, callback]

        def unsubscribe() -> None:
            with self._lock:
                listeners = list(self._listeners)
                if callback in listeners:
                    listeners.remove(callback)
                self._listeners = listeners

        return unsubscribe

    # ---- inside, always under self._lock unless said otherwise

    def _enqueue(self, kind: str, work: Work, owner: str | None, title: str, request: str | None = None) -> Job:
        self._admit(owner)
        if owner is not None:
            self._asked_today[owner] = self._asked_today.get(owner, 0) + 1
        job = Job(id=secrets.token_urlsafe(8), kind=kind, owner=owner, title=title, request=request, created=self._clock(), _work=work)
        self._forget_old()
        self._jobs[job.id] = job
        self._queue.append(job)
        job.position = len(self._queue)
        self._changed(job)
        self._work_waiting.notify()
        return job

    def _admit(self, owner: str | None) -> None:
        if self._closed:
            raise JobRefused("closed", "the job runner is closed: it takes no new work")
        if owner is not None:
            today = _utc_day(self._clock())
            if today != self._quota_day:  # a new day: yesterday's counts go, so memory stays bounded
                self._quota_day, self._asked_today = today, {}
            asked = self._asked_today.get(owner, 0)
            if asked >= self._fan_daily_quota:
                raise JobRefused(
                    "quota",
                    f"you have asked for {_pieces(asked)} today; the limit is {self._fan_daily_quota} a day "
                    "(it starts again at midnight UTC)",
                )
        if len(self._queue) >= self._max_queue:
            raise JobRefused(
                "queue_full",
                f"{_pieces(len(self._queue))} already waiting in the queue; the limit is {self._max_queue}: "
                "try again in a few minutes",
            )

    def _find(self, job_id: str, owner: OwnerFilter) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or (owner is not ANYONE and job.owner != owner):
            return None  # another owner's job looks exactly like an unknown one
        return job

    def _changed(self, job: Job) -> None:
        self._outbox.append(job.snapshot())
        self._job_changed.notify_all()

    def _renumber(self) -> None:
        for place, job in enumerate(self._queue, start=1):
            if job.position != place:
                job.position = place
                self._changed(job)

    def _end(self, job: Job, status: JobStatus, result: Any = None, exception: BaseException | None = None) -> None:
        job.status, job.result, job.finished, job.position = status, result, self._clock(), None
        job._exception, job._work = exception, None  # the work's closure may hold a lot
        if status == "done":
            job.progress = 1.0
        if status == "failed":
            job.error = str(exception) or type(exception).__name__
        self._finished.append(job)
        self._forget_old()
        self._changed(job)

    def _forget_old(self) -> None:
        cutoff = self._clock() - self._keep_finished_s
        while self._finished and (len(self._finished) > self._keep_finished or self._finished[0].finished < cutoff):
            self._jobs.pop(self._finished.popleft().id, None)

    # ---- the worker threads (not under the lock)

    def _work_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._work_waiting.wait()
                if not self._queue:  # closed, and close() emptied the queue
                    return
                job = self._queue.popleft()
                job.status, job.started, job.position = "running", self._clock(), None
                job._reported_at = job.started
                work = job._work
                self._changed(job)
                self._renumber()
            self._deliver()
            self._perform(job, work)

    def _perform(self, job: Job, work: Work | None) -> None:
        status: JobStatus
        result: Any = None
        exception: BaseException | None = None
        try:
            assert work is not None
            result = work(self._progress_for(job))
        except BaseException as error:  # anything, so the worker thread lives on to take the next job
            exception = error
            status = "cancelled" if isinstance(error, JobCancelled) or job._cancel.is_set() else "failed"
            if status == "failed":
                logger.warning("job %s (%s) failed: %s", job.id, job.kind, error, exc_info=error)
        else:
            status = "cancelled" if job._cancel.is_set() else "done"  # cancel() said True: the result is not wanted
            if status == "cancelled":
                result, exception = None, JobCancelled(f"job {job.id} was cancelled")
        with self._lock:
            self._end(job, status, result, exception)
        self._deliver()

    def _progress_for(self, job: Job) -> Progress:
        def progress(step: str, fraction: float) -> None:
            if job._cancel.is_set():
                raise JobCancelled(f"job {job.id} was cancelled")
            fraction = min(fraction, 1.0) if fraction >= 0.0 else 0.0  # NaN becomes 0
            with self._lock:
                if job.status != "running":
                    return
                job.step, job.progress = step, fraction
                self._job_changed.notify_all()
                now = self._clock()
                finishing = fraction >= 1.0 > job._reported_progress
                moved = abs(fraction - job._reported_progress) >= PROGRESS_EVENT_STEP - 1e-9
                if not (finishing or moved or now - job._reported_at >= PROGRESS_EVENT_INTERVAL_S):
                    return
                job._reported_progress, job._reported_at = fraction, now
                self._outbox.append(job.snapshot())
            self._deliver()

        return progress

    def _deliver(self) -> None:
        """Hand the outbox to the listeners, outside the lock. One thread delivers at a time,
        so listeners see the changes in the order they happened; a thread that finds another
        delivering leaves its events to that one (which also makes a listener calling back into
        the runner safe)."""
        with self._lock:
            if self._delivering:
                return
            self._delivering = True
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._delivering = False
                        return
                    event = self._outbox.popleft()
                    listeners = self._listeners
                for listener in listeners:
                    try:
                        listener(event)
                    except Exception:
                        logger.exception("a job listener failed on job %s (%s)", event.id, event.status)
        except BaseException:  # KeyboardInterrupt and the like: let the next thread deliver
            with self._lock:
                self._delivering = False
            raise


def _utc_day(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, timezone.utc).date()


def _pieces(count: int) -> str:
    return "1 piece" if count == 1 else f"{count} pieces"


def _progress_state(job: Job | JobSnapshot) -> tuple[Any, ...]:
    return (job.status, job.step, job.progress, job.position)


def _describe(job: JobSnapshot) -> str:
    if job.status == "queued":
        return f"waiting in the queue (place {job.position})"
    return job.step or "starting"
