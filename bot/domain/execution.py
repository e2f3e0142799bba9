"""Execution after approval (PRODUCT §3.3): the drill, `CreateReplicationJob` with the request id as its
ClientToken, then start now, at `ScheduledStartTime`, or not at all (Create Only).

The worker runs it from the WORK intent `{"task": "execute", "request_id", "round", "action"}`, never a
request handler. Every step can be repeated: EXECUTING is recorded before the create call and the job row
right after it, so a run that died in between creates again with the same ClientToken and gets the same
job back. Approval is re-checked right before every create and start call.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlmodel import Session

from bot.cloud.ports import CloudError, CloudGateway, DestinationCloud, ReplicationJob
from bot.domain import notifications
from bot.domain.audit import SYSTEM_ACTOR, cloud_action
from bot.domain.catalog import source_facts
from bot.domain.drill import DrillReport, migrated_volume
from bot.domain.drilling import run_drill
from bot.domain.errors import Conflict, DomainError, InvalidParams
from bot.domain.notifications import Event
from bot.domain.params import MigrationParams, format_utc
from bot.domain.smc_errors import SMC_FAQ_URL, ErrorInfo, Service, explain
from bot.domain.smc_request import create_replication_job_request
from bot.domain.views import params_from_row
from bot.worker import TaskResult, WorkContext
from storage import repository as repo
from storage.db import Database
from storage.enums import ApprovalAction, AuditOutcome, ExecutionMethod, JobStatus, OutboxKind, RequestState
from storage.models import MigrationRequest, SmcJob

log = logging.getLogger(__name__)

S = RequestState

SCHEDULE_MIN_LEAD = timedelta(minutes=2)
"""A Migrate Later start closer than this when the approval comes through is started at once instead."""

CRASH_ENV = "SMC_BOT_CRASH_AT"
"""Crash-safety tests name a point here (`after_create`) and the worker process SIGKILLs itself there."""

NOT_APPROVED = "Bot.ApprovalNoLongerValid"
INVALID_PARAMS = "Bot.InvalidParameters"

STATE_ERRORS = frozenset({"ReplicationJob.InvalidStatus", "ReplicationJob.InvalidBusinessStatus"})
_NO_RETRY_PREFIXES = (
    "InvalidParameter",
    "MissingParameter",
    "IdempotentParameterMismatch",
    "NumberExceed",
    "ReplicationJob.InvalidStatus",
    "ReplicationJob.InvalidBusinessStatus",
    "Bot.InvalidParameters",
)


class Approvals(Protocol):
    """What execution needs of the approval engine (bot.domain.approvals.ApprovalService)."""

    def open_round(self, session: Session, request_id: str, action: ApprovalAction, /, *, actor: str) -> None:
        """Start an approval round for `action` (or approve at once where policy needs none)."""
        ...

    def still_approved(self, session: Session, request_id: str, round_: int, params_hash: str, /) -> bool:
        """True while round `round_` of the request stands approved for exactly this parameter hash."""
        ...

    def refresh_card(self, session: Session, request_id: str, /) -> None:
        """Re-render the current round's approval card after the request changed (a withdrawal)."""
        ...


class Step(StrEnum):
    """Where execution failed; stored in `migration_request.last_error` so Retry resumes there."""

    DRILL = "drill"
    CREATE = "create"
    START = "start"
    APPROVAL = "approval"


class StartMode(StrEnum):
    """How a created job starts."""

    NOW = "now"
    SCHEDULED = "scheduled"
    MANUAL = "manual"


def work_key(request_id: str, round_: int, action: ApprovalAction, suffix: str = "") -> str:
    """The WORK intent's idempotency key (`work:<request>:<round>:<action>`), plus a suffix for retries."""
    base = f"work:{request_id}:{round_}:{action.value}"
    return f"{base}:{suffix}" if suffix else base


def enqueue_work(
    session: Session, request_id: str, round_: int, action: ApprovalAction, *, suffix: str = ""
) -> bool:
    """Record the intent to run `action` for this round (once per key)."""
    return repo.enqueue(
        session,
        work_key(request_id, round_, action, suffix),
        OutboxKind.WORK,
        {"task": "execute", "request_id": request_id, "round": round_, "action": action.value},
        request_id=request_id,
    )


def retry_can_help(code: str | None) -> bool:
    """False for errors about the parameters or the job's state: the same call would fail the same way."""
    return not (code or "").startswith(_NO_RETRY_PREFIXES)


