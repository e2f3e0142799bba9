"""Work intents from the outbox (create a job, run an import, …), executed outside any transaction.

A task records what it is about to do and what happened in its own units of work; the cloud call sits
between them. Tasks must be safe to run twice (a crash after the call and before the record): creates
carry a ClientToken, everything else re-reads state first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from storage import repository as repo
from storage.enums import OutboxKind, OutboxState

log = logging.getLogger(__name__)

TaskResult = timedelta | None
"""None: the intent is done. A timedelta: run the task again after that long (e.g. keep polling)."""

Task = Callable[[Mapping[str, Any], "WorkContext"], TaskResult]


@dataclass(frozen=True)
class WorkContext:
    key: str
    attempts: int
    abandoned: bool


class Worker:
    """Claims WORK outbox items and runs the task named by `payload["task"]`."""

    def __init__(
        self,
        db: Any,
        tasks: Mapping[str, Task],
        *,
        owner: str,
        clock: Callable[[], Any],
        lease: timedelta = timedelta(minutes=5),
        max_attempts: int = 8,
    ) -> None:
        self._db = db
        self._tasks = dict(tasks)
        self._owner = owner
        self._clock = clock
        self._lease = lease
        self._max_attempts = max_attempts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        self._wake.set()

    def run_once(self, limit: int = 20) -> int:
        """Claim due intents and run them one by one; returns how many ran."""
        now = self._clock()
        with self._db.unit_of_work() as session:
            claimed = repo.claim_outbox(
                session, owner=self._owner, now=now, lease=self._lease, kinds=(OutboxKind.WORK,), limit=limit
            )
            items = [
                (row.id, row.key, dict(row.payload), row.attempts, abandoned) for row, abandoned in claimed
            ]
        for item_id, key, payload, attempts, abandoned in items:
            self._run(item_id, key, payload, WorkContext(key=key, attempts=attempts, abandoned=abandoned))
        return len(items)

    def _run(self, item_id: int | None, key: str, payload: Mapping[str, Any], ctx: WorkContext) -> None:
        assert item_id is not None
        task = self._tasks.get(str(payload.get("task")))
        if task is None:
            log.error("no task for work item key=%s task=%s", key, payload.get("task"))
            self._finish(item_id, OutboxState.DEAD, "unknown task")
            return
        try:
            again = task(payload, ctx)
        except Exception as exc:
            log.exception("work item failed key=%s attempts=%s", key, ctx.attempts)
            if ctx.attempts + 1 >= self._max_attempts:
                self._finish(item_id, OutboxState.DEAD, type(exc).__name__)
            else:
                delay = timedelta(seconds=min(300, 2 ** (ctx.attempts + 1)))
                with self._db.unit_of_work() as session:
                    repo.defer_outbox(
                        session,
                        item_id,
                        self._owner,
                        until=self._clock() + delay,
                        error=type(exc).__name__,
                        failed=True,
                    )
            return
        if again is None:
            self._finish(item_id, OutboxState.SENT, None)
        else:
            with self._db.unit_of_work() as session:
                repo.defer_outbox(
                    session, item_id, self._owner, until=self._clock() + again, error=None, failed=False
                )

    def _finish(self, item_id: int, state: OutboxState, error: str | None) -> None:
        with self._db.unit_of_work() as session:
            repo.finish_outbox(session, item_id, self._owner, result_ts=None, state=state, error=error)

    def start(self, idle_seconds: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    ran = self.run_once()
                except Exception:
                    log.exception("work batch failed owner=%s", self._owner)
                    ran = 0
                if ran:
                    continue
                self._wake.wait(idle_seconds)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="work-intents", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the task at hand, then stop; a lease left behind expires for another replica."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
