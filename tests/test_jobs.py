"""The job runner with real threads. Every wait is on an Event or a Condition with a generous
bound, never a sleep, and nothing asserts how long anything took."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone
from typing import Any

import pytest

from persona.engine.jobs import JobCancelled, JobRefused, JobRunner, JobSnapshot

TIMEOUT = 30.0  # seconds; only ever reached when something is broken


def reached(event: threading.Event) -> None:
    assert event.wait(TIMEOUT), "timed out waiting for the other thread"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A listener that keeps every event and lets a test wait for the one it expects."""

    def __init__(self) -> None:
        self.events: list[JobSnapshot] = []
        self._changed = threading.Condition()

    def __call__(self, job: JobSnapshot) -> None:
        with self._changed:
            self.events.append(job)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[JobSnapshot], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: any(predicate(event) for event in self.events), TIMEOUT)

    def wait_until_ended(self, job_id: str) -> None:
        self.wait_for(lambda event: event.id == job_id and event.ended)

    def of(self, job_id: str) -> list[JobSnapshot]:
        with self._changed:
            return [event for event in self.events if event.id == job_id]


class Blocker:
    """Work that says when it has started and then holds its worker until released."""

    def __init__(self, result: Any = "done") -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.result = result

    def __call__(self, progress: Callable[[str, float], None]) -> Any:
        self.started.set()
        reached(self.release)
        return self.result


def quick(progress: Callable[[str, float], None]) -> str:
    return "ok"


@pytest.fixture
def make_runner():
    runners: list[JobRunner] = []

    def make(concurrency: int = 1, max_queue: int = 16, fan_daily_quota: int = 100, **options: Any) -> JobRunner:
        runner = JobRunner(concurrency, max_queue, fan_daily_quota, **options)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close(wait=False)  # a failed test may leave work blocked: never hang on it


def start_blocker(runner: JobRunner, owner: str | None = None) -> tuple[JobSnapshot, Blocker]:
    blocker = Blocker()
    job = runner.submit("studio:render", blocker, owner=owner, title="holds the worker")
    reached(blocker.started)
    return job, blocker


# ---- order and concurrency


def test_jobs_run_first_in_first_out_with_one_worker(make_runner):
    runner = make_runner(concurrency=1)
    _, blocker = start_blocker(runner)
    order: list[int] = []
    ids = [runner.submit("print", lambda progress, n=n: order.append(n)).id for n in range(5)]
    blocker.release.set()
    assert [runner.wait(job_id, TIMEOUT).status for job_id in ids] == ["done"] * 5
    assert order == [0, 1, 2, 3, 4]


def test_no_more_than_concurrency_jobs_run_at_once(make_runner):
    runner = make_runner(concurrency=2)
    lock = threading.Lock()
    running = most = 0
    started = [threading.Event() for _ in range(3)]
    release = threading.Event()

    def work(index: int) -> Callable[[Callable[[str, float], None]], None]:
        def body(progress: Callable[[str, float], None]) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            started[index].set()
            reached(release)
            with lock:
                running -= 1

        return body

    jobs = [runner.submit("look", work(index)) for index in range(3)]
    reached(started[0])
    reached(started[1])
    third = runner.get(jobs[2].id)
    assert third is not None and third.status == "queued" and third.position == 1
    assert not started[2].is_set()
    release.set()
    assert [runner.wait(job.id, TIMEOUT).status for job in jobs] == ["done"] * 3
    assert most == 2


def test_positions_move_up_as_jobs_start(make_runner):
    runner = make_runner(concurrency=1)
    recorder = Recorder()
    runner.listen(recorder)
    _, first = start_blocker(runner)
    second = Blocker()
    b = runner.submit("look", second)
    c = runner.submit("print", quick)
    d = runner.submit("song", quick)
    assert (b.position, c.position, d.position) == (1, 2, 3)

    first.release.set()
    reached(second.started)
    now_b, now_c, now_d = (runner.get(job.id) for job in (b, c, d))
    assert now_b.status == "running" and now_b.position is None
    assert (now_c.position, now_d.position) == (1, 2)

    second.release.set()
    recorder.wait_until_ended(d.id)
    assert [event.position for event in recorder.of(d.id) if event.status == "queued"] == [3, 2, 1]


# ---- limits


