"""`GET /healthz`: is this process able to do its job — database reachable, scheduler alive, polls landing.

A load balancer or Docker's HEALTHCHECK replaces a replica that answers 503; the JSON body says which part
failed, so whoever reads it knows where to look.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from storage.db import Database, DatabaseError

POLL_GRACE = timedelta(seconds=60)
"""Slack on top of three poll intervals: a slow tick (thousands of jobs, a throttled account) is not sick."""

STALE_INTERVALS = 3


class PollerState(Protocol):
    """What the health check reads from `bot.poller.Poller`."""

    @property
    def running(self) -> bool: ...

    @property
    def last_success_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class PollVerdict:
    ok: bool
    age_seconds: float | None
    """Seconds since the last successful tick (None: none yet)."""
    problem: str | None


def poll_verdict(
    last_success: datetime | None, started: datetime, now: datetime, interval: timedelta
) -> PollVerdict:
    """Pure: stale after 3 intervals + grace without a successful tick (counted from start until one)."""
    limit = STALE_INTERVALS * interval + POLL_GRACE
    since = last_success or started
    quiet = now - since
    age = None if last_success is None else max(0.0, quiet.total_seconds())
    if quiet <= limit:
        return PollVerdict(True, age, None)
    seconds = int(limit.total_seconds())
    what = (
        f"no poll has succeeded since start {int(quiet.total_seconds())} s ago"
        if last_success is None
        else f"the last successful poll was {int(quiet.total_seconds())} s ago"
    )
    return PollVerdict(
        False, age, f"{what} (limit {seconds} s): check the cloud line of `smc-bot check` and the logs"
    )


class Health:
    """The checks behind /healthz; `check()` returns (healthy, details for the JSON body)."""

    def __init__(
        self,
        db: Database,
        poller: PollerState | None,
        *,
        interval: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._poller = poller
        self._interval = interval
        self._clock = clock
        self._started = clock()

    def check(self) -> tuple[bool, Mapping[str, Any]]:
        detail: dict[str, Any] = {}
        ok = True
        try:
            self._db.ping()
            detail["database"] = "ok"
        except DatabaseError as err:
            ok = False
            detail["database"] = str(err)
        if self._poller is None:
            detail["scheduler"] = "not configured"
            return ok, detail
        if not self._poller.running:
            ok = False
            detail["scheduler"] = "stopped: the poll scheduler is not running in this process"
        else:
            detail["scheduler"] = "running"
        verdict = poll_verdict(self._poller.last_success_at, self._started, self._clock(), self._interval)
        detail["last_poll_age_seconds"] = (
            round(verdict.age_seconds, 1) if verdict.age_seconds is not None else None
        )
        detail["poll"] = "ok" if verdict.ok else verdict.problem
        ok = ok and verdict.ok
        return ok, detail
