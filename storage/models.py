"""SQLModel tables: everything the bot must not lose across restarts lives here (PRODUCT §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.enums import (
    ApprovalAction,
    AuditOutcome,
    BusinessStatus,
    ExecutionMethod,
    ImportBatchState,
    ImportItemState,
    JobStatus,
    OutboxKind,
    OutboxState,
    RequestState,
    TargetType,
    VoteDecision,
)
from storage.types import UTCDateTime, enum_column, utcnow

JSONDict = dict[str, Any]


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


class ImportBatch(SQLModel, table=True):
    """One `/smc import` submission: source account, role and region, and its status thread."""

    __tablename__ = "import_batch"

    id: str = Field(primary_key=True, max_length=32)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32, index=True)
    requester: str = Field(max_length=32)
    cross_account: bool
    source_account_id: str | None = Field(default=None, max_length=32)
    role_name: str | None = Field(default=None, max_length=64)
    region_id: str = Field(max_length=64)
    state: ImportBatchState = Field(default=ImportBatchState.PENDING, sa_type=enum_column(ImportBatchState))
    access_token_id: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ImportItem(SQLModel, table=True):
    """One instance of an import batch, from Cloud Assistant check to source server online."""

    __tablename__ = "import_item"
    __table_args__ = (UniqueConstraint("batch_id", "instance_id", name="uq_import_item_instance"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="import_batch.id", max_length=32, index=True)
    instance_id: str = Field(max_length=64)
    instance_name: str | None = Field(default=None, max_length=128)
    private_ip: str | None = Field(default=None, max_length=64)
    state: ImportItemState = Field(default=ImportItemState.PENDING, sa_type=enum_column(ImportItemState))
    invoke_id: str | None = Field(default=None, max_length=64)
    source_server_id: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=128)
    error_message: str | None = Field(default=None, max_length=1024)
    output_tail: str | None = Field(default=None, max_length=4096)
    attempts: int = 0
    deadline_at: datetime | None = _when()
    updated_at: datetime = _created()


class MigrationRequest(SQLModel, table=True):
    """A migration as asked for: canonical parameters, their hash, and where it stands."""

    __tablename__ = "migration_request"

    id: str = Field(primary_key=True, max_length=32)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32, index=True)
    requester: str = Field(max_length=32, index=True)
    source_id: str = Field(max_length=64, index=True)
    target_type: TargetType = Field(sa_type=enum_column(TargetType))
    region_id: str = Field(max_length=64)
    execution_method: ExecutionMethod = Field(sa_type=enum_column(ExecutionMethod))
    params: JSONDict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    params_hash: str = Field(max_length=64)
    state: RequestState = Field(sa_type=enum_column(RequestState), index=True)
    pending_action: ApprovalAction | None = Field(default=None, sa_type=enum_column(ApprovalAction))
    approval_round: int = 0
    approval_expires_at: datetime | None = _when(index=True)
    reminder_sent_at: datetime | None = _when()
    credential_ref: str = Field(default="default", max_length=200)
    message_ts: str | None = Field(default=None, max_length=32)
    drill_report: JSONDict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    last_error: JSONDict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Vote(SQLModel, table=True):
    """One approver's decision in one approval round, bound to the parameter hash it saw."""

    __tablename__ = "vote"
    __table_args__ = (
        UniqueConstraint("request_id", "round", "voter", "params_hash", name="uq_vote_once_per_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="migration_request.id", max_length=32, index=True)
    round: int
    voter: str = Field(max_length=32)
    params_hash: str = Field(max_length=64)
    decision: VoteDecision = Field(sa_type=enum_column(VoteDecision))
    reason: str | None = Field(default=None, max_length=1024)
    created_at: datetime = _created()


class SmcJob(SQLModel, table=True):
    """An SMC replication job the bot created, with the last state it saw and the poll lease."""

    __tablename__ = "smc_job"
    __table_args__ = (Index("ix_smc_job_due", "next_poll_at", "lease_expires_at"),)

    job_id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(foreign_key="migration_request.id", max_length=32, unique=True)
    region_id: str = Field(max_length=64)
    credential_ref: str = Field(default="default", max_length=200)
    status: JobStatus = Field(default=JobStatus.READY, sa_type=enum_column(JobStatus), index=True)
    business_status: BusinessStatus | None = Field(default=None, sa_type=enum_column(BusinessStatus))
    progress: float = 0.0
    error_code: str | None = Field(default=None, max_length=128)
    status_info: str | None = Field(default=None, max_length=1024)
    image_id: str | None = Field(default=None, max_length=64)
    target_instance_id: str | None = Field(default=None, max_length=64)
    runs_seen: int = 0
    incremental: bool = False
    total_bytes: int | None = Field(default=None, sa_type=BigInteger)
    speed_bps: float | None = None
    avg_speed_bps: float | None = None
    snapshot: JSONDict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """bot.domain.progress.JobSnapshot.to_dict(): the diff's memory (cycles, peaks, events already seen)."""
    event_seq: int = 0
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    status_since: datetime | None = _when()
    last_polled_at: datetime | None = _when()
    next_poll_at: datetime | None = _when()
    valid_time: datetime | None = _when()
    """SMC's `ValidTime`: the job expires then (housekeeping nudges before it does)."""
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Outbox(SQLModel, table=True):
    """Intent recorded with the state change that caused it; delivered later, at most once per key."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        # claim_outbox's per-thread order and per-channel lease checks, with thousands of items pending.
        Index("ix_outbox_thread", "thread_key", "state"),
        Index("ix_outbox_channel_lease", "channel_id", "lease_owner"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    kind: OutboxKind = Field(sa_type=enum_column(OutboxKind))
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=enum_column(OutboxState))
    request_id: str | None = Field(default=None, max_length=32, index=True)
    channel_id: str | None = Field(default=None, max_length=32)
    thread_key: str | None = Field(default=None, max_length=200)
    target_key: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=32)
    payload: JSONDict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = _created()
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _when()
    result_ts: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=1024)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    sent_at: datetime | None = _when()


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what, when, to which request and parameter hash, with what outcome."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    team_id: str | None = Field(default=None, max_length=32)
    channel_id: str | None = Field(default=None, max_length=32, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=32, index=True)
    params_hash: str | None = Field(default=None, max_length=64)
    outcome: AuditOutcome = Field(default=AuditOutcome.OK, sa_type=enum_column(AuditOutcome))
    detail: JSONDict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ChannelConfig(SQLModel, table=True):
    """Per-channel approval policy and defaults, set by `/smc config`."""

    __tablename__ = "channel_config"

    channel_id: str = Field(primary_key=True, max_length=32)
    team_id: str = Field(max_length=32)
    approver_usergroups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approver_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    admin_users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    quorum: int = 1
    self_approval: bool = False
    expiry_hours: int = 24
    approval_methods: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    default_region: str | None = Field(default=None, max_length=64)
    default_source_account: str | None = Field(default=None, max_length=32)
    default_role_name: str | None = Field(default=None, max_length=64)
    default_network: str | None = Field(default=None, max_length=16)
    poll_seconds: int | None = None
    stale_hours: int = 6
    digest_enabled: bool = False
    updated_by: str | None = Field(default=None, max_length=32)
    updated_at: datetime = _created()


class ParamTemplate(SQLModel, table=True):
    """A saved parameter preset (the console's migration template), per workspace."""

    __tablename__ = "param_template"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_param_template_name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    name: str = Field(max_length=64)
    params: JSONDict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=32)
    created_at: datetime = _created()
    updated_at: datetime = _created()
