"""After-ack work: the queued lane is bounded, the immediate lane is not held up by it, drain sees both."""

from __future__ import annotations

import functools
import gc
import logging
import threading

import pytest

from bot.inflight import InFlight
from bot.services import Background

WAIT = 10.0


def test_queued_work_runs_at_most_the_lane_size_at_once_and_all_of_it_runs() -> None:
    background = Background()
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0
    done: list[int] = []

    def work(n: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(WAIT)
        with lock:
            running -= 1
            done.append(n)

    for n in range(3 * Background.QUEUED_THREADS):
        background.queue(functools.partial(work, n), name="vote")
    assert not background.drain(0.2), "the queued work is still held"
    release.set()
    assert background.drain(WAIT)
    assert most == Background.QUEUED_THREADS
    assert sorted(done) == list(range(3 * Background.QUEUED_THREADS))


def test_immediate_work_starts_while_the_queued_lane_is_full() -> None:
    background = Background()
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        release.wait(WAIT)

    for _ in range(Background.QUEUED_THREADS + 2):
        background.queue(hold, name="vote")
    background.run(started.set, name="views-update")
    try:
        assert started.wait(WAIT), "a modal update waited behind queued votes"
    finally:
        release.set()
    assert background.drain(WAIT)


def test_a_failing_task_is_logged_and_does_not_stop_the_lane(caplog: pytest.LogCaptureFixture) -> None:
    background = Background()
    after: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        for _ in range(Background.QUEUED_THREADS):
            background.queue(broken, name="answer")
        background.queue(lambda: after.append("ran"), name="answer")
        background.run(broken, name="modal")
        assert background.drain(WAIT)
    assert after == ["ran"]
    failures = [r for r in caplog.records if "background work failed" in r.getMessage()]
    assert len(failures) == Background.QUEUED_THREADS + 1


def test_queued_work_waits_for_the_requests_in_flight_and_immediate_work_does_not() -> None:
    background = Background(InFlight(limit_s=WAIT))
    queued, immediate = threading.Event(), threading.Event()
    with background.in_flight.serving():
        background.queue(queued.set, name="vote")
        background.run(immediate.set, name="views-update")
        assert immediate.wait(WAIT), "a modal update waited for the requests in flight"
        assert not queued.wait(0.3), "queued work ran while a request was being answered"
        assert background.pending == 1
    assert queued.wait(WAIT), "queued work did not start once no request was in flight"
    assert background.drain(WAIT)
    assert background.pending == 0


def test_queued_work_runs_anyway_once_it_waited_the_limit() -> None:
    background = Background(InFlight(limit_s=0.2))
    ran = threading.Event()
    with background.in_flight.serving():  # requests never stop: the limit bounds the wait
        background.queue(ran.set, name="vote")
        assert ran.wait(WAIT)


def test_a_failure_is_handed_to_the_callback_with_the_logged_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = Background()
    told: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        background.queue(broken, name="vote", failed=told.append)
        background.run(broken, name="modal", failed=told.append)
        assert background.drain(WAIT)
    assert len(told) == 2 and all(len(ref) == 8 for ref in told)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(f"ref={ref}" in logged for ref in told)


def test_a_waiting_task_leaves_the_garbage_collector_little_to_walk() -> None:
    """Under a burst thousands of tasks wait behind the acks; each was ~24 tracked objects in an executor."""
    background = Background(InFlight(limit_s=WAIT))
    with background.in_flight.serving():
        gc.collect()
        before = len(gc.get_objects())
        for n in range(1000):
            background.queue(functools.partial(str, n), name="answer")
        gc.collect()
        per_task = (len(gc.get_objects()) - before) / 1000
    assert background.drain(WAIT)
    assert per_task < 4, f"{per_task:.1f} tracked objects per waiting task"
