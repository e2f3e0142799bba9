"""Repository functions. None of them commits: the caller's unit of work does (storage.db.Database)."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from storage.enums import AuditOutcome, OutboxKind, OutboxState, RequestState
from storage.models import (
    AuditEvent,
    ChannelConfig,
    ImportBatch,
    ImportItem,
    MigrationRequest,
    Outbox,
    ParamTemplate,
    SmcJob,
    Vote,
)
from storage.types import utcnow

M = TypeVar("M", bound=SQLModel)

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u to misread


def new_id(prefix: str, length: int = 8) -> str:
    """Short, typeable, unguessable ids such as `r-7k2q9m4x`; also valid as an SMC ClientToken."""
    return f"{prefix}-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def insert_ignore(session: Session, model: type[SQLModel], values: Mapping[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either backend; True when the row was inserted."""
    table = _table(model)
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported (config validates the URL)
        raise RuntimeError(f"unsupported database dialect {dialect}")
    # rowcount is not reliable for ON CONFLICT through psycopg; RETURNING says exactly whether a row landed.
    pk = next(iter(table.primary_key.columns))
    return session.execute(stmt.returning(pk)).first() is not None


def _pk_column(model: type[SQLModel]) -> Any:
    (pk,) = _table(model).primary_key.columns
    return pk


def compare_and_set(
    session: Session,
    model: type[SQLModel],
    key: Any,
    *,
    expected: Enum | Collection[Enum],
    values: Mapping[str, Any],
    state_column: str = "state",
) -> bool:
    """`UPDATE … WHERE pk = :key AND state IN (:expected)`; True only for the caller whose update landed."""
    table = _table(model)
    wanted = [expected] if isinstance(expected, Enum) else list(expected)
    changes = dict(values)
    if "updated_at" in table.columns and "updated_at" not in changes:
        changes["updated_at"] = utcnow()
    stmt = (
        update(table)
        .where(_pk_column(model) == key)
        .where(table.columns[state_column].in_([w.value for w in wanted]))
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    changed = _rowcount(session.execute(stmt)) == 1
    if changed:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, model):
                session.expire(obj)
    return changed


# --- migration requests -------------------------------------------------------------------------


def add(session: Session, obj: M) -> M:
    session.add(obj)
    session.flush()
    return obj


def get_request(session: Session, request_id: str) -> MigrationRequest | None:
    return session.get(MigrationRequest, request_id)


def transition_request(
    session: Session,
    request_id: str,
    expected: RequestState | Collection[RequestState],
    new: RequestState,
    **values: Any,
) -> bool:
    """Move a request to `new` only if it is still in `expected` (double clicks and replicas lose here)."""
    return compare_and_set(
        session, MigrationRequest, request_id, expected=expected, values={"state": new, **values}
    )


def list_requests(
    session: Session,
    *,
    channel_id: str | None = None,
    requester: str | None = None,
    states: Collection[RequestState] | None = None,
    limit: int = 50,
) -> Sequence[MigrationRequest]:
    stmt = select(MigrationRequest).order_by(col(MigrationRequest.created_at).desc()).limit(limit)
    if channel_id is not None:
        stmt = stmt.where(col(MigrationRequest.channel_id) == channel_id)
    if requester is not None:
        stmt = stmt.where(col(MigrationRequest.requester) == requester)
    if states is not None:
        stmt = stmt.where(col(MigrationRequest.state).in_(list(states)))
    return session.scalars(stmt).all()


# --- votes --------------------------------------------------------------------------------------


def record_vote(session: Session, vote: Vote) -> bool:
    """Insert one vote; the unique (request, round, voter, hash) key makes a repeat a no-op (False)."""
    values = vote.model_dump(exclude={"id"})
    return insert_ignore(session, Vote, values)


def votes_for(session: Session, request_id: str, round_: int, params_hash: str) -> Sequence[Vote]:
    stmt = (
        select(Vote)
        .where(col(Vote.request_id) == request_id)
        .where(col(Vote.round) == round_)
        .where(col(Vote.params_hash) == params_hash)
        .order_by(col(Vote.id))
    )
    return session.scalars(stmt).all()


# --- SMC jobs -------------------------------------------------------------------------------------


def get_job(session: Session, job_id: str) -> SmcJob | None:
    return session.get(SmcJob, job_id)


def job_for_request(session: Session, request_id: str) -> SmcJob | None:
    return session.scalars(select(SmcJob).where(col(SmcJob.request_id) == request_id)).first()


