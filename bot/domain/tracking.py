"""Job tracking: claim due jobs, describe them in batches, diff, and record state with its thread replies.

One tick: lease the due jobs in the database (so replicas never poll the same job), group them by
credentials and region, call DescribeReplicationJobs with at most 50 ids per call, and compare each answer,
as it arrives, with the stored snapshot (`observation.assess`). A job's new state, its event replies and
its summary refresh are written in one transaction (≤ 500 jobs each), keyed so that recording them twice
changes nothing. A describe that fails changes nothing: its jobs are released and polled again next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
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


@dataclass(frozen=True, slots=True)
class _Batch:
    credential_ref: str
    region_id: str
    jobs: tuple[TrackedJob, ...]


@dataclass(frozen=True, slots=True)
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
        self._snapshots: dict[str, JobSnapshot] = {}
        """The snapshot this process wrote last for each job, valid while the row still shows that write
        (`_written`: same last_polled_at and event_seq): saves reading and parsing it back every tick."""
        self._written: dict[str, tuple[datetime | None, int]] = {}

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
            del jobs
            for batch in batches:
                key = (batch.credential_ref, batch.region_id)
                report.groups[key] = report.groups.get(key, 0) + len(batch.jobs)
            self._poll(batches, report)
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
        """Lease the due jobs; each row becomes a TrackedJob as it is read, with the snapshot this process
        wrote last where the row still shows that write, else the stored one (read for those rows only)."""
        policy = self.policy
        interval = policy.poll_interval
        jobs: list[TrackedJob | None] = []
        unknown: list[tuple[int, Mapping[Any, Any]]] = []
        with self._db.unit_of_work() as session:
            rows = repo.claim_due_job_rows_iter(
                session,
                owner=self._owner,
                now=now,
                lease=policy.lease,
                limit=policy.claim_limit,
                active=POLLED,
            )
            for row in rows:
                job_id = row["job_id"]
                snapshot = self._snapshots.get(job_id)
                if snapshot is not None and self._written.get(job_id) == (
                    row["last_polled_at"],
                    row["event_seq"],
                ):
                    jobs.append(TrackedJob.from_claim(row, snapshot=snapshot, poll_interval=interval))
                else:
                    unknown.append((len(jobs), row))
                    jobs.append(None)
            stored = repo.job_snapshots(session, [new["job_id"] for _, new in unknown]) if unknown else {}
        for position, new in unknown:
            snapshot = snapshot_of(new, stored.get(new["job_id"]))
            jobs[position] = TrackedJob.from_claim(new, snapshot=snapshot, poll_interval=interval)
        return [job for job in jobs if job is not None]

    def _remember(self, updates: Iterable[JobUpdate]) -> None:
        if len(self._snapshots) > 2 * self.policy.claim_limit:
            self._snapshots.clear()
            self._written.clear()
        for update in updates:
            values = update.values
            job = update.job
            if values["next_poll_at"] is None:
                self._snapshots.pop(job.job_id, None)
                self._written.pop(job.job_id, None)
            else:
                self._snapshots[job.job_id] = update.snapshot
                self._written[job.job_id] = (values["last_polled_at"], values.get("event_seq", job.event_seq))

    # --- describing ---------------------------------------------------------------------------

    def _poll(self, batches: Sequence[_Batch], report: TickReport) -> None:
        """Describe the batches, assess each answer as it arrives and write every _WRITE_CHUNK updates: a
        tick holds one chunk's observations at a time, not every job's."""
        updates: list[JobUpdate] = []
        untouched: list[tuple[str, datetime]] = []
        for answer in self._describe(batches):
            report.describe_calls += 1
            if answer.jobs is None:
                report.failed_calls += 1
            self._assess(answer, report, updates, untouched)
            while len(updates) >= _WRITE_CHUNK:
                self._write(updates[:_WRITE_CHUNK], report)
                del updates[:_WRITE_CHUNK]
        if updates:
            self._write(updates, report)
        if untouched:
            self._release(untouched)

    def _describe(self, batches: Sequence[_Batch]) -> Iterator[_Answer]:
        """The answers in batch order; with workers, a few calls run ahead of the one being recorded."""
        workers = self.policy.describe_workers
        if workers <= 1 or len(batches) == 1:
            yield from (self._describe_one(batch) for batch in batches)
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="describe")
            pool = self._pool
        waiting = iter(batches)
        running = deque(pool.submit(self._describe_one, batch) for batch in islice(waiting, 2 * workers))
        while running:
            answer = running.popleft().result()
            following = next(waiting, None)
            if following is not None:
                running.append(pool.submit(self._describe_one, following))
            yield answer

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

    def _assess(
        self,
        answer: _Answer,
        report: TickReport,
        updates: list[JobUpdate],
        untouched: list[tuple[str, datetime]],
    ) -> None:
        """What the answer changed goes to `updates`; `untouched` gets the jobs whose lease only goes back."""
        found = answer.jobs
        due: dict[timedelta, datetime] = {}
        for job in answer.batch.jobs:
            next_poll = due.get(job.poll_every)
            if next_poll is None:
                next_poll = due[job.poll_every] = self._next_poll(job, answer.at)
            if found is None:
                # A failed describe records nothing about the job: it is only looked at again next tick.
                untouched.append((job.job_id, next_poll))
                continue
            report.observed += 1
            update = assess(
                job,
                found.get(job.job_id),
                answer.at,
                next_poll=next_poll,
                deleted_grace=self.policy.deleted_grace,
            )
            if update is None:
                untouched.append((job.job_id, next_poll))
            else:
                updates.append(update)

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

    def _release(self, jobs: Sequence[tuple[str, datetime]]) -> None:
        by_due: dict[datetime, list[str]] = defaultdict(list)
        for job_id, due in jobs:
            by_due[due].append(job_id)
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
