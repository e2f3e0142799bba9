"""Repository functions. None of them commits: the caller's unit of work does (storage.db.Database)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    RowMapping,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session, SQLModel, col

from storage.enums import (
    AuditOutcome,
    ImportBatchState,
    ImportItemState,
    OutboxKind,
    OutboxState,
    RequestState,
)
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
from storage.types import UTCDateTime, utcnow

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


def vote_of(session: Session, request_id: str, round_: int, voter: str, params_hash: str) -> Vote | None:
    """This voter's vote in this round on this hash, if any."""
    stmt = (
        select(Vote)
        .where(col(Vote.request_id) == request_id)
        .where(col(Vote.round) == round_)
        .where(col(Vote.voter) == voter)
        .where(col(Vote.params_hash) == params_hash)
    )
    return session.scalars(stmt).first()


def votes_in_round(session: Session, request_id: str, round_: int) -> Sequence[Vote]:
    """Every vote of a round, whatever hash it was cast on, in order."""
    stmt = (
        select(Vote)
        .where(col(Vote.request_id) == request_id)
        .where(col(Vote.round) == round_)
        .order_by(col(Vote.id))
    )
    return session.scalars(stmt).all()


def votes_by_voter(session: Session, voter: str, request_ids: Collection[str]) -> Sequence[Vote]:
    if not request_ids:
        return []
    stmt = select(Vote).where(col(Vote.voter) == voter).where(col(Vote.request_id).in_(list(request_ids)))
    return session.scalars(stmt).all()


# --- approval rounds ------------------------------------------------------------------------------


