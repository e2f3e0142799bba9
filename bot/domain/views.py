"""Read models for renderers and commands: frozen values built inside a unit of work, never ORM rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.params import MigrationParams
from bot.domain.progress import eta, transferred_bytes
from bot.domain.smc_request import create_replication_job_request
from storage.enums import ApprovalAction, BusinessStatus, ExecutionMethod, JobStatus, RequestState, TargetType
from storage.models import MigrationRequest, SmcJob


@dataclass(frozen=True)
class JobView:
    """The SMC job of a request as the poller last saw it."""

    job_id: str
    region_id: str
    status: JobStatus
    business_status: BusinessStatus | None
    progress: float
    incremental: bool
    total_bytes: int | None = None
    speed_bps: float | None = None
    avg_speed_bps: float | None = None
    error_code: str | None = None
    status_info: str | None = None
    image_id: str | None = None
    target_instance_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_polled_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def transferred_bytes(self) -> float | None:
        """Uncompressed bytes moved in the current cycle, when SMC told the total."""
        return None if self.total_bytes is None else transferred_bytes(self.progress, self.total_bytes)

    @property
    def eta(self) -> timedelta | None:
        """(total - transferred) / speed, as the console computes it; None without a speed or total."""
        moved = self.transferred_bytes
        if self.total_bytes is None or moved is None:
            return None
        return eta(self.total_bytes, moved, self.speed_bps)

    @property
    def last_update(self) -> datetime | None:
        return self.last_polled_at or self.updated_at


@dataclass(frozen=True)
class RequestView:
    """A migration request with its parameters parsed back, its job if any, and where its thread is."""

    id: str
    team_id: str
    channel_id: str
    requester: str
    state: RequestState
    params: MigrationParams
    params_hash: str
    approval_round: int
    created_at: datetime
    updated_at: datetime
    pending_action: ApprovalAction | None = None
    approval_expires_at: datetime | None = None
    thread_ts: str | None = None
    last_error: Mapping[str, Any] | None = None
    job: JobView | None = None

    @property
    def target_type(self) -> TargetType:
        return self.params.target_type

    @property
    def execution_method(self) -> ExecutionMethod:
        return self.params.execution_method

    @property
    def instance_target(self) -> bool:
        return self.params.target_type is TargetType.TARGET_INSTANCE

    def create_request(self) -> dict[str, Any]:
        """The exact `CreateReplicationJob` request; the ClientToken is the request id."""
        return create_replication_job_request(self.params, client_token=self.id)


def params_from_row(row: MigrationRequest) -> MigrationParams:
    """The stored canonical parameters, parsed back (the JSON column holds the canonical document)."""
    return MigrationParams.from_canonical(json.dumps(row.params))


def job_view(row: SmcJob) -> JobView:
    return JobView(
        job_id=row.job_id,
        region_id=row.region_id,
        status=row.status,
        business_status=row.business_status,
        progress=row.progress,
        incremental=row.incremental,
        total_bytes=row.total_bytes,
        speed_bps=row.speed_bps,
        avg_speed_bps=row.avg_speed_bps,
        error_code=row.error_code,
        status_info=row.status_info,
        image_id=row.image_id,
        target_instance_id=row.target_instance_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        last_polled_at=row.last_polled_at,
        updated_at=row.updated_at,
    )


def request_view(row: MigrationRequest, job: SmcJob | None, *, thread_ts: str | None = None) -> RequestView:
    """Detach a request (and its job) from the session into plain values."""
    return RequestView(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        requester=row.requester,
        state=row.state,
        params=params_from_row(row),
        params_hash=row.params_hash,
        approval_round=row.approval_round,
        created_at=row.created_at,
        updated_at=row.updated_at,
        pending_action=row.pending_action,
        approval_expires_at=row.approval_expires_at,
        thread_ts=row.message_ts or thread_ts,
        last_error=dict(row.last_error) if row.last_error else None,
        job=job_view(job) if job is not None else None,
    )


@dataclass(frozen=True)
class TemplatePreset:
    """A saved parameter preset (`/smc template save`), as the wizard's "start from template" offers it."""

    name: str
    params: Mapping[str, Any]
    created_by: str
