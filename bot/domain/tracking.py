"""Job tracking: claim due jobs, describe them in batches, diff, and record state with its thread replies.

One tick: lease the due jobs in the database (so replicas never poll the same job), group them by
credentials and region, call DescribeReplicationJobs with at most 50 ids per call, and compare each answer
with the stored snapshot (`observation.assess`). The new state, the event replies and the summary refresh
are written in one transaction, keyed so that recording them twice changes nothing. A describe that
fails changes nothing: its jobs are released and polled again next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.cloud.ports import MAX_JOB_IDS_PER_DESCRIBE, CloudError, CloudGateway, ReplicationJob
from bot.domain import notifications
from bot.domain.observation import POLLED, JobUpdate, TrackedJob, assess, snapshot_of
from bot.domain.progress import JobSnapshot
from bot.domain.workflow import can_transition
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus, OutboxKind, RequestState

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_WRITE_CHUNK = 500
"""Jobs per write transaction: bounded lock time, and each job's state and replies in one of them."""


@dataclass(frozen=True)
class TrackingPolicy:
    """How often and how the poller looks at jobs."""

    poll_interval: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(minutes=2)
    """Longer than a tick takes; a replica that dies mid-tick leaves its jobs to others after this."""
    claim_limit: int = 10_000
    describe_workers: int = 4
    """DescribeReplicationJobs calls in flight at once (they wait on the network, not the CPU)."""
    deleted_grace: timedelta = timedelta(minutes=2)
    """A job absent from SMC's answer this soon after the bot recorded it is not called deleted yet."""
    summary_spacing: timedelta = timedelta(0)
    """Summary edits are scheduled this far apart (Slack's chat.update budget for the workspace)."""
    summary_in_flight_delay: timedelta = timedelta(seconds=5)
    """A summary re-dirtied while its previous edit is being sent goes again this much later at the
    earliest; one poll interval keeps it to one edit per message per tick."""

    @property
    def slack(self) -> timedelta:
        """Polls come due this much before a full interval, so a tick that starts early still finds them."""
        return min(timedelta(seconds=5), self.poll_interval / 5)


@dataclass
class TickReport:
    """What one tick did (for logs, metrics and the benchmark)."""

    claimed: int = 0
    describe_calls: int = 0
    failed_calls: int = 0
    observed: int = 0
    written: int = 0
    replies: int = 0
    summaries: int = 0
    deleted: int = 0
    lost_leases: int = 0
    seconds: float = 0.0
    groups: dict[tuple[str, str], int] = field(default_factory=dict)
    """Jobs per (credential reference, region)."""


@dataclass(frozen=True)
class _Batch:
    credential_ref: str
    region_id: str
    jobs: tuple[TrackedJob, ...]


@dataclass(frozen=True)
class _Answer:
    batch: _Batch
    at: datetime
    jobs: dict[str, ReplicationJob] | None
    """SMC's jobs by id; None when the call failed."""