def start_mode(method: ExecutionMethod, action: ApprovalAction) -> StartMode:
    """Migrate / Migrate anyway start at once; otherwise the execution method decides."""
    if action in (ApprovalAction.MIGRATE, ApprovalAction.MIGRATE_ANYWAY):
        return StartMode.NOW
    if method is ExecutionMethod.CREATE_ONLY:
        return StartMode.MANUAL
    if method is ExecutionMethod.MIGRATE_LATER:
        return StartMode.SCHEDULED
    return StartMode.NOW


def _crash_point(name: str) -> None:
    # A test hook, off unless the environment names this point: the crash-safety test kills a real worker
    # process exactly between the create call and the record of its job id.
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class RequestSnapshot:
    """What execution reads of a request (and its job) in one unit of work, detached from the session."""

    id: str
    team_id: str
    channel_id: str
    requester: str
    state: RequestState
    round: int
    params_hash: str
    params: MigrationParams
    credential_ref: str
    pending_action: ApprovalAction | None
    drill_report: Mapping[str, Any] | None
    last_error: Mapping[str, Any] | None
    job_id: str | None = None
    job_status: JobStatus | None = None

    @classmethod
    def of(cls, row: MigrationRequest, job: SmcJob | None) -> RequestSnapshot:
        return cls(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            requester=row.requester,
            state=row.state,
            round=row.approval_round,
            params_hash=row.params_hash,
            params=params_from_row(row),
            credential_ref=row.credential_ref,
            pending_action=row.pending_action,
            drill_report=dict(row.drill_report) if row.drill_report else None,
            last_error=dict(row.last_error) if row.last_error else None,
            job_id=job.job_id if job is not None else None,
            job_status=job.status if job is not None else None,
        )


def load_snapshot(session: Session, request_id: str) -> RequestSnapshot | None:
    row = repo.get_request(session, request_id)
    if row is None:
        return None
    return RequestSnapshot.of(row, repo.job_for_request(session, request_id))


def error_details(err: CloudError, step: Step | str, action: ApprovalAction | None = None) -> dict[str, Any]:
    """`last_error` and the CLOUD_ERROR payload for a cloud failure (codes and messages carry no secret)."""
    return {
        "step": str(step),
        "code": err.code,
        "message": err.message,
        "cloud_request_id": err.request_id,
        "service": err.service,
        "api": err.action,
        "http_status": err.http_status,
        "action": action.value if action is not None else None,
    }


def post_cloud_error(
    session: Session,
    req: RequestSnapshot,
    details: Mapping[str, Any],
    *,
    retry: str | None,
) -> None:
    """A CLOUD_ERROR reply in the request's thread; `retry` names the button (a UserAction value) or None."""
    notifications.request_reply(
        session,
        req.id,
        req.channel_id,
        name=f"error:{details.get('step')}:{repo.new_id('e')}",
        event=Event.CLOUD_ERROR,
        data={**details, "retry": retry},
    )


