"""What the bot tells Slack, recorded in the outbox in the caller's unit of work (delivered later).

Keys are the idempotency keys of the outbox: the same event can be recorded twice (a retry, a second
replica) and still reaches Slack once. Payloads are domain events; `handlers/render` turns them into
Block Kit at delivery time. Summaries are re-rendered from current state on every edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from storage import repository as repo
from storage.enums import OutboxKind, OutboxState
from storage.types import utcnow


class Event(StrEnum):
    """Kinds of notification; each has a renderer in handlers/render."""

    REQUEST_SUMMARY = "request_summary"
    IMPORT_SUMMARY = "import_summary"
    IMPORT_FAILURES = "import_failures"
    IMPORT_CLOUD_ERROR = "import_cloud_error"
    IMPORT_RETRY = "import_retry"
    IMPORT_FINISHED = "import_finished"
    IMPORT_REFUSED = "import_refused"
    APPROVAL_CARD = "approval_card"
    VOTE = "vote"
    DECISION = "decision"
    APPROVAL_REMINDER = "approval_reminder"
    APPROVAL_ESCALATION = "approval_escalation"
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
    AUDIT_EXPORT = "audit_export"
    CONFIG_CHANGED = "config_changed"
    REQUEST_POINTER = "request_pointer"


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


def _still_queued(session: Session, key: str) -> bool:
    """A post nobody has started delivering yet: it will render the state as it is when it goes."""
    post = repo.get_outbox(session, key)
    return post is not None and post.state is OutboxState.PENDING and post.lease_owner is None


def refresh_request_summary(session: Session, request_id: str, channel_id: str) -> None:
    """Ask for one more edit of the summary; edits coalesce into one pending row per request.

    While the summary itself has not gone out, no edit is needed: it is rendered at delivery time.
    """
    if _still_queued(session, summary_key(request_id)):
        return
    repo.mark_dirty(
        session,
        summary_edit_key(request_id),
        OutboxKind.SLACK_UPDATE,
        {"event": Event.REQUEST_SUMMARY.value, "request_id": request_id},
        request_id=request_id,
        channel_id=channel_id,
        target_key=summary_key(request_id),
    )


def refresh_request_summaries(
    session: Session,
    requests: Sequence[tuple[str, str]],
    *,
    spacing: timedelta | None = None,
    in_flight_delay: timedelta | None = None,
) -> None:
    """`refresh_request_summary` for many (request id, channel id) pairs, most urgent first (the poller).

    An edit that waits for its turn already renders the latest state when it goes: it is left as it is.
    With `spacing`, the new edits are scheduled one `spacing` apart after the last one waiting, so only
    as many come due as Slack lets through (chat.update is per workspace): edits queue in the outbox, in
    time, and never hold up thread replies in delivery.
    """
    wanted = {summary_edit_key(request_id): (request_id, channel_id) for request_id, channel_id in requests}
    waiting = repo.idle_pending(session, wanted)
    fresh = [(key, ids) for key, ids in wanted.items() if key not in waiting]
    if not fresh:
        return
    now = utcnow()
    start = now
    if spacing is not None and spacing > timedelta(0):
        last = repo.last_pending_at(session, OutboxKind.SLACK_UPDATE)
        start = max(now, last + spacing) if last is not None else now
    step = spacing or timedelta(0)
    repo.mark_dirty_many(
        session,
        [
            {
                "key": key,
                "kind": OutboxKind.SLACK_UPDATE,
                "payload": {"event": Event.REQUEST_SUMMARY.value, "request_id": request_id},
                "request_id": request_id,
                "channel_id": channel_id,
                "target_key": summary_key(request_id),
                "not_before": start + position * step,
            }
            for position, (key, (request_id, channel_id)) in enumerate(fresh)
        ],
        in_flight_delay=in_flight_delay if in_flight_delay is not None else repo.IN_FLIGHT_GRACE,
    )


def request_reply_key(request_id: str, name: str) -> str:
    """The outbox key of a reply in a request's thread (`request_reply` records under it)."""
    return f"req:{request_id}:{name}"


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


def import_reply(
    session: Session,
    batch_id: str,
    channel_id: str,
    *,
    name: str,
    event: Event,
    data: Mapping[str, Any] | None = None,
    broadcast: bool = False,
) -> bool:
    """A reply in an import batch's thread, keyed `imp:<batch>:<name>` (the name makes it unique)."""
    return reply(
        session,
        key=f"imp:{batch_id}:{name}",
        event=event,
        channel_id=channel_id,
        thread_key=import_summary_key(batch_id),
        data={"batch_id": batch_id, **(data or {})},
        broadcast=broadcast,
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


def request_pointer(session: Session, request_id: str, channel_id: str, user_id: str) -> bool:
    """Tell the requester where the new request's thread is; delivered after the summary is posted."""
    # Enqueued after the summary in the same channel, so delivery (in id order per channel) posts the
    # summary first and the renderer can link to it.
    return ephemeral(
        session,
        key=f"req:{request_id}:pointer",
        channel_id=channel_id,
        user_id=user_id,
        event=Event.REQUEST_POINTER,
        data={"request_id": request_id},
    )


def execution_key(request_id: str, round_: int) -> str:
    """The WORK intent that runs a request once its approval round allows it."""
    return f"work:{request_id}:{round_}:execute"


def enqueue_execution(session: Session, request_id: str, round_: int) -> bool:
    """Queue the executor's `execute` task for this round (exactly once per round, by key)."""
    return repo.enqueue(
        session,
        execution_key(request_id, round_),
        OutboxKind.WORK,
        {"task": "execute", "request_id": request_id, "round": round_},
        request_id=request_id,
    )