def test_a_full_queue_refuses_and_says_the_limit(make_runner):
    runner = make_runner(concurrency=1, max_queue=2)
    _, blocker = start_blocker(runner)  # running, so not waiting: it does not count
    waiting = [runner.submit("look", quick), runner.submit("look", quick)]
    with pytest.raises(JobRefused) as refusal:
        runner.submit("look", quick, owner="fan-ada")
    assert refusal.value.code == "queue_full"
    assert "2 pieces already waiting" in str(refusal.value) and "the limit is 2" in str(refusal.value)

    blocker.release.set()
    for job in waiting:
        runner.wait(job.id, TIMEOUT)
    assert runner.wait(runner.submit("look", quick).id, TIMEOUT).status == "done"


def test_each_fan_has_a_daily_quota_that_starts_again_at_midnight_utc(make_runner):
    clock = FakeClock(datetime(2026, 12, 1, 23, 59, 30, tzinfo=timezone.utc).timestamp())
    runner = make_runner(fan_daily_quota=2, clock=clock)
    for _ in range(2):
        runner.wait(runner.submit("look", quick, owner="fan-ada").id, TIMEOUT)
    with pytest.raises(JobRefused) as refusal:
        runner.submit("look", quick, owner="fan-ada")
    assert refusal.value.code == "quota"
    assert "you have asked for 2 pieces today; the limit is 2 a day" in str(refusal.value)
    assert runner.submit("look", quick, owner="fan-bo").status == "queued"  # another fan has her own quota

    clock.now += 60  # 00:00:30 the next day, UTC
    assert runner.submit("look", quick, owner="fan-ada").status == "queued"


def test_refused_submissions_do_not_count_and_cancelled_ones_do(make_runner):
    runner = make_runner(concurrency=1, max_queue=1, fan_daily_quota=2)
    _, blocker = start_blocker(runner)
    first = runner.submit("look", quick, owner="fan-ada")
    with pytest.raises(JobRefused) as full:
        runner.submit("look", quick, owner="fan-ada")
    assert full.value.code == "queue_full"

    assert runner.cancel(first.id, owner="fan-ada")
    runner.submit("look", quick, owner="fan-ada")  # the refused one did not count: this is her second
    with pytest.raises(JobRefused) as quota:
        runner.submit("look", quick, owner="fan-ada")  # the cancelled one did count: quota before queue_full
    assert quota.value.code == "quota"
    blocker.release.set()


def test_studio_work_is_exempt_from_the_quota(make_runner):
    runner = make_runner(fan_daily_quota=1)
    jobs = [runner.submit("studio:print", quick) for _ in range(5)]
    assert [runner.wait(job.id, TIMEOUT).status for job in jobs] == ["done"] * 5


# ---- cancelling


def test_cancelling_a_queued_job_means_it_never_runs(make_runner):
    runner = make_runner(concurrency=1)
    _, blocker = start_blocker(runner)
    ran = threading.Event()
    queued = runner.submit("song", lambda progress: ran.set())
    assert runner.cancel(queued.id)
    assert runner.get(queued.id).status == "cancelled"
    assert not runner.cancel(queued.id)  # already finished

    blocker.release.set()
    runner.wait(runner.submit("song", quick).id, TIMEOUT)  # first in, first out: it would have run by now
    assert not ran.is_set()
    assert runner.wait(queued.id, TIMEOUT).status == "cancelled"


def test_cancelling_a_running_job_stops_it_at_its_next_step(make_runner):
    runner = make_runner(concurrency=1)
    started, go, saw_cancel = threading.Event(), threading.Event(), threading.Event()

    def work(progress: Callable[[str, float], None]) -> str:
        progress("warp", 0.1)
        started.set()
        reached(go)
        try:
            progress("weft", 0.5)
        except JobCancelled:
            saw_cancel.set()
            raise
        return "never"

    job = runner.submit("look", work)
    reached(started)
    assert runner.cancel(job.id)
    flagged = runner.get(job.id)
    assert flagged.status == "running" and flagged.cancel_requested
    go.set()
    final = runner.wait(job.id, TIMEOUT)
    assert saw_cancel.is_set()
    assert final.status == "cancelled" and final.result is None and final.error is None
    assert not runner.cancel(job.id)


def test_only_the_owner_can_cancel_or_see_a_fans_job(make_runner):
    runner = make_runner(concurrency=1)
    _, blocker = start_blocker(runner)
    job = runner.submit("look", quick, owner="fan-ada", title="a rain coat")

    assert not runner.cancel(job.id, owner="fan-bo")
    assert runner.get(job.id, owner="fan-bo") is None
    assert runner.jobs("fan-bo") == []
    assert runner.cancel("no-such-job", owner="fan-ada") is False

    assert [mine.id for mine in runner.jobs("fan-ada")] == [job.id]
    assert runner.get(job.id, owner="fan-ada").title == "a rain coat"
    assert runner.cancel(job.id, owner="fan-ada")
    assert runner.get(job.id).status == "cancelled"
    blocker.release.set()