class ExecutionService:
    """Runs execution intents; `verify` is the hand-off for approved Verify rounds."""

    def __init__(
        self,
        db: Database,
        cloud: CloudGateway,
        approvals: Callable[[], Approvals],
        *,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
        verify: Callable[[RequestSnapshot], TaskResult],
    ) -> None:
        self._db = db
        self._cloud = cloud
        self._approvals = approvals
        self._clock = clock
        self._kick = kick
        self._verify = verify

    # ---- the task ----------------------------------------------------------------------------------

    def run(self, payload: Mapping[str, Any], ctx: WorkContext) -> TaskResult:
        """The `execute` task: one intent, resumed from wherever an earlier run of it stopped."""
        request_id = str(payload["request_id"])
        round_ = int(payload.get("round", 1))
        action = ApprovalAction(str(payload.get("action") or ApprovalAction.EXECUTE.value))
        with self._db.unit_of_work() as session:
            req = load_snapshot(session, request_id)
        if req is None:
            log.warning("execution intent for an unknown request request_id=%s key=%s", request_id, ctx.key)
            return None
        if req.round != round_:
            log.info(
                "stale execution intent request_id=%s round=%s current_round=%s", req.id, round_, req.round
            )
            return None
        log.info(
            "execution step request_id=%s round=%s action=%s state=%s attempts=%s abandoned=%s",
            req.id,
            round_,
            action.value,
            req.state.value,
            ctx.attempts,
            ctx.abandoned,
        )
        if action is ApprovalAction.VERIFY:
            return self._verify(req)
        if action is ApprovalAction.START:
            return self._start_created(req)
        method = req.params.execution_method
        testing = method in (ExecutionMethod.TEST_ONLY, ExecutionMethod.TEST_AND_MIGRATE)
        if action is ApprovalAction.EXECUTE and testing and req.state in (S.APPROVED, S.DRILLING):
            return self._drill(req)
        return self._create(req, action)

    # ---- drill -------------------------------------------------------------------------------------

    def _drill(self, req: RequestSnapshot) -> TaskResult:
        with self._db.unit_of_work() as session:
            moved = repo.transition_request(session, req.id, S.APPROVED, S.DRILLING)
            if moved:
                notifications.refresh_request_summary(session, req.id, req.channel_id)
        self._kick()
        dest = self._dest(req)
        try:
            report, _ = run_drill(self._db, dest, req.params, clock=self._clock)
        except CloudError as err:
            self._fail(req, Step.DRILL, error_details(err, Step.DRILL, ApprovalAction.EXECUTE), S.DRILLING)
            return None
        continuing = (
            req.params.execution_method is ExecutionMethod.TEST_AND_MIGRATE and not report.has_critical
        )
        if req.params.execution_method is ExecutionMethod.TEST_ONLY:
            outcome = S.TESTED
        elif report.has_critical:
            outcome = S.DRILL_BLOCKED
        else:
            outcome = S.DRILLING
        with self._db.unit_of_work() as session:
            stored = report.to_dict()
            if outcome is S.DRILLING:
                landed = repo.compare_and_set(
                    session, MigrationRequest, req.id, expected=S.DRILLING, values={"drill_report": stored}
                )
            else:
                landed = repo.transition_request(session, req.id, S.DRILLING, outcome, drill_report=stored)
            if not landed:
                log.info("request moved on during its drill request_id=%s", req.id)
                return None
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name=f"drill:{req.round}",
                event=Event.DRILL_REPORT,
                data={
                    "report": stored,
                    "method": req.params.execution_method.value,
                    "outcome": "continuing" if continuing else outcome.value,
                },
            )
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action="execution.drill",
                team_id=req.team_id,
                channel_id=req.channel_id,
                request_id=req.id,
                params_hash=req.params_hash,
                detail={"worst": report.worst.value, "outcome": outcome.value, "counts": _counts(report)},
            )
            after = load_snapshot(session, req.id)
        log.info("drill done request_id=%s worst=%s state=%s", req.id, report.worst.value, outcome.value)
        self._kick()
        if not continuing or after is None:
            return None
        return self._create(after, ApprovalAction.EXECUTE)

    # ---- create ------------------------------------------------------------------------------------

    def _create(self, req: RequestSnapshot, action: ApprovalAction) -> TaskResult:
        mode = start_mode(req.params.execution_method, action)
        if req.state in (S.IN_PROGRESS, S.JOB_CREATED) and req.job_id is not None:
            return self._resume_start(req, mode)
        if req.state not in (S.APPROVED, S.DRILLING, S.EXECUTING):
            log.info("nothing to create request_id=%s state=%s", req.id, req.state.value)
            return None
        with self._db.unit_of_work() as session:
            if not self._approvals().still_approved(session, req.id, req.round, req.params_hash):
                approved = False
            else:
                approved = True
                if req.state is not S.EXECUTING:
                    if not repo.transition_request(session, req.id, (S.APPROVED, S.DRILLING), S.EXECUTING):
                        log.info("request moved on before its create request_id=%s", req.id)
                        return None
                    notifications.refresh_request_summary(session, req.id, req.channel_id)
        if not approved:
            self._not_approved(req, Step.CREATE, action)
            return None
        self._kick()
        try:
            request = create_replication_job_request(req.params, client_token=req.id)
        except InvalidParams as err:
            self._fail(req, Step.CREATE, _invalid_params(err, action), S.EXECUTING)
            return None
        note = None
        if mode is StartMode.NOW:
            request.pop("ScheduledStartTime", None)
        elif mode is StartMode.SCHEDULED:
            start = req.params.scheduled_start
            if start is None or start - self._clock() < SCHEDULE_MIN_LEAD:
                request.pop("ScheduledStartTime", None)
                mode = StartMode.NOW
                when = format_utc(start) if start is not None else "(none)"
                note = (
                    f"The scheduled start {when} had passed or was less than "
                    f"{int(SCHEDULE_MIN_LEAD.total_seconds() // 60)} minutes away when the approval came "
                    "through, so the job starts now."
                )
        dest = self._dest(req)
        total = self._volume(req, dest)
        try:
            job_id, mode = self._create_call(dest, request, mode, req)
        except CloudError as err:
            self._fail(req, Step.CREATE, error_details(err, Step.CREATE, action), S.EXECUTING)
            return None
        _crash_point("after_create")
        with self._db.unit_of_work() as session:
            repo.insert_ignore(session, SmcJob, self._job_row(req, job_id, request, total))
            new_state = S.JOB_CREATED if mode is StartMode.MANUAL else S.IN_PROGRESS
            repo.transition_request(session, req.id, S.EXECUTING, new_state, last_error=None)
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name="job-created",
                event=Event.JOB_CREATED,
                data={
                    "job_id": job_id,
                    "region_id": req.params.region_id,
                    "mode": mode.value,
                    "scheduled_start": request.get("ScheduledStartTime"),
                    "note": note,
                    "total_bytes": total,
                },
            )
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action=cloud_action("CreateReplicationJob"),
                team_id=req.team_id,
                channel_id=req.channel_id,
                request_id=req.id,
                params_hash=req.params_hash,
                detail={"job_id": job_id, "client_token": req.id, "mode": mode.value, "note": note},
            )
            after = load_snapshot(session, req.id)
        log.info("job created request_id=%s job_id=%s mode=%s", req.id, job_id, mode.value)
        self._kick()
        if mode is not StartMode.NOW or after is None:
            return None
        return self._start(after, job_id, note=note)

    def _create_call(
        self, dest: DestinationCloud, request: dict[str, Any], mode: StartMode, req: RequestSnapshot
    ) -> tuple[str, StartMode]:
        """Create; if an earlier attempt used the other schedule variant, the ClientToken says so: use it."""
        try:
            return dest.create_replication_job(request), mode
        except CloudError as err:
            scheduled = req.params.scheduled_start
            if err.code != "IdempotentParameterMismatch" or scheduled is None:
                raise
            other = dict(request)
            if "ScheduledStartTime" in other:
                other.pop("ScheduledStartTime")
                other_mode = StartMode.NOW
            else:
                other["ScheduledStartTime"] = format_utc(scheduled)
                other_mode = StartMode.SCHEDULED
            log.info("retrying create with the other schedule variant request_id=%s", req.id)
            return dest.create_replication_job(other), other_mode

    def _job_row(
        self, req: RequestSnapshot, job_id: str, request: Mapping[str, Any], total: int | None
    ) -> dict[str, Any]:
        now = self._clock()
        row = SmcJob(
            job_id=job_id,
            request_id=req.id,
            region_id=req.params.region_id,
            credential_ref=req.credential_ref,
            status=JobStatus.READY,
            incremental=not bool(request.get("RunOnce", True)),
            total_bytes=total,
            status_since=now,
            next_poll_at=now,
            created_at=now,
            updated_at=now,
        )
        return row.model_dump()

    def _volume(self, req: RequestSnapshot, dest: DestinationCloud) -> int | None:
        """Bytes the first sync moves: from the drill when there was one, else from the source server."""
        if req.drill_report:
            try:
                estimate = DrillReport.from_dict(req.drill_report).estimate
            except (KeyError, ValueError):
                pass
            else:
                # Whole disks when the source did not report its used space: no byte counts then.
                return None if estimate.volume_is_upper_bound else estimate.volume_bytes or None
        try:
            servers = dest.describe_source_servers([req.params.source_id])
        except CloudError as err:
            log.warning("could not size the migration request_id=%s code=%s", req.id, err.code)
            return None
        server = next((s for s in servers if s.id == req.params.source_id), None)
        if server is None:
            return None
        return migrated_volume(req.params, source_facts(server)) or None

    # ---- start -------------------------------------------------------------------------------------

    def _start_created(self, req: RequestSnapshot) -> TaskResult:
        """The approved Start of a Create Only job."""
        if req.job_id is None:
            log.warning("start intent without a job request_id=%s", req.id)
            return None
        if req.state not in (S.APPROVED, S.IN_PROGRESS):
            log.info("nothing to start request_id=%s state=%s", req.id, req.state.value)
            return None
        return self._start(req, req.job_id)

    def _resume_start(self, req: RequestSnapshot, mode: StartMode) -> TaskResult:
        """After a crash or a failed start: start the job if it still waits for the bot to start it."""
        if mode is StartMode.MANUAL or req.job_id is None:
            return None
        job = self._describe(req, req.job_id)
        if job is None or job.status.value != JobStatus.READY.value or job.scheduled_start_time is not None:
            return None
        return self._start(req, req.job_id)

    def _start(self, req: RequestSnapshot, job_id: str, *, note: str | None = None) -> TaskResult:
        action = req.pending_action or ApprovalAction.EXECUTE
        with self._db.unit_of_work() as session:
            approved = self._approvals().still_approved(session, req.id, req.round, req.params_hash)
        if not approved:
            self._not_approved(req, Step.START, action)
            return None
        dest = self._dest(req)
        try:
            dest.start_replication_job(job_id)
        except CloudError as err:
            current = self._describe(req, job_id) if err.code in STATE_ERRORS else None
            if current is None or current.status.value in (JobStatus.READY.value, JobStatus.STOPPED.value):
                self._start_failed(req, job_id, error_details(err, Step.START, action))
                return None
            log.info("job already started request_id=%s job_id=%s status=%s", req.id, job_id, current.status)
        with self._db.unit_of_work() as session:
            repo.transition_request(session, req.id, (S.APPROVED, S.JOB_CREATED), S.IN_PROGRESS)
            repo.compare_and_set(
                session, MigrationRequest, req.id, expected=S.IN_PROGRESS, values={"last_error": None}
            )
            repo.update_job(session, job_id, next_poll_at=self._clock())
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name=f"job-started:{req.round}",
                event=Event.JOB_STARTED,
                data={"job_id": job_id, "note": note},
            )
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action=cloud_action("StartReplicationJob"),
                team_id=req.team_id,
                channel_id=req.channel_id,
                request_id=req.id,
                params_hash=req.params_hash,
                detail={"job_id": job_id, "round": req.round},
            )
        log.info("job started request_id=%s job_id=%s", req.id, job_id)
        self._kick()
        return None

    def _start_failed(self, req: RequestSnapshot, job_id: str, details: Mapping[str, Any]) -> None:
        """The job exists but did not start: keep it, say why in the thread, offer Retry."""
        with self._db.unit_of_work() as session:
            repo.compare_and_set(
                session,
                MigrationRequest,
                req.id,
                expected=(S.IN_PROGRESS, S.APPROVED, S.JOB_CREATED),
                values={"last_error": dict(details)},
            )
            post_cloud_error(
                session,
                req,
                {**details, "job_id": job_id},
                retry="retry_execution" if retry_can_help(str(details.get("code"))) else None,
            )
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            self._audit_error(session, req, details)
        log.warning("job start failed request_id=%s job_id=%s code=%s", req.id, job_id, details.get("code"))
        self._kick()

    # ---- failures ----------------------------------------------------------------------------------

    def _fail(
        self, req: RequestSnapshot, step: Step, details: Mapping[str, Any], expected: RequestState
    ) -> None:
        """No job exists: the request fails, the thread says why, the summary offers Retry execution."""
        with self._db.unit_of_work() as session:
            moved = repo.transition_request(
                session, req.id, (expected, S.APPROVED), S.FAILED, last_error=dict(details)
            )
            if not moved:
                return
            post_cloud_error(session, req, details, retry="retry_execution")
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            self._audit_error(session, req, details)
        log.warning("execution failed request_id=%s step=%s code=%s", req.id, step.value, details.get("code"))
        self._kick()

    def _not_approved(self, req: RequestSnapshot, step: Step, action: ApprovalAction) -> None:
        details = {
            "step": Step.APPROVAL.value,
            "code": NOT_APPROVED,
            "message": f"The approval of round {req.round} expired or was invalidated before the "
            f"{step.value} call.",
            "action": action.value,
        }
        if step is Step.START and req.job_id is not None:
            self._start_failed(req, req.job_id, details)
        else:
            self._fail(req, step, details, req.state)

    def _audit_error(self, session: Session, req: RequestSnapshot, details: Mapping[str, Any]) -> None:
        api = details.get("api") or details.get("step")
        repo.append_audit(
            session,
            actor=SYSTEM_ACTOR,
            action=cloud_action(str(api)) if details.get("api") else f"execution.{api}",
            outcome=AuditOutcome.ERROR,
            team_id=req.team_id,
            channel_id=req.channel_id,
            request_id=req.id,
            params_hash=req.params_hash,
            detail={k: v for k, v in details.items() if v is not None},
        )

    # ---- helpers -----------------------------------------------------------------------------------

    def _dest(self, req: RequestSnapshot) -> DestinationCloud:
        return self._cloud.destination(req.credential_ref)

    def _describe(self, req: RequestSnapshot, job_id: str) -> ReplicationJob | None:
        try:
            found = self._dest(req).describe_replication_jobs(req.params.region_id, [job_id])
        except CloudError as err:
            log.warning("describe failed request_id=%s job_id=%s code=%s", req.id, job_id, err.code)
            return None
        return next((j for j in found if j.id == job_id), None)