def lock_request(session: Session, request_id: str) -> MigrationRequest | None:
    """Read a request FOR UPDATE: concurrent votes on one request queue here (SQLite: BEGIN IMMEDIATE)."""
    stmt = (
        select(MigrationRequest)
        .where(col(MigrationRequest.id) == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def transition_request_round(
    session: Session,
    request_id: str,
    expected: RequestState | Collection[RequestState],
    round_: int,
    new: RequestState,
    *,
    params_hash: str | None = None,
    expired_by: datetime | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set on state and round (and hash, expiry): an edit or an earlier decision makes it lose."""
    table = _table(MigrationRequest)
    wanted = [expected] if isinstance(expected, RequestState) else list(expected)
    stmt = (
        update(table)
        .where(table.c.id == request_id)
        .where(table.c.state.in_([w.value for w in wanted]))
        .where(table.c.approval_round == round_)
    )
    if params_hash is not None:
        stmt = stmt.where(table.c.params_hash == params_hash)
    if expired_by is not None:
        stmt = stmt.where(table.c.approval_expires_at <= expired_by)
    changes = {"state": new, "updated_at": utcnow(), **values}
    stmt = stmt.values(**changes).execution_options(synchronize_session=False)
    changed = _rowcount(session.execute(stmt)) == 1
    if changed:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, MigrationRequest):
                session.expire(obj)
    return changed


def mark_reminder_sent(session: Session, request_id: str, round_: int, at: datetime) -> bool:
    """Claim the one reminder of a round; False if it was sent, or the round moved on."""
    table = _table(MigrationRequest)
    stmt = (
        update(table)
        .where(table.c.id == request_id)
        .where(table.c.state == RequestState.AWAITING_APPROVAL.value)
        .where(table.c.approval_round == round_)
        .where(table.c.reminder_sent_at.is_(None))
        .values(reminder_sent_at=at)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(stmt)) == 1


def awaiting_approval(session: Session, *, limit: int = 1000) -> Sequence[MigrationRequest]:
    """Requests with an open approval round, soonest expiry first (a fixed order: replicas lock alike)."""
    stmt = (
        select(MigrationRequest)
        .where(col(MigrationRequest.state) == RequestState.AWAITING_APPROVAL)
        .where(col(MigrationRequest.approval_round) >= 1)
        .order_by(col(MigrationRequest.approval_expires_at), col(MigrationRequest.id))
        .limit(limit)
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
    mark_dirty_many(session, [{"key": key, "kind": kind, "payload": payload, **fields}])


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


def transition_import_batch(
    session: Session,
    batch_id: str,
    expected: ImportBatchState | Collection[ImportBatchState],
    new: ImportBatchState,
    **values: Any,
) -> bool:
    """Move a batch to `new` only while it is in `expected` (a second runner or a double click loses)."""
    return compare_and_set(session, ImportBatch, batch_id, expected=expected, values={"state": new, **values})


def transition_import_item(
    session: Session,
    item_id: int,
    expected: ImportItemState | Collection[ImportItemState],
    new: ImportItemState,
    **values: Any,
) -> bool:
    """Move one instance of a batch to `new` only while it is in `expected`."""
    return compare_and_set(session, ImportItem, item_id, expected=expected, values={"state": new, **values})


def set_import_access_token(session: Session, batch_id: str, token_id: str) -> None:
    """Remember the batch's activation code by id only (the code itself is never stored)."""
    session.execute(
        update(_table(ImportBatch))
        .where(_table(ImportBatch).c.id == batch_id)
        .values(access_token_id=token_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def outbox_keys(session: Session, prefix: str) -> Sequence[str]:
    """Keys of the outbox rows that start with `prefix` (e.g. every run intent of one import batch)."""
    stmt = select(Outbox.key).where(col(Outbox.key).startswith(prefix, autoescape=True))  # type: ignore[call-overload]
    return list(session.scalars(stmt).all())


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


# --- execution, job actions and verification -------------------------------------------------------


def update_job(session: Session, job_id: str, **values: Any) -> bool:
    """Write observed or scheduling fields of one job (status seen after an action, next_poll_at)."""
    table = _table(SmcJob)
    stmt = (
        update(table)
        .where(table.c.job_id == job_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    changed = _rowcount(session.execute(stmt)) == 1
    if changed:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, SmcJob):
                session.expire(obj)
    return changed


def measured_job_speeds(session: Session, *, limit: int = 200) -> Sequence[tuple[str, dict[str, Any], float]]:
    """Region, request parameters and average bytes/s of this bot's jobs that measured one; newest first."""
    stmt = (
        select(SmcJob.region_id, MigrationRequest.params, SmcJob.avg_speed_bps)  # type: ignore[call-overload]
        .join(MigrationRequest, col(MigrationRequest.id) == col(SmcJob.request_id))
        .where(col(SmcJob.avg_speed_bps).is_not(None))
        .where(col(SmcJob.avg_speed_bps) > 0)
        .order_by(col(SmcJob.finished_at).desc(), col(SmcJob.updated_at).desc())
        .limit(limit)
    )
    rows = session.execute(stmt)
    return [(str(region), dict(params or {}), float(speed)) for region, params, speed in rows]


def update_outbox_payload(session: Session, key: str, payload: Mapping[str, Any]) -> bool:
    """Replace the payload of a (work) item: a multi-step task keeps its progress there between runs."""
    stmt = (
        update(_table(Outbox))
        .where(_table(Outbox).c.key == key)
        .values(payload=dict(payload), updated_at=utcnow())
    )
    return _rowcount(session.execute(stmt)) == 1


# --- the poller: bulk reads and writes of one tick -------------------------------------------------

_IN_CHUNK = 500
"""Ids per IN (…) list and rows per multi-row INSERT: well inside SQLite's bound-parameter limit."""

_MEMO_SIZE = 256


class _Instants(UTCDateTime):
    """UTCDateTime for the poller's bulk statements, whose thousands of rows share a few instants (the
    tick's clock, the statement's `now`): each distinct value is converted once per column, not per row.
    One instance per column, so each keeps its own small memo."""

    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        convert = super().bind_processor(dialect)
        return None if convert is None else _memoized(convert)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        convert = super().result_processor(dialect, coltype)
        return None if convert is None else _memoized(convert)


def _memoized(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert` remembering its last few results: equal instants (and equal stored strings) convert
    alike, and a value that fails to convert is not remembered."""
    memo: dict[Any, Any] = {}

    def process(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            pass
        converted = convert(value)
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[value] = converted
        return converted

    return process


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> list[Sequence[Any]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def held_jobs(session: Session, job_ids: Sequence[str], owner: str) -> set[str]:
    """The ids among `job_ids` whose lease `owner` still holds (on PostgreSQL locked until commit)."""
    table = _table(SmcJob)
    held: set[str] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(list(job_ids)):
        stmt = select(table.c.job_id).where(table.c.job_id.in_(chunk)).where(table.c.lease_owner == owner)
        if postgres:
            stmt = stmt.with_for_update()
        held.update(session.scalars(stmt).all())
    return held


def record_polls(session: Session, owner: str, changes: Sequence[Mapping[str, Any]]) -> set[str]:
    """Write each job's observed state and let its lease go, where `owner` still holds it; the ids written.

    Every mapping carries `job_id` and the columns to write: one executemany per set of column names.
    """
    if not changes:
        return set()
    if session.get_bind().dialect.supports_sane_multi_rowcount:
        # Leases are rarely lost: write optimistically, and only if one was, look first and write again.
        attempt = session.begin_nested()
        if _write_polls(session, owner, changes) == len(changes):
            attempt.commit()
            return {change["job_id"] for change in changes}
        attempt.rollback()
    held = held_jobs(session, [c["job_id"] for c in changes], owner)
    rows = [c for c in changes if c["job_id"] in held]
    _write_polls(session, owner, rows)
    return {row["job_id"] for row in rows}


def _write_polls(session: Session, owner: str, rows: Sequence[Mapping[str, Any]]) -> int:
    table = _table(SmcJob)
    now = utcnow()
    shapes: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    written = 0
    for shape, group in shapes.items():
        columns = [name for name in shape if name != "job_id"]
        stmt = (
            update(table)
            .where(table.c.job_id == bindparam("b_job_id"))
            .where(table.c.lease_owner == owner)
            .values(
                {
                    **{name: bindparam(f"v_{name}", type_=_bind_type(table, name)) for name in columns},
                    "lease_owner": null(),
                    "lease_expires_at": null(),
                    "updated_at": bindparam("c_updated_at", now, type_=_Instants()),
                }
            )
            .execution_options(synchronize_session=False)
        )
        keys = [(name, f"v_{name}") for name in columns]
        params = [{"b_job_id": r["job_id"], **{key: r[name] for name, key in keys}} for r in group]
        written += _rowcount(session.execute(stmt, params))
    return written


def _bind_type(table: Table, name: str) -> Any:
    """The column's type for a per-row bind; instants get their own memo (`_Instants`)."""
    column_type = table.c[name].type
    return _Instants() if isinstance(column_type, UTCDateTime) else column_type


def release_leases(session: Session, job_ids: Collection[str], owner: str, **values: Any) -> int:
    """Let `owner`'s leases on these jobs go, writing only `values` (e.g. when to poll next); how many."""
    table = _table(SmcJob)
    released = 0
    for chunk in _chunks(list(job_ids)):
        stmt = (
            update(table)
            .where(table.c.job_id.in_(chunk))
            .where(table.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        released += _rowcount(session.execute(stmt))
    return released


def release_all_leases(session: Session, owner: str) -> int:
    """Give back every job lease `owner` holds (a clean shutdown), so another replica polls them now."""
    table = _table(SmcJob)
    stmt = (
        update(table)
        .where(table.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session.execute(stmt))


def requests_by_id(session: Session, request_ids: Collection[str]) -> dict[str, MigrationRequest]:
    """Requests by id, loaded in a few statements however many there are."""
    found: dict[str, MigrationRequest] = {}
    for chunk in _chunks(sorted(set(request_ids))):
        stmt = select(MigrationRequest).where(col(MigrationRequest.id).in_(chunk))
        found.update((row.id, row) for row in session.scalars(stmt).all())
    return found


def channel_configs(session: Session, channel_ids: Collection[str]) -> dict[str, ChannelConfig]:
    """The configuration of each channel that has one."""
    found: dict[str, ChannelConfig] = {}
    for chunk in _chunks(sorted(set(channel_ids))):
        stmt = select(ChannelConfig).where(col(ChannelConfig.channel_id).in_(chunk))
        found.update((row.channel_id, row) for row in session.scalars(stmt).all())
    return found


def _outbox_insert(session: Session) -> Any:
    table = _table(Outbox)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover


def _outbox_row(item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "key": item["key"],
        "kind": item["kind"],
        "state": OutboxState.PENDING,
        "request_id": item.get("request_id"),
        "channel_id": item.get("channel_id"),
        "thread_key": item.get("thread_key"),
        "target_key": item.get("target_key"),
        "user_id": item.get("user_id"),
        "payload": dict(item["payload"]),
        "attempts": 0,
        "next_attempt_at": item.get("not_before") or now,
        "created_at": now,
        "updated_at": now,
    }


def enqueue_many(session: Session, items: Sequence[Mapping[str, Any]]) -> set[str]:
    """`enqueue` for many intents in one executemany, in the given order; returns the keys that were new.

    Each item has `key`, `kind`, `payload` and optionally the other `enqueue` fields.
    """
    if not items:
        return set()
    now = utcnow()
    stmt = _outbox_insert(session).on_conflict_do_nothing().returning(_table(Outbox).c.key)
    return set(session.scalars(stmt, [_outbox_row(item, now) for item in items]).all())


_OUTBOX_TIMES = ("next_attempt_at", "created_at", "updated_at")
"""The instants of an outbox row; in one statement's rows mostly the same `now`."""

IN_FLIGHT_GRACE = timedelta(seconds=5)
"""How long a re-dirtied edit waits, by default, when its previous version is being sent right now."""


def mark_dirty_many(
    session: Session, items: Sequence[Mapping[str, Any]], *, in_flight_delay: timedelta = IN_FLIGHT_GRACE
) -> None:
    """`mark_dirty` for many messages in one executemany (one pending row per key coalesces edits).

    A delivered or dead row is reopened, due at its item's `not_before` (now by default); a pending row
    keeps its due time (a 429 deferral, a place in a schedule). An edit that delivery is sending at this
    very moment rendered the state before this change: its lease is taken away, so its finish does not
    land and the row stays pending, to be sent again, fresh, `in_flight_delay` later at the earliest.
    """
    latest = {str(item["key"]): item for item in items}
    if not latest:
        return
    now = utcnow()
    table = _table(Outbox)
    insert = _outbox_insert(session).values(
        {name: bindparam(name, type_=_Instants()) for name in _OUTBOX_TIMES}
    )
    # The new row (`excluded`) is pending, has no attempts and was stamped `now` (`_outbox_row`): the
    # update reads those from it rather than binding the same constants again for every row.
    new = insert.excluded
    pending = new.state
    # A plain string bind: an Enum-typed one converts again for every row.
    edit = table.c.kind == literal(OutboxKind.SLACK_UPDATE.value, String())
    in_flight = and_(edit, table.c.lease_owner.is_not(None), table.c.lease_expires_at > new.updated_at)
    after_flight = literal(now + in_flight_delay, _Instants())
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "state": pending,
            "payload": new.payload,
            "updated_at": new.updated_at,
            "attempts": case((table.c.state == pending, table.c.attempts), else_=new.attempts),
            "next_attempt_at": case(
                (
                    in_flight,
                    case(
                        (insert.excluded.next_attempt_at > after_flight, insert.excluded.next_attempt_at),
                        else_=after_flight,
                    ),
                ),
                (table.c.state == pending, table.c.next_attempt_at),
                else_=insert.excluded.next_attempt_at,
            ),
            "lease_owner": case((edit, null()), else_=table.c.lease_owner),
            "lease_expires_at": case((edit, null()), else_=table.c.lease_expires_at),
        },
    )
    session.execute(stmt, [_outbox_row(item, now) for item in latest.values()])


def last_pending_at(session: Session, kind: OutboxKind) -> datetime | None:
    """When the last pending item of `kind` is due (the end of a schedule of edits), or None."""
    table = _table(Outbox)
    stmt = (
        select(table.c.next_attempt_at)
        .where(table.c.state == OutboxState.PENDING.value)
        .where(table.c.kind == kind.value)
        .order_by(table.c.next_attempt_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


POLL_COLUMNS = (
    "job_id",
    "request_id",
    "region_id",
    "credential_ref",
    "status",
    "business_status",
    "progress",
    "error_code",
    "status_info",
    "image_id",
    "runs_seen",
    "incremental",
    "total_bytes",
    "speed_bps",
    "event_seq",
    "started_at",
    "status_since",
    "last_polled_at",
    "valid_time",
    "created_at",
)
"""The job columns a poll tick reads (the snapshot separately, only where the poller has no copy)."""


def claim_due_job_rows(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int, active: Collection[Enum]
) -> list[RowMapping]:
    """`claim_due_jobs` for the poller: plain rows (no ORM objects), each with what a tick needs of its
    request (channel, state, target type, network type, speed limit) and channel (poll interval)."""
    return list(
        claim_due_job_rows_iter(session, owner=owner, now=now, lease=lease, limit=limit, active=active)
    )


def claim_due_job_rows_iter(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int, active: Collection[Enum]
) -> Iterator[RowMapping]:
    """`claim_due_job_rows`, the jobs leased now and their rows read one at a time (to be consumed in
    this session): a caller that turns each into its own value never holds thousands of rows."""
    jobs = _table(SmcJob)
    requests = _table(MigrationRequest)
    configs = _table(ChannelConfig)
    due = (
        select(jobs.c.job_id)
        .where(jobs.c.status.in_([a.value for a in active]))
        .where(or_(jobs.c.next_poll_at.is_(None), jobs.c.next_poll_at <= now))
        .where(or_(jobs.c.lease_expires_at.is_(None), jobs.c.lease_expires_at <= now))
        .order_by(jobs.c.next_poll_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    expiry = now + lease
    # One statement leases the due jobs; (owner, expiry) then names exactly this claim's rows.
    leased = session.execute(
        update(jobs)
        .where(jobs.c.job_id.in_(due))
        .values(lease_owner=owner, lease_expires_at=expiry)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(leased) == 0:
        return iter(())
    params = requests.c.params
    stmt = (
        select(
            *(_poll_column(jobs, name) for name in POLL_COLUMNS),
            requests.c.channel_id.label("request_channel_id"),
            requests.c.state.label("request_state"),
            requests.c.target_type.label("request_target_type"),
            params["network_type"].as_integer().label("request_network_type"),
            params["speed_limit_mbps"].as_integer().label("request_speed_limit_mbps"),
            configs.c.poll_seconds.label("channel_poll_seconds"),
        )
        .join(requests, requests.c.id == jobs.c.request_id)
        .outerjoin(configs, configs.c.channel_id == requests.c.channel_id)
        .where(jobs.c.lease_owner == owner)
        .where(jobs.c.lease_expires_at == expiry)
    )
    return iter(session.execute(stmt).mappings())


def _poll_column(table: Table, name: str) -> Any:
    """The column as the claim reads it; instants through a memo (many rows share them)."""
    column = table.c[name]
    if isinstance(column.type, UTCDateTime):
        return type_coerce(column, _Instants()).label(name)
    return column


def idle_pending(session: Session, keys: Collection[str]) -> set[str]:
    """The keys among `keys` whose outbox row is pending and not being sent: a re-render would change
    nothing there. On PostgreSQL they stay locked until commit, so delivery cannot start them meanwhile."""
    table = _table(Outbox)
    postgres = session.get_bind().dialect.name == "postgresql"
    idle: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        stmt = (
            select(table.c.key)
            .where(table.c.key.in_(chunk))
            .where(table.c.state == OutboxState.PENDING.value)
            .where(table.c.lease_owner.is_(None))
        )
        if postgres:
            stmt = stmt.with_for_update()
        idle.update(session.scalars(stmt).all())
    return idle


def job_snapshots(session: Session, job_ids: Collection[str]) -> dict[str, Any]:
    """The stored `snapshot` of each job (None where there is none yet)."""
    table = _table(SmcJob)
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(set(job_ids))):
        stmt = select(table.c.job_id, table.c.snapshot).where(table.c.job_id.in_(chunk))
        found.update((job_id, snapshot) for job_id, snapshot in session.execute(stmt).all())
    return found