# ---- failures, listeners, waiting


def test_a_failing_work_is_failed_with_its_message_and_the_worker_goes_on(make_runner):
    runner = make_runner(concurrency=1)

    def work(progress: Callable[[str, float], None]) -> None:
        raise ValueError("the loom snapped")

    failed = runner.wait(runner.submit("print", work).id, TIMEOUT)
    assert failed.status == "failed" and failed.error == "the loom snapped"
    after = runner.wait(runner.submit("print", lambda progress: "a tile").id, TIMEOUT)
    assert after.status == "done" and after.result == "a tile"


def test_listeners_hear_queued_running_done_with_throttled_progress(make_runner):
    runner = make_runner(clock=FakeClock(1_800_000_000.0))  # the clock stands still: only 1% steps count
    recorder = Recorder()
    runner.listen(recorder)

    def work(progress: Callable[[str, float], None]) -> str:
        for stitch in range(1, 1001):
            progress(f"stitch {stitch}", stitch / 1000)
        return "a gown"

    job = runner.submit("look", work)
    recorder.wait_until_ended(job.id)
    events = recorder.of(job.id)

    statuses = [event.status for event in events]
    assert statuses[0] == "queued" and statuses[-1] == "done"
    assert statuses == sorted(statuses, key=["queued", "running", "done"].index)  # never back

    running = [event.progress for event in events if event.status == "running"]
    assert running[0] == 0.0  # the start
    steps = running[1:]
    assert 50 <= len(steps) <= 101  # not 1000
    assert all(later - earlier >= 0.01 - 1e-9 for earlier, later in zip(steps, steps[1:]))
    assert steps[-1] == 1.0
    assert events[-1].progress == 1.0 and events[-1].result == "a gown"


def test_progress_events_also_come_every_fifth_of_a_second(make_runner):
    clock = FakeClock(1_800_000_000.0)
    runner = make_runner(clock=clock)
    recorder = Recorder()
    runner.listen(recorder)

    def work(progress: Callable[[str, float], None]) -> None:
        progress("pleat", 0.001)  # too small and too soon: no event
        progress("pleat", 0.002)
        clock.now += 0.2
        progress("hem", 0.003)  # too small, but a fifth of a second later: an event

    job = runner.submit("look", work)
    recorder.wait_until_ended(job.id)
    running = [(event.step, event.progress) for event in recorder.of(job.id) if event.status == "running"]
    assert running == [("", 0.0), ("hem", 0.003)]


def test_a_raising_listener_is_logged_and_breaks_nothing(make_runner, caplog):
    runner = make_runner(concurrency=1)

    def broken(job: JobSnapshot) -> None:
        raise RuntimeError("the listener tripped")

    runner.listen(broken)
    recorder = Recorder()
    runner.listen(recorder)
    jobs = [runner.submit("song", lambda progress: progress("verse", 0.5) or "a song") for _ in range(2)]
    for job in jobs:
        recorder.wait_until_ended(job.id)
        assert runner.wait(job.id, TIMEOUT).status == "done"
    assert "a job listener failed" in caplog.text and "the listener tripped" in caplog.text


def test_unsubscribed_listeners_hear_nothing_more(make_runner):
    runner = make_runner()
    gone, stays = Recorder(), Recorder()
    unsubscribe = runner.listen(gone)
    runner.listen(stays)
    unsubscribe()
    job = runner.submit("print", quick)
    stays.wait_until_ended(job.id)
    assert gone.events == []


def test_wait_is_bounded_and_knows_its_jobs(make_runner):
    runner = make_runner(concurrency=1)
    job, blocker = start_blocker(runner)
    with pytest.raises(TimeoutError):
        runner.wait(job.id, timeout=0.01)
    with pytest.raises(KeyError):
        runner.wait("no-such-job")
    blocker.release.set()
    assert runner.wait(job.id, TIMEOUT).result == "done"


def test_snapshots_do_not_change_under_the_listener(make_runner):
    runner = make_runner()
    job = runner.submit("look", quick)
    assert job.status == "queued"
    with pytest.raises(FrozenInstanceError):
        job.status = "done"  # type: ignore[misc]
    assert runner.wait(job.id, TIMEOUT).status == "done"
    assert job.status == "queued"


