"""The audit trail (issue 5 item 7): append helpers every use case calls, and the per-channel CSV export.

Events are append-only (the database refuses updates and deletes). Each says who did what to which
request and parameter hash, when, and with what outcome. Nothing secret ever goes into `detail`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from bot.domain.notifications import Event
from storage import repository as repo
from storage.db import Database
from storage.enums import AuditOutcome, OutboxKind
from storage.models import AuditEvent, MigrationRequest

SYSTEM_ACTOR = "smc-bot"
"""The actor of what the bot does on its own (expiry, reminders, scheduled work)."""

DEFAULT_EXPORT_DAYS = 30
MAX_EXPORT_DAYS = 365

CSV_COLUMNS = ("time_utc", "actor", "action", "request_id", "params_hash", "outcome", "channel_id", "detail")


class AuditAction(StrEnum):
    """The actions this package records; other features pass their own dotted names (`cloud.<Api>`)."""

    COMMAND = "command"
    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_EDITED = "request.edited"
    VOTE_APPROVE = "vote.approve"
    VOTE_REJECT = "vote.reject"
    APPROVED = "approval.approved"
    REJECTED = "approval.rejected"
    REMINDED = "approval.reminded"
    ESCALATED = "approval.escalated"
    EXPIRED = "approval.expired"
    CONFIG_CHANGED = "config.changed"
    CONFIG_OPENED = "config.opened"
    AUDIT_EXPORTED = "audit.exported"


def cloud_action(api: str) -> str:
    """The action name of a cloud call, e.g. `cloud.CreateReplicationJob`."""
    return f"cloud.{api}"


@dataclass(frozen=True)
class ExportWindow:
    """Which events an export holds: this channel, from `since` to `until`."""

    channel_id: str
    since: datetime
    until: datetime
    days: int


class AuditService:
    """Append helpers (in the caller's unit of work, or their own) and the CSV export."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime], kick: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._kick = kick

    def record(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        outcome: AuditOutcome = AuditOutcome.OK,
        request: MigrationRequest | None = None,
        request_id: str | None = None,
        team_id: str | None = None,
        channel_id: str | None = None,
        params_hash: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event in the caller's unit of work; a `request` fills id, channel, team and hash."""
        if request is not None:
            request_id = request_id or request.id
            team_id = team_id or request.team_id
            channel_id = channel_id or request.channel_id
            params_hash = params_hash or request.params_hash
        event = AuditEvent(
            at=self._clock(),
            actor=actor,
            action=str(action),
            outcome=outcome,
            team_id=team_id,
            channel_id=channel_id,
            request_id=request_id,
            params_hash=params_hash,
            detail=_plain(detail or {}),
        )
        return repo.add(session, event)

    def record_now(
        self,
        *,
        actor: str,
        action: str,
        outcome: AuditOutcome = AuditOutcome.OK,
        request_id: str | None = None,
        team_id: str | None = None,
        channel_id: str | None = None,
        params_hash: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event in its own unit of work (commands, refusals that change nothing else)."""
        with self._db.unit_of_work() as session:
            self.record(
                session,
                actor=actor,
                action=action,
                outcome=outcome,
                request_id=request_id,
                team_id=team_id,
                channel_id=channel_id,
                params_hash=params_hash,
                detail=detail,
            )

    def command(self, *, actor: str, team_id: str, channel_id: str, subcommand: str, args: str) -> None:
        """Every `/smc …` invocation, as typed (minus nothing: commands carry no secrets)."""
        self.record_now(
            actor=actor,
            action=AuditAction.COMMAND,
            team_id=team_id,
            channel_id=channel_id,
            detail={"subcommand": subcommand, "args": args[:500]},
        )

    def cloud_call(
        self,
        session: Session,
        *,
        actor: str,
        api: str,
        request: MigrationRequest | None,
        outcome: AuditOutcome,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """A cloud action taken for a request (E calls this around each SMC call it makes)."""
        return self.record(
            session, actor=actor, action=cloud_action(api), outcome=outcome, request=request, detail=detail
        )

    # --- export ------------------------------------------------------------------------------------

    def window(self, channel_id: str, days: int) -> ExportWindow:
        until = self._clock()
        return ExportWindow(channel_id=channel_id, since=until - timedelta(days=days), until=until, days=days)

    def request_export(
        self, *, actor: str, team_id: str, channel_id: str, days: int, key: str
    ) -> ExportWindow:
        """Record the export (audited) and queue the file upload to the channel; `key` makes it once-only."""
        with self._db.unit_of_work() as session:
            self.record(
                session,
                actor=actor,
                action=AuditAction.AUDIT_EXPORTED,
                team_id=team_id,
                channel_id=channel_id,
                detail={"days": days},
            )
            window = self.window(channel_id, days)
            repo.enqueue(
                session,
                f"audit:{channel_id}:{key}",
                OutboxKind.SLACK_FILE,
                {
                    "event": Event.AUDIT_EXPORT.value,
                    "channel_id": channel_id,
                    "requested_by": actor,
                    "days": days,
                    "since": window.since.isoformat(),
                    "until": window.until.isoformat(),
                },
                channel_id=channel_id,
            )
        self._kick()
        return window

    def events(self, window: ExportWindow) -> Sequence[AuditEvent]:
        with self._db.unit_of_work() as session:
            rows = repo.audit_events(session, channel_id=window.channel_id, since=window.since)
            return [row for row in rows if row.at <= window.until]

    def export_csv(self, window: ExportWindow) -> str:
        """The channel's events in the window as CSV, oldest first, one row per event."""
        return to_csv(self.events(window))


def to_csv(events: Sequence[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(
            [
                event.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                _cell(event.actor),
                _cell(event.action),
                _cell(event.request_id or ""),
                event.params_hash or "",
                event.outcome.value,
                _cell(event.channel_id or ""),
                _cell(json.dumps(event.detail, sort_keys=True, ensure_ascii=False)),
            ]
        )
    return out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a leading apostrophe keeps them text."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: datetimes as ISO text, sets as sorted lists (enums are str already)."""
    return json.loads(json.dumps(dict(detail), default=_default))  # type: ignore[no-any-return]


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    raise TypeError(f"not JSON-serialisable in an audit detail: {type(value).__name__}")


def parse_days(text: str) -> int | None:
    """`/smc audit [days]`: empty -> the default; a whole number 1-365; anything else -> None."""
    text = text.strip()
    if not text:
        return DEFAULT_EXPORT_DAYS
    if not text.isdigit():
        return None
    days = int(text)
    return days if 1 <= days <= MAX_EXPORT_DAYS else None
