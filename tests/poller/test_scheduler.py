"""The scheduled tick: one UTC BackgroundScheduler, a fixed job that never overlaps, leases given back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from bot.domain.tracking import JobTracker
from bot.poller import PERIODIC_JOB_PREFIX, POLL_JOB_ID, Poller
from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus
from storage.types import utcnow
from tests.poller import support
from tests.poller.conftest import Bot


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_the_poller_ticks_on_a_coalescing_single_instance_utc_schedule_and_gives_leases_back_on_stop(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    sim = simulator(support.world(1))
    bot = make_bot(sim)
    (migration,) = support.start_migrations(db, bot.cloud, count=1, channels=[MIGRATIONS_CHANNEL])
    sim.advance(30)
    ticks: list[tuple[float, bool]] = []
    swept = threading.Event()
    tracker = JobTracker(db, bot.cloud, owner="scheduled", clock=sim.clock.now)
    poller = Poller(
        tracker,
        interval=timedelta(seconds=30),
        periodic={"approvals.sweep": swept.set},
        periodic_interval=timedelta(seconds=0.2),
        observer=lambda seconds, ok: ticks.append((seconds, ok)),
    )
    poller.start()
    try:
        wait_for(lambda: poller.last_success_at is not None)
        wait_for(swept.is_set)
        scheduler = poller.scheduler
        assert scheduler is not None and poller.running
        assert scheduler.timezone == UTC
        job = scheduler.get_job(POLL_JOB_ID)
        assert job is not None and job.coalesce and job.max_instances == 1
        assert job.trigger.interval == timedelta(seconds=30)
        assert scheduler.get_job(PERIODIC_JOB_PREFIX + "approvals.sweep") is not None
        assert ticks and ticks[0][1]
        report = poller.last_report
        assert report is not None and report.claimed == 1 and report.written == 1
        # A lease still held when the process stops (a claim whose tick never finished) is given back.
        now = sim.advance(60)
        with db.unit_of_work() as s:
            claimed = repo.claim_due_job_rows(
                s,
                owner="scheduled",
                now=now,
                lease=timedelta(minutes=5),
                limit=10,
                active=[JobStatus.RUNNING],
            )
            assert [row["job_id"] for row in claimed] == [migration.job_id]
    finally:
        poller.stop()
    assert not poller.running
    with db.unit_of_work() as s:
        job_row = repo.get_job(s, migration.job_id)
        assert job_row is not None and job_row.lease_owner is None and job_row.status is JobStatus.RUNNING


def test_a_tick_that_fails_is_logged_and_reported_not_raised() -> None:
    ticks: list[bool] = []
    unreachable = Database("sqlite:////nonexistent-dir/never.db")
    tracker = JobTracker(unreachable, support.gateway("http://127.0.0.1:9"), owner="broken", clock=utcnow)
    poller = Poller(tracker, interval=timedelta(seconds=30), observer=lambda seconds, ok: ticks.append(ok))
    assert poller.run_tick() is None
    assert ticks == [False] and poller.last_success_at is None