class JobTracker:
    """The polling use case; one instance per process, safe to run in several replicas at once."""

    def __init__(
        self,
        db: Database,
        cloud: CloudGateway,
        *,
        owner: str,
        clock: Clock,
        policy: TrackingPolicy | None = None,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._cloud = cloud
        self._owner = owner
        self._clock = clock
        self.policy = policy or TrackingPolicy()
        self._kick = kick
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._snapshots: dict[str, tuple[datetime | None, int, JobSnapshot]] = {}
        """The snapshot this process wrote last for each job, valid while the row still shows that write
        (same last_polled_at and event_seq): saves reading and parsing it back every tick."""

    @property
    def owner(self) -> str:
        return self._owner

    def tick(self) -> TickReport:
        """Claim due jobs, describe them ≤ 50 per call per credentials and region, record what changed."""
        started = time.monotonic()
        report = TickReport()
        jobs = self._claim(self._clock())
        report.claimed = len(jobs)
        if jobs:
            batches = list(_batches(jobs))
            for batch in batches:
                key = (batch.credential_ref, batch.region_id)
                report.groups[key] = report.groups.get(key, 0) + len(batch.jobs)
            answers = self._describe(batches)
            report.describe_calls = len(answers)
            report.failed_calls = sum(1 for a in answers if a.jobs is None)
            self._record(answers, report)
            if report.replies or report.summaries:
                self._kick()
        report.seconds = time.monotonic() - started
        eventful = report.replies or report.failed_calls or report.lost_leases
        log.log(
            logging.INFO if eventful else logging.DEBUG,
            "poll tick claimed=%s calls=%s failed=%s written=%s replies=%s summaries=%s lost=%s seconds=%.3f",
            report.claimed,
            report.describe_calls,
            report.failed_calls,
            report.written,
            report.replies,
            report.summaries,
            report.lost_leases,
            report.seconds,
        )
        return report

    def release_all(self) -> int:
        """Give back every lease this process holds (clean shutdown)."""
        with self._db.unit_of_work() as session:
            return repo.release_all_leases(session, self._owner)

    def close(self) -> None:
        """Stop the describe threads."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # --- claiming -----------------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[TrackedJob]:
        policy = self.policy
        with self._db.unit_of_work() as session:
            rows = repo.claim_due_job_rows(
                session,
                owner=self._owner,
                now=now,
                lease=policy.lease,
                limit=policy.claim_limit,
                active=POLLED,
            )
            known: dict[str, JobSnapshot] = {}
            for row in rows:
                cached = self._snapshots.get(row["job_id"])
                if cached is not None and (cached[0], cached[1]) == (row["last_polled_at"], row["event_seq"]):
                    known[row["job_id"]] = cached[2]
            missing = [row["job_id"] for row in rows if row["job_id"] not in known]
            stored = repo.job_snapshots(session, missing) if missing else {}
        return [
            TrackedJob.from_claim(
                row,
                snapshot=known.get(row["job_id"]) or snapshot_of(row, stored.get(row["job_id"])),
                poll_interval=policy.poll_interval,
            )
            for row in rows
        ]

    def _remember(self, updates: Iterable[JobUpdate]) -> None:
        if len(self._snapshots) > 2 * self.policy.claim_limit:
            self._snapshots.clear()
        for update in updates:
            values = update.values
            if values["next_poll_at"] is None:
                self._snapshots.pop(update.job.job_id, None)
            else:
                self._snapshots[update.job.job_id] = (
                    values["last_polled_at"],
                    values["event_seq"],
                    update.snapshot,
                )

    # --- describing ---------------------------------------------------------------------------

    def _describe(self, batches: Sequence[_Batch]) -> list[_Answer]:
        if self.policy.describe_workers <= 1 or len(batches) == 1:
            return [self._describe_one(batch) for batch in batches]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.policy.describe_workers, thread_name_prefix="describe")
            pool = self._pool
        return list(pool.map(self._describe_one, batches))

    def _describe_one(self, batch: _Batch) -> _Answer:
        ids = [job.job_id for job in batch.jobs]
        try:
            found = self._cloud.destination(batch.credential_ref).describe_replication_jobs(
                batch.region_id, ids
            )
        except CloudError as err:
            log.warning(
                "describe failed, polled again next tick credential_ref=%s region=%s jobs=%s code=%s",
                batch.credential_ref,
                batch.region_id,
                len(ids),
                err.code,
            )
            return _Answer(batch, self._clock(), None)
        wanted = set(ids)
        return _Answer(batch, self._clock(), {job.id: job for job in found if job.id in wanted})

    # --- recording ----------------------------------------------------------------------------

    def _record(self, answers: Sequence[_Answer], report: TickReport) -> None:
        updates: list[JobUpdate] = []
        untouched: list[tuple[TrackedJob, datetime]] = []
        for answer in answers:
            for job in answer.batch.jobs:
                next_poll = self._next_poll(job, answer.at)
                if answer.jobs is None:
                    # A failed describe records nothing about the job: it is only looked at again next tick.
                    untouched.append((job, next_poll))
                    continue
                report.observed += 1
                update = assess(
                    job,
                    answer.jobs.get(job.job_id),
                    answer.at,
                    next_poll=next_poll,
                    deleted_grace=self.policy.deleted_grace,
                )
                if update is None:
                    untouched.append((job, next_poll))
                else:
                    updates.append(update)
        for start in range(0, len(updates), _WRITE_CHUNK):
            self._write(updates[start : start + _WRITE_CHUNK], report)
        if untouched:
            self._release(untouched)

    def _write(self, updates: Sequence[JobUpdate], report: TickReport) -> None:
        with self._db.unit_of_work() as session:
            written = repo.record_polls(
                session, self._owner, [{"job_id": u.job.job_id, **u.values} for u in updates]
            )
            landed = [u for u in updates if u.job.job_id in written]
            report.written += len(landed)
            report.lost_leases += len(updates) - len(landed)
            report.replies += len(repo.enqueue_many(session, list(_reply_rows(landed))))
            moved = {u.job.request_id for u in landed if u.request_to is not None and _follow(session, u)}
            refresh = [u for u in landed if u.summary_changed or u.job.request_id in moved]
            refresh.sort(key=lambda u: not (u.urgent or u.job.request_id in moved))
            notifications.refresh_request_summaries(
                session,
                [(u.job.request_id, u.job.channel_id) for u in refresh],
                spacing=self.policy.summary_spacing,
                in_flight_delay=self.policy.summary_in_flight_delay,
            )
            report.summaries += len(refresh)
            report.deleted += sum(1 for u in landed if u.values.get("status") is JobStatus.DELETED)
        self._remember(landed)
        for update in landed:
            status = update.values.get("status", update.job.snapshot.status)
            if status is not update.job.snapshot.status:
                log.info(
                    "job status job_id=%s request_id=%s from=%s to=%s",
                    update.job.job_id,
                    update.job.request_id,
                    update.job.snapshot.status.value,
                    status,
                )

    def _release(self, jobs: Sequence[tuple[TrackedJob, datetime]]) -> None:
        by_due: dict[datetime, list[str]] = defaultdict(list)
        for job, due in jobs:
            by_due[due].append(job.job_id)
        with self._db.unit_of_work() as session:
            for due, ids in by_due.items():
                repo.release_leases(session, ids, self._owner, next_poll_at=due)

    def _next_poll(self, job: TrackedJob, now: datetime) -> datetime:
        return now + job.poll_every - self.policy.slack


def _batches(jobs: Iterable[TrackedJob]) -> Iterable[_Batch]:
    """Jobs grouped by (credentials, region), in slices of ≤ 50: DescribeReplicationJobs' JobId.N limit."""
    groups: dict[tuple[str, str], list[TrackedJob]] = defaultdict(list)
    for job in jobs:
        groups[(job.credential_ref, job.region_id)].append(job)
    for (ref, region), members in sorted(groups.items()):
        for start in range(0, len(members), MAX_JOB_IDS_PER_DESCRIBE):
            yield _Batch(ref, region, tuple(members[start : start + MAX_JOB_IDS_PER_DESCRIBE]))


def _reply_rows(updates: Iterable[JobUpdate]) -> Iterable[dict[str, Any]]:
    for update in updates:
        job = update.job
        for reply in update.replies:
            payload: dict[str, Any] = {"event": reply.event.value, **reply.data, "request_id": job.request_id}
            if reply.broadcast:
                payload["broadcast"] = True
            yield {
                "key": notifications.request_reply_key(job.request_id, reply.name),
                "kind": OutboxKind.SLACK_POST,
                "payload": payload,
                "request_id": job.request_id,
                "channel_id": job.channel_id,
                "thread_key": notifications.summary_key(job.request_id),
            }


def _follow(session: Session, update: JobUpdate) -> bool:
    """Move the request along with its job (compare-and-set: a concurrent change of the request wins)."""
    target = update.request_to
    state = update.job.request_state
    if target is None or state is target:
        return False
    path: list[RequestState] = []
    if can_transition(state, target):
        path = [target]
    elif can_transition(state, RequestState.IN_PROGRESS) and can_transition(RequestState.IN_PROGRESS, target):
        path = [RequestState.IN_PROGRESS, target]
    current = state
    for step in path:
        if not repo.transition_request(session, update.job.request_id, current, step):
            return False
        log.info("request state request_id=%s from=%s to=%s", update.job.request_id, current, step)
        current = step
    return bool(path)
