"""The scheduled tick: APScheduler runs the job tracker every SMC_BOT_POLL_SECONDS, and housekeeping.

One BackgroundScheduler per process (SLACK_NOTES: APScheduler 3.x). Its job store is not shared: several
replicas each run their own scheduler and coordinate through the database, where a tick leases the jobs
it polls, so no two replicas poll or post the same job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.domain.housekeeping import Housekeeper, HousekeepingReport
from bot.domain.tracking import JobTracker, TickReport

log = logging.getLogger(__name__)

POLL_JOB_ID = "smc-poll"
HOUSEKEEPING_JOB_ID = "smc-housekeeping"

PERIODIC_JOB_PREFIX = "periodic:"

PollObserver = Callable[[float, bool], None]
"""Metrics hook: (seconds, succeeded) of one tick."""

Periodic = Callable[[], None]


class Poller:
    """Runs `tracker.tick()` on a fixed interval (and housekeeping less often) until stopped."""

    def __init__(
        self,
        tracker: JobTracker,
        *,
        interval: timedelta,
        housekeeper: Housekeeper | None = None,
        housekeeping_interval: timedelta = timedelta(minutes=5),
        periodic: Mapping[str, Periodic] | None = None,
        periodic_interval: timedelta = timedelta(minutes=1),
        observer: PollObserver | None = None,
    ) -> None:
        self.tracker = tracker
        self.housekeeper = housekeeper
        self._interval = interval
        self._housekeeping_interval = housekeeping_interval
        self._periodic = dict(periodic or {})
        """Other features' compare-and-set-safe jobs (`bot.tasks.periodic_jobs`), on this scheduler."""
        self._periodic_interval = periodic_interval
        self._observer = observer
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self.last_success_at: datetime | None = None
        """Wall-clock time of the last tick that finished without an exception (for /healthz)."""
        self.last_report: TickReport | None = None

    @property
    def scheduler(self) -> BackgroundScheduler | None:
        """The APScheduler instance while started (for health checks and tests)."""
        return self._scheduler

    @property
    def running(self) -> bool:
        scheduler = self._scheduler
        return scheduler is not None and bool(scheduler.running)

    def start(self) -> None:
        """Tick now and then every interval; a tick that overruns is not doubled (max_instances=1)."""
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone="UTC")
        seconds = self._interval.total_seconds()
        scheduler.add_job(
            self.run_tick,
            "interval",
            seconds=seconds,
            id=POLL_JOB_ID,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            # A tick that starts late still runs (once); the default grace of 1 s would drop it.
            misfire_grace_time=max(1, int(seconds)),
            next_run_time=datetime.now(UTC),
        )
        if self.housekeeper is not None:
            cadence = self._housekeeping_interval.total_seconds()
            scheduler.add_job(
                self.run_housekeeping,
                "interval",
                seconds=cadence,
                id=HOUSEKEEPING_JOB_ID,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(cadence)),
            )
        every = self._periodic_interval.total_seconds()
        for name, job in self._periodic.items():
            scheduler.add_job(
                _logged(name, job),
                "interval",
                seconds=every,
                id=PERIODIC_JOB_PREFIX + name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(every)),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("poller started interval_seconds=%s owner=%s", seconds, self.tracker.owner)

    def stop(self) -> None:
        """Let the tick in hand finish, stop scheduling, and give this process's job leases back."""
        scheduler = self._scheduler
        self._scheduler = None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        with self._lock:
            released = self.tracker.release_all()
            self.tracker.close()
        log.info("poller stopped released_leases=%s owner=%s", released, self.tracker.owner)

    def run_tick(self) -> TickReport | None:
        """One tick; an exception is logged (the next tick tries again), never raised to the scheduler."""
        started = time.monotonic()
        ok = False
        report: TickReport | None = None
        with self._lock:
            try:
                report = self.tracker.tick()
                ok = True
            except Exception:
                log.exception("poll tick failed owner=%s", self.tracker.owner)
        if ok:
            self.last_success_at = datetime.now(UTC)
            self.last_report = report
        if self._observer is not None:
            self._observer(time.monotonic() - started, ok)
        return report

    def run_housekeeping(self) -> HousekeepingReport | None:
        if self.housekeeper is None:
            return None
        try:
            return self.housekeeper.run()
        except Exception:
            log.exception("housekeeping failed owner=%s", self.tracker.owner)
            return None


def _logged(name: str, job: Periodic) -> Periodic:
    """A periodic job whose exception is logged, so the scheduler keeps running it."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("periodic job failed name=%s", name)

    return run
