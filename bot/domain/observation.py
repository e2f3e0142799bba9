"""What one observation of an SMC job changes: its columns, its thread replies, its summary, its request.

Pure: `assess` compares SMC's answer with the job's stored snapshot (`progress.observe`) and returns the
values to write and the replies to record; the tracker writes them in one transaction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from bot.cloud.ports import ReplicationJob
from bot.domain.notifications import Event
from bot.domain.progress import (
    JobEvent,
    JobEventKind,
    JobObservation,
    JobRun,
    JobSnapshot,
    average_speed,
    eta,
    observe,
    transferred_bytes,
)
from storage.enums import BusinessStatus, JobStatus, RequestState, TargetType

log = logging.getLogger(__name__)

POLLED: frozenset[JobStatus] = frozenset(
    {
        JobStatus.READY,
        JobStatus.RUNNING,
        JobStatus.STOPPED,
        JobStatus.IN_ERROR,
        JobStatus.WAITING,
        JobStatus.EXPIRED,
        JobStatus.DELETING,
    }
)
"""Statuses that can still change; Finished and Deleted jobs are not polled any more."""

EVENT_OF_KIND: Mapping[JobEventKind, Event] = {
    JobEventKind.STATUS: Event.STATUS_CHANGED,
    JobEventKind.BUSINESS_STATUS: Event.STATUS_CHANGED,
    JobEventKind.MILESTONE: Event.MILESTONE,
    JobEventKind.CYCLE_FINISHED: Event.CYCLE_FINISHED,
    JobEventKind.ERROR: Event.JOB_ERROR,
    JobEventKind.FINISHED: Event.JOB_FINISHED,
}

DELETED_KEY = "deleted"
"""Event key of the reply saying SMC no longer knows the job (it was deleted, or expired and removed)."""


PROGRESS_COLUMNS = ("progress", "snapshot", "speed_bps", "event_seq", "last_polled_at", "next_poll_at")
"""What every observation writes; the other columns only when one of them changed (a cheaper write)."""

IDLE_COLUMNS = ("speed_bps", "last_polled_at", "next_poll_at")
"""What an observation that changes neither the columns nor the snapshot writes (nothing to re-encode)."""

DETAIL_COLUMNS = (
    "status",
    "business_status",
    "error_code",
    "status_info",
    "image_id",
    "runs_seen",
    "incremental",
    "started_at",
    "status_since",
    "valid_time",
)

_details = itemgetter(*DETAIL_COLUMNS)


def job_reply_name(job_id: str, event_key: str) -> str:
    """The name part of a job event's outbox key: `req:<request>:job:<job>:<event key>`."""
    return f"job:{job_id}:{event_key}"


@dataclass(frozen=True, slots=True)
class TrackedJob:
    """What a tick needs of one claimed job and its request, detached from the session."""

    job_id: str
    request_id: str
    channel_id: str
    request_state: RequestState
    target_type: TargetType
    region_id: str
    credential_ref: str
    status: JobStatus
    incremental: bool
    snapshot: JobSnapshot
    progress: float
    total_bytes: int | None
    speed_bps: float | None
    started_at: datetime | None
    status_since: datetime | None
    last_polled_at: datetime | None
    created_at: datetime
    event_seq: int
    poll_every: timedelta
    network_type: int = 0
    speed_limit_mbps: int = 0
    stored: Mapping[str, Any] = field(default_factory=dict)
    """The DETAIL_COLUMNS as stored: an observation that changes none of them writes only progress."""

    @classmethod
    def from_claim(
        cls, row: Mapping[Any, Any], *, snapshot: JobSnapshot, poll_interval: timedelta
    ) -> TrackedJob:
        """From a row of `repository.claim_due_job_rows`; the channel may ask for a longer interval."""
        seconds = row["channel_poll_seconds"] or 0
        poll_every = poll_interval if not seconds and poll_interval >= _NO_TIME else None
        return cls(
            job_id=row["job_id"],
            request_id=row["request_id"],
            channel_id=row["request_channel_id"],
            request_state=row["request_state"],
            target_type=row["request_target_type"],
            region_id=row["region_id"],
            credential_ref=row["credential_ref"],
            status=row["status"],
            incremental=row["incremental"],
            snapshot=snapshot,
            progress=row["progress"],
            total_bytes=row["total_bytes"],
            speed_bps=row["speed_bps"],
            started_at=row["started_at"],
            status_since=row["status_since"],
            last_polled_at=row["last_polled_at"],
            created_at=row["created_at"],
            event_seq=row["event_seq"],
            poll_every=poll_every or max(poll_interval, timedelta(seconds=seconds)),
            network_type=row["request_network_type"] or 0,
            speed_limit_mbps=row["request_speed_limit_mbps"] or 0,
            stored={name: row[name] for name in DETAIL_COLUMNS},
        )