def test_finished_jobs_are_forgotten_by_count_and_by_age(make_runner):
    clock = FakeClock(1_800_000_000.0)
    runner = make_runner(clock=clock, keep_finished=2, keep_finished_s=600)
    ids = [runner.wait(runner.submit("look", quick, owner="fan-ada").id, TIMEOUT).id for _ in range(3)]
    assert [job.id for job in runner.jobs("fan-ada")] == [ids[2], ids[1]]  # newest first, the oldest forgotten

    clock.now += 601
    assert runner.jobs("fan-ada") == []
    assert runner.get(ids[2]) is None


# ---- run(), for the studio's synchronous handlers


def test_run_returns_the_result_and_passes_progress_on(make_runner):
    runner = make_runner()
    seen: list[tuple[str, float]] = []
    caller_saw_drape = threading.Event()

    def show(step: str, fraction: float) -> None:
        seen.append((step, fraction))
        if step == "drape":
            caller_saw_drape.set()

    def work(progress: Callable[[str, float], None]) -> int:
        progress("drape", 0.5)
        reached(caller_saw_drape)
        return 42

    assert runner.run("studio:look", work, title="a drape", progress=show) == 42
    assert ("drape", 0.5) in seen


def test_run_raises_the_works_own_error(make_runner):
    runner = make_runner()

    def work(progress: Callable[[str, float], None]) -> None:
        raise ValueError("no such fabric: 'moonsilk'")

    with pytest.raises(ValueError, match="no such fabric"):
        runner.run("studio:print", work)
    assert runner.wait(runner.submit("print", quick).id, TIMEOUT).status == "done"


def test_run_cancels_the_job_when_the_callers_progress_raises(make_runner):
    runner = make_runner()
    flagged, work_saw_cancel = threading.Event(), threading.Event()
    runner.listen(lambda job: job.cancel_requested and flagged.set())

    def cancel_button(step: str, fraction: float) -> None:
        if step == "half":
            raise JobCancelled()

    def work(progress: Callable[[str, float], None]) -> str:
        progress("half", 0.5)
        reached(flagged)
        try:
            progress("more", 0.6)
        except JobCancelled:
            work_saw_cancel.set()
            raise
        return "never"

    with pytest.raises(JobCancelled):
        runner.run("studio:music", work, progress=cancel_button)
    assert work_saw_cancel.is_set()
    assert runner.jobs(None)[0].status == "cancelled"


def test_run_can_be_cancelled_while_it_waits_in_the_queue(make_runner):
    runner = make_runner(concurrency=1)
    _, blocker = start_blocker(runner)
    ran = threading.Event()
    raised: list[BaseException] = []

    def cancel_button(step: str, fraction: float) -> None:
        if step.startswith("waiting in the queue"):
            raise JobCancelled()

    def studio_handler() -> None:
        try:
            runner.run("studio:look", lambda progress: ran.set(), progress=cancel_button)
        except BaseException as error:
            raised.append(error)

    handler = threading.Thread(target=studio_handler)
    handler.start()
    handler.join(TIMEOUT)
    assert not handler.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], JobCancelled)
    blocker.release.set()
    runner.wait(runner.submit("look", quick).id, TIMEOUT)
    assert not ran.is_set()


# ---- closing


def test_close_refuses_new_work_cancels_the_queue_and_lets_running_jobs_finish(make_runner):
    runner = make_runner(concurrency=1)
    recorder = Recorder()
    runner.listen(recorder)
    running, blocker = start_blocker(runner)
    queued = runner.submit("song", quick)

    closer = threading.Thread(target=runner.close)
    closer.start()
    recorder.wait_until_ended(queued.id)
    assert runner.get(queued.id).status == "cancelled"
    with pytest.raises(JobRefused) as refusal:
        runner.submit("song", quick, owner="fan-ada")
    assert refusal.value.code == "closed"
    with pytest.raises(JobRefused):
        runner.run("studio:song", quick)

    blocker.release.set()
    closer.join(TIMEOUT)
    assert not closer.is_alive()
    assert runner.get(running.id).status == "done"


def test_close_without_waiting_cancels_running_jobs(make_runner):
    runner = make_runner(concurrency=1)
    started, flagged = threading.Event(), threading.Event()
    runner.listen(lambda job: job.cancel_requested and flagged.set())

    def work(progress: Callable[[str, float], None]) -> str:
        started.set()
        reached(flagged)
        progress("one more stem", 0.9)
        return "never"

    job = runner.submit("song", work)
    reached(started)
    runner.close(wait=False)
    assert runner.wait(job.id, TIMEOUT).status == "cancelled"
