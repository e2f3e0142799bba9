"""Housekeeping (PRODUCT §3.6): nudge threads about jobs that bill without progress or near their ValidTime,
and post a daily digest in channels that asked for one. Approval reminders belong to the approval engine.

Every nudge and digest is an outbox row with a key that names its episode (the job entered InError at
this time; this ValidTime; this channel on this day), so running housekeeping twice, or in two replicas,
posts each of them once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.domain import notifications
from bot.domain.notifications import Event
from bot.domain.observation import job_reply_name
from bot.domain.requests import STATE_WORDS
from bot.domain.workflow import CLOSED
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus, OutboxKind, RequestState
from storage.models import ChannelConfig, MigrationRequest, SmcJob

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

STALE: frozenset[JobStatus] = frozenset({JobStatus.IN_ERROR, JobStatus.STOPPED})
"""Statuses in which a job keeps its intermediate resources, and their bill, without making progress."""

EXPIRING: frozenset[JobStatus] = frozenset(
    {JobStatus.READY, JobStatus.RUNNING, JobStatus.STOPPED, JobStatus.IN_ERROR, JobStatus.WAITING}
)
"""Statuses in which SMC still lets ValidTime be extended (SMC_API_NOTES: Modify)."""

DEFAULT_STALE_HOURS = 6


@dataclass(frozen=True)
class HousekeepingPolicy:
    default_stale_hours: int = DEFAULT_STALE_HOURS
    """For channels without a configuration; `ChannelConfig.stale_hours` otherwise (0 turns nudges off)."""
    valid_time_warning: timedelta = timedelta(days=2)
    digest_hour_utc: int = 9
    """The digest of a day goes out at the first run after this hour (UTC)."""
    digest_rows: int = 50


@dataclass
class HousekeepingReport:
    stale_nudges: int = 0
    expiry_nudges: int = 0
    digests: int = 0


def digest_key(channel_id: str, day: str) -> str:
    return f"digest:{channel_id}:{day}"


class Housekeeper:
    """Finds what needs a nudge or a digest and records it; idempotent, safe in several replicas."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        policy: HousekeepingPolicy | None = None,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy or HousekeepingPolicy()
        self._kick = kick

    def run(self) -> HousekeepingReport:
        now = self._clock()
        report = HousekeepingReport()
        with self._db.unit_of_work() as session:
            report.stale_nudges = self._stale(session, now)
            report.expiry_nudges = self._expiring(session, now)
            report.digests = self._digests(session, now)
        if report.stale_nudges or report.expiry_nudges or report.digests:
            log.info(
                "housekeeping stale_nudges=%s expiry_nudges=%s digests=%s",
                report.stale_nudges,
                report.expiry_nudges,
                report.digests,
            )
            self._kick()
        return report

    # --- nudges -------------------------------------------------------------------------------

    def _stale(self, session: Session, now: datetime) -> int:
        rows = session.execute(
            select(SmcJob, MigrationRequest.channel_id, MigrationRequest.state, ChannelConfig.stale_hours)  # type: ignore[call-overload]
            .join(MigrationRequest, col(MigrationRequest.id) == col(SmcJob.request_id))
            .outerjoin(ChannelConfig, col(ChannelConfig.channel_id) == col(MigrationRequest.channel_id))
            .where(col(SmcJob.status).in_([s.value for s in STALE]))
            .where(col(SmcJob.status_since).is_not(None))
        ).all()
        sent = 0
        for job, channel_id, state, configured in rows:
            hours = self.policy.default_stale_hours if configured is None else int(configured)
            if hours <= 0 or state in CLOSED or job.status_since is None:
                continue
            waited = now - job.status_since
            if waited < timedelta(hours=hours):
                continue
            episode = int(job.status_since.timestamp())
            data: dict[str, Any] = {
                "reason": "stale",
                "job_id": job.job_id,
                "region_id": job.region_id,
                "status": job.status.value,
                "since": job.status_since.isoformat(),
                "hours": waited.total_seconds() / 3600,
                "error_code": job.error_code,
                "status_info": job.status_info,
            }
            sent += notifications.request_reply(
                session,
                job.request_id,
                channel_id,
                name=job_reply_name(job.job_id, f"nudge:{job.status.value}:{episode}"),
                event=Event.NUDGE,
                data={k: v for k, v in data.items() if v is not None},
            )
        return sent

    def _expiring(self, session: Session, now: datetime) -> int:
        horizon = now + self.policy.valid_time_warning
        rows = session.execute(
            select(SmcJob, MigrationRequest.channel_id, MigrationRequest.state)  # type: ignore[call-overload]
            .join(MigrationRequest, col(MigrationRequest.id) == col(SmcJob.request_id))
            .where(col(SmcJob.status).in_([s.value for s in EXPIRING]))
            .where(col(SmcJob.valid_time).is_not(None))
            .where(col(SmcJob.valid_time) <= horizon)
        ).all()
        sent = 0
        for job, channel_id, state in rows:
            if state in CLOSED or job.valid_time is None:
                continue
            episode = int(job.valid_time.timestamp())
            sent += notifications.request_reply(
                session,
                job.request_id,
                channel_id,
                name=job_reply_name(job.job_id, f"nudge:valid_time:{episode}"),
                event=Event.NUDGE,
                data={
                    "reason": "valid_time",
                    "job_id": job.job_id,
                    "region_id": job.region_id,
                    "status": job.status.value,
                    "valid_time": job.valid_time.isoformat(),
                    "remaining_seconds": (job.valid_time - now).total_seconds(),
                },
            )
        return sent

    # --- digest -------------------------------------------------------------------------------

    def _digests(self, session: Session, now: datetime) -> int:
        if now.hour < self.policy.digest_hour_utc:
            return 0
        day = now.date().isoformat()
        channels = session.scalars(
            select(ChannelConfig.channel_id).where(col(ChannelConfig.digest_enabled).is_(True))  # type: ignore[call-overload]
        ).all()
        sent = 0
        for channel_id in channels:
            key = digest_key(channel_id, day)
            if repo.get_outbox(session, key) is not None:
                continue
            payload = self._digest(session, channel_id, day, now)
            sent += repo.enqueue(session, key, OutboxKind.SLACK_POST, payload, channel_id=channel_id)
        return sent

    def _digest(self, session: Session, channel_id: str, day: str, now: datetime) -> dict[str, Any]:
        open_states = [s.value for s in RequestState if s not in CLOSED and s is not RequestState.COMPLETED]
        requests: Sequence[MigrationRequest] = session.scalars(
            select(MigrationRequest)
            .where(col(MigrationRequest.channel_id) == channel_id)
            .where(col(MigrationRequest.state).in_(open_states))
        ).all()
        counts = Counter(STATE_WORDS.get(r.state, r.state.value) for r in requests)
        rows = session.execute(
            select(SmcJob, MigrationRequest.id)  # type: ignore[call-overload]
            .join(MigrationRequest, col(MigrationRequest.id) == col(SmcJob.request_id))
            .where(col(MigrationRequest.channel_id) == channel_id)
            .where(col(MigrationRequest.state).in_(open_states))
            .order_by(col(SmcJob.created_at))
        ).all()
        attention: list[dict[str, Any]] = []
        active: list[dict[str, Any]] = []
        for job, request_id in rows:
            line = {
                "request_id": request_id,
                "job_id": job.job_id,
                "status": job.status.value,
                "business_status": job.business_status.value if job.business_status else None,
                "progress": job.progress,
                "error_code": job.error_code,
            }
            if job.status in STALE:
                attention.append(line)
            elif job.status not in (JobStatus.FINISHED, JobStatus.DELETED):
                active.append(line)
        finished = session.scalars(
            select(SmcJob.job_id)  # type: ignore[call-overload]
            .join(MigrationRequest, col(MigrationRequest.id) == col(SmcJob.request_id))
            .where(col(MigrationRequest.channel_id) == channel_id)
            .where(col(SmcJob.finished_at) >= now - timedelta(days=1))
        ).all()
        limit = self.policy.digest_rows
        return {
            "event": Event.DIGEST.value,
            "date": day,
            "channel_id": channel_id,
            "counts": dict(sorted(counts.items())),
            "attention": attention[:limit],
            "active": active[:limit],
            "active_total": len(active),
            "finished_last_day": len(finished),
        }