def claim_due_jobs(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int, active: Collection[Enum]
) -> Sequence[SmcJob]:
    """Lease due jobs to `owner`; on PostgreSQL rows locked by another replica are skipped, not waited for."""
    due = (
        select(SmcJob.job_id)  # type: ignore[call-overload]
        .where(col(SmcJob.status).in_([a.value for a in active]))
        .where(or_(col(SmcJob.next_poll_at).is_(None), col(SmcJob.next_poll_at) <= now))
        .where(or_(col(SmcJob.lease_expires_at).is_(None), col(SmcJob.lease_expires_at) <= now))
        .order_by(col(SmcJob.next_poll_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due).all())
    if not ids:
        return []
    session.execute(
        update(_table(SmcJob))
        .where(_table(SmcJob).c.job_id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=now + lease)
    )
    return session.scalars(
        select(SmcJob).where(col(SmcJob.job_id).in_(ids)).execution_options(populate_existing=True)
    ).all()


def release_lease(session: Session, job_id: str, owner: str, **values: Any) -> bool:
    """Write what the lease holder observed and let the lease go; False if the lease was lost."""
    stmt = (
        update(_table(SmcJob))
        .where(and_(_table(SmcJob).c.job_id == job_id, _table(SmcJob).c.lease_owner == owner))
        .values(lease_owner=None, lease_expires_at=None, updated_at=utcnow(), **values)
    )
    return _rowcount(session.execute(stmt)) == 1


# --- outbox ---------------------------------------------------------------------------------------


def enqueue(
    session: Session,
    key: str,
    kind: OutboxKind,
    payload: Mapping[str, Any],
    *,
    request_id: str | None = None,
    channel_id: str | None = None,
    thread_key: str | None = None,
    target_key: str | None = None,
    user_id: str | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Record an intent under a unique idempotency key; False (and nothing changes) if it already exists."""
    now = utcnow()
    return insert_ignore(
        session,
        Outbox,
        {
            "key": key,
            "kind": kind,
            "state": OutboxState.PENDING,
            "request_id": request_id,
            "channel_id": channel_id,
            "thread_key": thread_key,
            "target_key": target_key,
            "user_id": user_id,
            "payload": dict(payload),
            "attempts": 0,
            "next_attempt_at": not_before or now,
            "created_at": now,
            "updated_at": now,
        },
    )


def mark_dirty(
    session: Session,
    key: str,
    kind: OutboxKind,
    payload: Mapping[str, Any],
    **fields: Any,
) -> None:
    """Ask for (another) delivery of a re-renderable message; one pending row per key coalesces edits."""
    if enqueue(session, key, kind, payload, **fields):
        return
    session.execute(
        update(_table(Outbox))
        .where(_table(Outbox).c.key == key)
        .values(state=OutboxState.PENDING, payload=dict(payload), updated_at=utcnow())
    )


def get_outbox(session: Session, key: str) -> Outbox | None:
    return session.scalars(select(Outbox).where(col(Outbox.key) == key)).first()


# --- audit ----------------------------------------------------------------------------------------


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: AuditOutcome = AuditOutcome.OK,
    team_id: str | None = None,
    channel_id: str | None = None,
    request_id: str | None = None,
    params_hash: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event; there is deliberately no update or delete (the database refuses both)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        outcome=outcome,
        team_id=team_id,
        channel_id=channel_id,
        request_id=request_id,
        params_hash=params_hash,
        detail=dict(detail or {}),
    )
    return add(session, event)


def audit_events(
    session: Session, *, channel_id: str | None, since: datetime, limit: int = 100_000
) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent).where(col(AuditEvent.at) >= since).order_by(col(AuditEvent.id)).limit(limit)
    if channel_id is not None:
        stmt = stmt.where(col(AuditEvent.channel_id) == channel_id)
    return session.scalars(stmt).all()


# --- channel configuration and templates ------------------------------------------------------------


def get_channel_config(session: Session, channel_id: str) -> ChannelConfig | None:
    return session.get(ChannelConfig, channel_id)


def save_channel_config(session: Session, config: ChannelConfig) -> ChannelConfig:
    config.updated_at = utcnow()
    merged = session.merge(config)
    session.flush()
    return merged


def save_template(session: Session, template: ParamTemplate) -> ParamTemplate:
    """Create or replace the named template of a workspace."""
    existing = session.scalars(
        select(ParamTemplate)
        .where(col(ParamTemplate.team_id) == template.team_id)
        .where(col(ParamTemplate.name) == template.name)
    ).first()
    if existing is None:
        return add(session, template)
    existing.params = template.params
    existing.created_by = template.created_by
    existing.updated_at = utcnow()
    session.flush()
    return existing


def list_templates(session: Session, team_id: str) -> Sequence[ParamTemplate]:
    stmt = (
        select(ParamTemplate).where(col(ParamTemplate.team_id) == team_id).order_by(col(ParamTemplate.name))
    )
    return session.scalars(stmt).all()


def get_template(session: Session, team_id: str, name: str) -> ParamTemplate | None:
    stmt = (
        select(ParamTemplate)
        .where(col(ParamTemplate.team_id) == team_id)
        .where(col(ParamTemplate.name) == name)
    )
    return session.scalars(stmt).first()


def delete_template(session: Session, team_id: str, name: str) -> bool:
    template = get_template(session, team_id, name)
    if template is None:
        return False
    session.delete(template)
    session.flush()
    return True


# --- imports -------------------------------------------------------------------------------------------


def get_import_batch(session: Session, batch_id: str) -> ImportBatch | None:
    return session.get(ImportBatch, batch_id)


def import_items(session: Session, batch_id: str) -> Sequence[ImportItem]:
    stmt = select(ImportItem).where(col(ImportItem.batch_id) == batch_id).order_by(col(ImportItem.id))
    return session.scalars(stmt).all()


SLACK_KINDS = (
    OutboxKind.SLACK_POST,
    OutboxKind.SLACK_UPDATE,
    OutboxKind.SLACK_EPHEMERAL,
    OutboxKind.SLACK_FILE,
)


def claim_outbox(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    kinds: Collection[OutboxKind],
    limit: int,
) -> list[tuple[Outbox, bool]]:
    """Lease due items that may go now, oldest first, each with whether a previous holder abandoned it.

    An item waits while an earlier reply of its thread is pending (order per thread), while the message
    it replies to or edits has no ts yet, and while another owner holds a lease in its channel (so one
    process paces a channel). On PostgreSQL, rows another replica is claiming are skipped, not awaited.
    """
    o = _table(Outbox).alias("o")
    earlier = _table(Outbox).alias("earlier")
    parent = _table(Outbox).alias("parent")
    busy = _table(Outbox).alias("busy")
    pending = OutboxState.PENDING.value
    stmt = (
        select(o.c.id)
        .where(o.c.state == pending)
        .where(o.c.kind.in_([k.value for k in kinds]))
        .where(o.c.next_attempt_at <= now)
        .where(or_(o.c.lease_expires_at.is_(None), o.c.lease_expires_at <= now))
        .where(
            or_(
                o.c.thread_key.is_(None),
                ~select(earlier.c.id)
                .where(earlier.c.thread_key == o.c.thread_key)
                .where(earlier.c.state == pending)
                .where(earlier.c.id < o.c.id)
                .exists(),
            )
        )
        .where(
            or_(
                and_(o.c.thread_key.is_(None), o.c.target_key.is_(None)),
                select(parent.c.id)
                .where(parent.c.key == func.coalesce(o.c.thread_key, o.c.target_key))
                .where(parent.c.result_ts.is_not(None))
                .exists(),
            )
        )
        .where(
            or_(
                o.c.channel_id.is_(None),
                ~select(busy.c.id)
                .where(busy.c.channel_id == o.c.channel_id)
                .where(busy.c.lease_owner.is_not(None))
                .where(busy.c.lease_owner != owner)
                .where(busy.c.lease_expires_at > now)
                .exists(),
            )
        )
        .order_by(o.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=o, skip_locked=True)
    ids = list(session.scalars(stmt).all())
    if not ids:
        return []
    rows = session.scalars(
        select(Outbox)
        .where(col(Outbox.id).in_(ids))
        .order_by(col(Outbox.id))
        .execution_options(populate_existing=True)
    ).all()
    # A lease that ran out without a finish or a deferral means its holder died mid-delivery.
    claimed = [(row, row.lease_owner is not None) for row in rows]
    session.execute(
        update(_table(Outbox))
        .where(_table(Outbox).c.id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=now + lease)
    )
    return claimed


def finish_outbox(
    session: Session,
    item_id: int,
    owner: str,
    *,
    result_ts: str | None,
    state: OutboxState = OutboxState.SENT,
    error: str | None = None,
) -> bool:
    """Record the outcome of a delivery, but only while `owner` still holds the lease."""
    table = _table(Outbox)
    now = utcnow()
    stmt = (
        update(table)
        .where(table.c.id == item_id)
        .where(table.c.lease_owner == owner)
        .values(
            state=state,
            result_ts=result_ts if result_ts is not None else table.c.result_ts,
            last_error=error,
            lease_owner=None,
            lease_expires_at=None,
            sent_at=now if state is OutboxState.SENT else None,
            updated_at=now,
        )
    )
    return _rowcount(session.execute(stmt)) == 1


def defer_outbox(
    session: Session, item_id: int, owner: str, *, until: datetime, error: str | None, failed: bool
) -> bool:
    """Give the item back for a later attempt without losing it; `failed` counts it as a failed attempt."""
    table = _table(Outbox)
    stmt = (
        update(table)
        .where(table.c.id == item_id)
        .where(table.c.lease_owner == owner)
        .values(
            next_attempt_at=until,
            last_error=error,
            attempts=table.c.attempts + (1 if failed else 0),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=utcnow(),
        )
    )
    return _rowcount(session.execute(stmt)) == 1


def outbox_depth(session: Session, now: datetime) -> tuple[int, float]:
    """Pending items and the age in seconds of the oldest one (for /metrics)."""
    table = _table(Outbox)
    count, oldest = session.execute(
        select(func.count(table.c.id), func.min(table.c.created_at)).where(
            table.c.state == OutboxState.PENDING.value
        )
    ).one()
    if oldest is None:
        return int(count), 0.0
    # An aggregate bypasses the column type, so SQLite hands back a naive (UTC) value or a string.
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest)
    oldest_utc = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    return int(count), max(0.0, (now - oldest_utc).total_seconds())
