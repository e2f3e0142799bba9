"""What the bot tells Slack, recorded in the outbox in the caller's unit of work (delivered later).

Keys are the idempotency keys of the outbox: the same event can be recorded twice (a retry, a second
replica) and still reaches Slack once. Payloads are domain events; `handlers/render` turns them into
Block Kit at delivery time. Summaries are re-rendered from current state on every edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from storage import repository as repo
from storage.enums import OutboxKind


class Event(StrEnum):
    """Kinds of notification; each has a renderer in handlers/render."""

    REQUEST_SUMMARY = "request_summary"
    IMPORT_SUMMARY = "import_summary"
    APPROVAL_CARD = "approval_card"
    VOTE = "vote"
    DECISION = "decision"
    APPROVAL_REMINDER = "approval_reminder"
    APPROVAL_EXPIRED = "approval_expired"
    DRILL_REPORT = "drill_report"
    JOB_CREATED = "job_created"
    JOB_STARTED = "job_started"
    JOB_ACTION = "job_action"
    STATUS_CHANGED = "status_changed"
    MILESTONE = "milestone"
    CYCLE_FINISHED = "cycle_finished"
    JOB_ERROR = "job_error"
    JOB_FINISHED = "job_finished"
    CLOUD_ERROR = "cloud_error"
    NUDGE = "nudge"
    VERIFY_REPORT = "verify_report"
    DIGEST = "digest"
    NOTICE = "notice"
    AUDIT_EXPORT = "audit_export"


def summary_key(request_id: str) -> str:
    return f"req:{request_id}:summary"


def summary_edit_key(request_id: str) -> str:
    return f"req:{request_id}:summary:edit"


def import_summary_key(batch_id: str) -> str:
    return f"imp:{batch_id}:summary"


def import_summary_edit_key(batch_id: str) -> str:
    return f"imp:{batch_id}:summary:edit"


def approval_card_key(request_id: str, round_: int) -> str:
    return f"req:{request_id}:approval:{round_}"


def approval_card_edit_key(request_id: str, round_: int) -> str:
    return f"req:{request_id}:approval:{round_}:edit"


def post_request_summary(session: Session, request_id: str, channel_id: str) -> None:
    """The parent message of a request's thread; later edits re-render it from current state."""
    repo.enqueue(
        session,
        summary_key(request_id),
        OutboxKind.SLACK_POST,
        {"event": Event.REQUEST_SUMMARY.value, "request_id": request_id},
        request_id=request_id,
        channel_id=channel_id,
    )


def refresh_request_summary(session: Session, request_id: str, channel_id: str) -> None:
    """Ask for one more edit of the summary; edits coalesce into one pending row per request."""
    repo.mark_dirty(
        session,
        summary_edit_key(request_id),
        OutboxKind.SLACK_UPDATE,
        {"event": Event.REQUEST_SUMMARY.value, "request_id": request_id},
        request_id=request_id,
        channel_id=channel_id,
        target_key=summary_key(request_id),
    )


def post_import_summary(session: Session, batch_id: str, channel_id: str) -> None:
    repo.enqueue(
        session,
        import_summary_key(batch_id),
        OutboxKind.SLACK_POST,
        {"event": Event.IMPORT_SUMMARY.value, "batch_id": batch_id},
        channel_id=channel_id,
    )


def refresh_import_summary(session: Session, batch_id: str, channel_id: str) -> None:
    repo.mark_dirty(
        session,
        import_summary_edit_key(batch_id),
        OutboxKind.SLACK_UPDATE,
        {"event": Event.IMPORT_SUMMARY.value, "batch_id": batch_id},
        channel_id=channel_id,
        target_key=import_summary_key(batch_id),
    )


def reply(
    session: Session,
    *,
    key: str,
    event: Event,
    channel_id: str,
    thread_key: str,
    request_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    broadcast: bool = False,
) -> bool:
    """A reply in a thread (an event, never a per-poll update); False if this key was already recorded."""
    payload: dict[str, Any] = {"event": event.value, **(data or {})}
    if broadcast:
        payload["broadcast"] = True
    if request_id is not None:
        payload.setdefault("request_id", request_id)
    return repo.enqueue(
        session,
        key,
        OutboxKind.SLACK_POST,
        payload,
        request_id=request_id,
        channel_id=channel_id,
        thread_key=thread_key,
    )


def request_reply(
    session: Session,
    request_id: str,
    channel_id: str,
    *,
    name: str,
    event: Event,
    data: Mapping[str, Any] | None = None,
    broadcast: bool = False,
) -> bool:
    """A reply in a request's thread, keyed `req:<id>:<name>` (the name makes it unique)."""
    return reply(
        session,
        key=f"req:{request_id}:{name}",
        event=event,
        channel_id=channel_id,
        thread_key=summary_key(request_id),
        request_id=request_id,
        data=data,
        broadcast=broadcast,
    )


def ephemeral(
    session: Session,
    *,
    key: str,
    channel_id: str,
    user_id: str,
    event: Event,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """A message only `user_id` sees (refusals, confirmations) that must survive a restart."""
    return repo.enqueue(
        session,
        key,
        OutboxKind.SLACK_EPHEMERAL,
        {"event": event.value, **(data or {})},
        channel_id=channel_id,
        user_id=user_id,
    )