def requeue(session: Session, req: RequestSnapshot, approvals: Approvals, *, actor: str) -> str:
    """Retry execution: run the failed step again, or ask the approvers again if the approval is gone.

    Raises Conflict when there is nothing to retry (the request moved on). Returns what to tell the user.
    """
    last = req.last_error or {}
    step = str(last.get("step") or Step.CREATE.value)
    action = ApprovalAction(str(last.get("action") or (req.pending_action or ApprovalAction.EXECUTE).value))
    needs_approval = step != Step.DRILL.value
    if req.state is S.FAILED and req.job_id is None:
        if needs_approval and not approvals.still_approved(session, req.id, req.round, req.params_hash):
            try:
                approvals.open_round(session, req.id, action, actor=actor)
            except DomainError as err:
                raise Conflict(err.message) from None
            return "The approval no longer holds, so I asked the approvers again."
        if not repo.transition_request(session, req.id, S.FAILED, S.APPROVED, last_error=None):
            raise Conflict(f"{req.id} changed meanwhile; look at its thread.")
        enqueue_work(session, req.id, req.round, action, suffix=f"retry-{repo.new_id('x')}")
        return "Retrying: I'll report in the thread."
    if (
        req.state in (S.IN_PROGRESS, S.APPROVED, S.JOB_CREATED)
        and req.job_id is not None
        and step
        in (
            Step.START.value,
            Step.APPROVAL.value,
        )
    ):
        if not approvals.still_approved(session, req.id, req.round, req.params_hash):
            try:
                approvals.open_round(session, req.id, ApprovalAction.START, actor=actor)
            except DomainError as err:
                raise Conflict(err.message) from None
            return "The approval no longer holds, so I asked the approvers again."
        enqueue_work(session, req.id, req.round, action, suffix=f"retry-{repo.new_id('x')}")
        return "Retrying the start: I'll report in the thread."
    raise Conflict(f"There is nothing to retry for {req.id} now.")