def snapshot_of(row: Mapping[Any, Any], stored: Mapping[str, Any] | None) -> JobSnapshot:
    """The diff's memory of a job: its stored snapshot, or one rebuilt from the columns of a new row."""
    if stored:
        try:
            return JobSnapshot.from_dict(stored)
        except (KeyError, ValueError):
            log.warning("unreadable job snapshot, rebuilt from columns job_id=%s", row["job_id"])
    return JobSnapshot(
        status=row["status"],
        business_status=row["business_status"],
        progress=row["progress"],
        error_code=row["error_code"],
        runs_seen=row["runs_seen"],
        image_id=row["image_id"],
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """One thread reply to record for a job event."""

    name: str
    event: Event
    data: Mapping[str, Any]
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """What one observation of a job changes: its columns, its replies, the summary, the request."""

    job: TrackedJob
    values: Mapping[str, Any]
    snapshot: JobSnapshot
    replies: tuple[Reply, ...] = ()
    summary_changed: bool = False
    urgent: bool = False
    """The summary changed more than its progress: its edit goes before progress-only ones."""
    request_to: RequestState | None = None


_JOB_STATUSES: Mapping[str, JobStatus] = {status.value: status for status in JobStatus}
_BUSINESS_STATUSES: Mapping[str, BusinessStatus] = {status.value: status for status in BusinessStatus}


def observation_of(described: ReplicationJob) -> JobObservation | None:
    """SMC's answer in the diff's terms; None for a status this bot does not know (left untouched)."""
    status = _JOB_STATUSES.get(described.status.value)
    if status is None:
        return None
    sub = described.business_status
    return JobObservation(
        status=status,
        business_status=None if sub is None else _BUSINESS_STATUSES.get(sub.value),
        progress=described.progress,
        error_code=described.error_code or None,
        status_info=described.status_info or None,
        image_id=described.image_id or None,
        runs=tuple(
            JobRun(image_id=run.image_id, started_at=run.start_time, ended_at=run.end_time)
            for run in described.runs
        )
        if described.runs
        else (),
        incremental=described.run_once is False,
    )


def visible(
    *,
    status: JobStatus,
    business: BusinessStatus | None,
    progress: float,
    error_code: str | None,
    image_id: str | None,
    runs_seen: int,
) -> tuple[Any, ...]:
    """What the summary shows that can change between polls (the bar and its label move by whole percent)."""
    whole = math.floor(progress) if math.isfinite(progress) else 0
    return (status, business, whole, error_code or None, image_id or None, runs_seen)


def assess(
    job: TrackedJob,
    described: ReplicationJob | None,
    now: datetime,
    *,
    next_poll: datetime,
    deleted_grace: timedelta,
) -> JobUpdate | None:
    """What to record for `job` given SMC's answer (None: SMC no longer returns it); None: nothing."""
    if described is None:
        return None if now - job.created_at < deleted_grace else _gone(job, now)
    current = observation_of(described)
    if current is None:
        log.warning("unknown job status, left as it was job_id=%s status=%s", job.job_id, described.status)
        return None
    previous = job.snapshot
    observed = observe(previous, current)
    snapshot = observed.snapshot
    speed = _speed(job, previous, current, now)
    started = job.started_at or described.start_time
    if started is None and current.status is not JobStatus.READY:
        started = now
    finished: datetime | None = None
    avg_speed: float | None = None
    if current.status is JobStatus.FINISHED:
        finished = described.end_time or now
        if job.total_bytes is not None and started is not None:
            avg_speed = average_speed(job.total_bytes, started, finished)
    changed_status = current.status is not previous.status
    values: dict[str, Any] = {
        "status": current.status,
        "business_status": current.business_status,
        "progress": current.progress,
        "error_code": current.error_code,
        "status_info": current.status_info,
        "image_id": snapshot.image_id,
        "runs_seen": snapshot.runs_seen,
        "incremental": current.incremental,
        "snapshot": snapshot.to_dict(),
        "speed_bps": speed,
        "avg_speed_bps": avg_speed,
        "event_seq": job.event_seq + len(observed.events),
        "started_at": started,
        "finished_at": finished,
        "status_since": now if changed_status or job.status_since is None else job.status_since,
        "valid_time": described.valid_time,
        "last_polled_at": now,
        "next_poll_at": next_poll if current.status in POLLED else None,
    }
    stored = job.stored
    try:
        unchanged = _details(stored) == _details(values)
    except KeyError:
        unchanged = [stored.get(n, _UNKNOWN) for n in DETAIL_COLUMNS] == [values[n] for n in DETAIL_COLUMNS]
    if unchanged and current.status is not JobStatus.FINISHED:
        same = not observed.events and current.progress == job.progress and snapshot == previous
        values = {name: values[name] for name in (IDLE_COLUMNS if same else PROGRESS_COLUMNS)}
    replies: tuple[Reply, ...] = ()
    if observed.events:
        context = _Context(described, current, snapshot, speed, started, finished, avg_speed)
        replies = tuple(_reply(job, event, context) for event in observed.events)
    request_to: RequestState | None = None
    if current.status is JobStatus.FINISHED:
        request_to = RequestState.COMPLETED
    elif current.status is not JobStatus.READY and job.request_state is RequestState.JOB_CREATED:
        request_to = RequestState.IN_PROGRESS
    before = visible(
        status=previous.status,
        business=previous.business_status,
        progress=job.progress,
        error_code=previous.error_code,
        image_id=previous.image_id,
        runs_seen=previous.runs_seen,
    )
    after = visible(
        status=current.status,
        business=current.business_status,
        progress=current.progress,
        error_code=current.error_code,
        image_id=snapshot.image_id,
        runs_seen=snapshot.runs_seen,
    )
    return JobUpdate(
        job=job,
        values=values,
        snapshot=snapshot,
        replies=replies,
        summary_changed=before != after or bool(replies) or request_to is not None,
        urgent=_without_progress(before) != _without_progress(after) or request_to is not None,
        request_to=request_to,
    )


def _without_progress(shown: tuple[Any, ...]) -> tuple[Any, ...]:
    return shown[:2] + shown[3:]


_UNKNOWN = object()
_NO_TIME = timedelta(0)


def _syncing(status: JobStatus, business: BusinessStatus | None) -> bool:
    return status is JobStatus.RUNNING and business is BusinessStatus.SYNCING


def _speed(job: TrackedJob, previous: JobSnapshot, current: JobObservation, now: datetime) -> float | None:
    """Bytes/s between this reading and the last, both taken while Syncing the same cycle."""
    if not _syncing(current.status, current.business_status):
        return None
    if not _syncing(previous.status, previous.business_status) or job.last_polled_at is None:
        return None
    if current.progress < previous.progress:
        return None
    # speed_between(ProgressSample(last poll, previous), ProgressSample(now, current)), without the samples.
    total = job.total_bytes
    if total is None:
        return job.speed_bps
    seconds = (now - job.last_polled_at).total_seconds()
    moved = transferred_bytes(current.progress, total) - transferred_bytes(previous.progress, total)
    if seconds <= 0 or moved < 0:
        return job.speed_bps
    return moved / seconds


@dataclass(frozen=True, slots=True)
class _Context:
    described: ReplicationJob
    current: JobObservation
    snapshot: JobSnapshot
    speed: float | None
    started: datetime | None
    finished: datetime | None
    avg_speed: float | None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _reply(job: TrackedJob, event: JobEvent, ctx: _Context) -> Reply:
    """The reply's payload: what its renderer needs, as it was when the event was observed."""
    data: dict[str, Any] = {
        **event.to_dict(),
        "job_id": job.job_id,
        "region_id": job.region_id,
        "target_type": job.target_type.value,
        "incremental": ctx.current.incremental,
    }
    if event.kind is JobEventKind.MILESTONE:
        data["progress"] = ctx.current.progress
        if job.total_bytes is not None:
            moved = transferred_bytes(ctx.current.progress, job.total_bytes)
            data["total_bytes"] = job.total_bytes
            data["transferred_bytes"] = moved
            remaining = eta(job.total_bytes, moved, ctx.speed)
            if remaining is not None:
                data["eta_seconds"] = remaining.total_seconds()
        data["speed_bps"] = ctx.speed
        data["network_type"] = job.network_type
        data["speed_limit_mbps"] = job.speed_limit_mbps
    elif event.kind is JobEventKind.CYCLE_FINISHED and event.run is not None:
        runs = ctx.current.runs
        if 0 < event.run <= len(runs):
            data["run_started_at"] = _iso(runs[event.run - 1].started_at)
            data["run_ended_at"] = _iso(runs[event.run - 1].ended_at)
    elif event.kind is JobEventKind.FINISHED:
        data["image_id"] = ctx.snapshot.image_id
        data["instance_id"] = ctx.described.instance_id
        data["started_at"] = _iso(ctx.started)
        data["finished_at"] = _iso(ctx.finished)
        if ctx.started is not None and ctx.finished is not None:
            data["duration_seconds"] = max((ctx.finished - ctx.started).total_seconds(), 0.0)
        data["avg_speed_bps"] = ctx.avg_speed
        data["total_bytes"] = job.total_bytes
        data["runs"] = ctx.snapshot.runs_seen
    return Reply(
        name=job_reply_name(job.job_id, event.key),
        event=EVENT_OF_KIND[event.kind],
        data={k: v for k, v in data.items() if v is not None},
        broadcast=event.kind is JobEventKind.FINISHED,
    )


def _gone(job: TrackedJob, now: datetime) -> JobUpdate:
    """SMC no longer returns the job: it was deleted (or expired and removed); stop polling it."""
    previous = job.snapshot
    entries = dict(previous.entries)
    entries[JobStatus.DELETED] = entries.get(JobStatus.DELETED, 0) + 1
    snapshot = replace(previous, status=JobStatus.DELETED, business_status=None, entries=entries)
    values: dict[str, Any] = {
        "status": JobStatus.DELETED,
        "business_status": None,
        "progress": job.progress,
        "error_code": previous.error_code,
        "status_info": None,
        "image_id": previous.image_id,
        "runs_seen": previous.runs_seen,
        "incremental": job.incremental,
        "snapshot": snapshot.to_dict(),
        "speed_bps": None,
        "avg_speed_bps": None,
        "event_seq": job.event_seq + 1,
        "started_at": job.started_at,
        "finished_at": None,
        "status_since": now,
        "valid_time": None,
        "last_polled_at": now,
        "next_poll_at": None,
    }
    reply = Reply(
        name=job_reply_name(job.job_id, DELETED_KEY),
        event=Event.STATUS_CHANGED,
        data={
            "kind": "deleted",
            "key": DELETED_KEY,
            "status": JobStatus.DELETED.value,
            "previous_status": previous.status.value,
            "job_id": job.job_id,
            "region_id": job.region_id,
            "target_type": job.target_type.value,
        },
    )
    return JobUpdate(
        job=job,
        values=values,
        snapshot=snapshot,
        replies=(reply,),
        summary_changed=True,
        urgent=True,
        request_to=RequestState.JOB_DELETED,
    )
