"""Every `/smc` invocation into the audit trail, written in batches by one thread while the bot runs.

One INSERT and COMMIT per command cost more CPU than answering the command itself (bench/ack_latency.py),
and under load that work competes with the acks of the requests behind it. Queued invocations are written
every `interval` and on stop, each batch in a `turn` behind the Slack requests in flight (bot.inflight:
at most 2 s, longer only under sustained load); a crash loses at most that window of command records
(decisions, votes and state changes are audited in their own transactions, never through this log).
Not started (tests, tools), `record` writes at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.domain.audit import AuditAction
from storage.db import Database
from storage.enums import AuditOutcome
from storage.models import AuditEvent

log = logging.getLogger(__name__)

MAX_ARGS = 500
MAX_QUEUED = 10_000
"""Invocations kept while the database refuses them; beyond that the oldest are dropped."""


class CommandLog:
    """`record()` is cheap and thread-safe; `start()`/`stop()` run the batch writer."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        interval: timedelta = timedelta(milliseconds=200),
        turn: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self._db = db
        self._turn = turn
        self._clock = clock
        self._interval = interval.total_seconds()
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, *, actor: str, team_id: str, channel_id: str, subcommand: str, args: str) -> None:
        """One `/smc …` as typed (commands carry no secrets), stamped now."""
        event = {
            "at": self._clock(),
            "actor": actor,
            "action": AuditAction.COMMAND.value,
            "outcome": AuditOutcome.OK,
            "team_id": team_id,
            "channel_id": channel_id,
            "detail": {"subcommand": subcommand, "args": args[:MAX_ARGS]},
        }
        with self._lock:
            self._pending.append(event)
            running = self._thread is not None
        if not running:
            self.flush()

    def flush(self) -> int:
        """Write what is queued in one unit of work (one multi-row INSERT, without ORM objects: a row costs a
        seventh of what one costs through the session); the count written.

        A batch the database refuses goes back to the queue (the newest `MAX_QUEUED` are kept) and raises.
        """
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with self._db.unit_of_work() as session:
                session.execute(insert(AuditEvent), batch)
        except Exception:
            with self._lock:
                self._pending = [*batch, *self._pending][-MAX_QUEUED:]
            raise
        return len(batch)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self._interval):
                with self._turn():
                    self._flush_logged()

        thread = threading.Thread(target=loop, name="command-audit", daemon=True)
        with self._lock:
            self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Stop the writer and write what is left; later records are written at once again."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        with self._lock:
            self._thread = None
        self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:
            # Kept for the next try; the audit trail must not take the command path down.
            log.exception("command audit batch could not be written, retrying later")