def _invalid_params(err: InvalidParams, action: ApprovalAction) -> dict[str, Any]:
    return {
        "step": Step.CREATE.value,
        "code": INVALID_PARAMS,
        "message": err.message,
        "action": action.value,
    }


def _counts(report: DrillReport) -> dict[str, int]:
    return {level.value: count for level, count in report.counts().items()}


_OWN_ERRORS: Mapping[str, tuple[str, str]] = {
    NOT_APPROVED: (
        "The approval no longer holds: it expired, or the request changed, before the bot could call SMC. "
        "Nothing was started.",
        "Click Retry execution: the bot asks the approvers again and runs it once they approve.",
    ),
    INVALID_PARAMS: (
        "The stored parameters break a rule, so the bot did not send them to SMC.",
        "Withdraw this request and start a new one with /smc migrate; the message says which field.",
    ),
}


def explain_details(details: Mapping[str, Any]) -> ErrorInfo:
    """What a stored failure means and what to do: the bot's own codes, else `smc_errors.explain`."""
    code = str(details.get("code") or "")
    message = details.get("message")
    own = _OWN_ERRORS.get(code)
    if own is not None:
        return ErrorInfo(
            code, own[0], own[1], SMC_FAQ_URL, retryable=False, service=Service.BOT, message=message
        )
    try:
        service: Service | None = Service(str(details.get("service") or "smc"))
    except ValueError:
        service = None
    status = details.get("http_status")
    return explain(
        code or None, message, service=service, http_status=status if isinstance(status, int) else None
    )
