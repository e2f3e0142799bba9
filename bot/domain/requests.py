"""Migration requests: submit and edit (one unit of work each), and the read models commands render."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.domain import notifications
from bot.domain.approval import Policy
from bot.domain.approvals import ApprovalService
from bot.domain.audit import AuditService
from bot.domain.directory import UnwiredDirectory
from bot.domain.errors import Conflict, NotAllowed, NotFound
from bot.domain.params import MigrationParams
from bot.domain.validation import ValidationContext, validate_or_raise
from bot.domain.views import RequestView, TemplatePreset, request_view
from bot.domain.workflow import EDITABLE
from storage import repository as repo
from storage.db import Database
from storage.enums import ApprovalAction, RequestState, TargetType
from storage.models import MigrationRequest, SmcJob

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

REQUEST_ID_PREFIX = "r"
JOB_ID_PREFIX = "j-"

STATE_WORDS: dict[RequestState, str] = {
    RequestState.AWAITING_APPROVAL: "waiting for approval",
    RequestState.APPROVED: "approved, about to start",
    RequestState.REJECTED: "rejected",
    RequestState.EXPIRED: "expired without a decision",
    RequestState.CANCELLED: "withdrawn",
    RequestState.DRILLING: "running the migration test",
    RequestState.TESTED: "migration test passed",
    RequestState.DRILL_BLOCKED: "migration test found critical problems",
    RequestState.EXECUTING: "creating the SMC job",
    RequestState.JOB_CREATED: "SMC job created, not started",
    RequestState.IN_PROGRESS: "migrating",
    RequestState.COMPLETED: "finished",
    RequestState.FAILED: "failed",
    RequestState.JOB_DELETED: "SMC job deleted",
}
"""Request states in the words the summary, `/smc list` and `/smc status` use."""


@dataclass(frozen=True)
class ChannelDefaults:
    """What `/smc config` set for a channel that the wizard pre-fills."""

    region_id: str | None = None
    network: str | None = None


@dataclass(frozen=True)
class Admission:
    """Where a new (or edited) request starts: approval round 1 (or the next), or straight to work."""

    state: RequestState
    pending_action: ApprovalAction | None
    expires_at: datetime | None


def admission(params: MigrationParams, policy: Policy, now: datetime) -> Admission:
    """PRODUCT §5: gated methods and instance targets wait for approval; the rest is approved at once."""
    needed = policy.needs_approval(
        ApprovalAction.EXECUTE,
        params.execution_method,
        instance_target=params.target_type is TargetType.TARGET_INSTANCE,
    )
    if not needed:
        return Admission(RequestState.APPROVED, None, None)
    return Admission(
        RequestState.AWAITING_APPROVAL,
        ApprovalAction.EXECUTE,
        policy.expires_at(now, params.scheduled_start),
    )


def _columns(params: MigrationParams) -> dict[str, Any]:
    """The request columns derived from the parameters (the JSON column holds the canonical document)."""
    return {
        "source_id": params.source_id,
        "target_type": params.target_type,
        "region_id": params.region_id,
        "execution_method": params.execution_method,
        "params": json.loads(params.canonical_json()),
        "params_hash": params.params_hash(),
    }


class RequestService:
    """The use cases around a migration request; the approval engine and executor build on its states."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        kick: Callable[[], None],
        approvals: ApprovalService | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._kick = kick
        # Approval rounds (card, expiry, execution intent) belong to the approval engine (issue 5).
        self._approvals = approvals or ApprovalService(
            db, UnwiredDirectory, audit=AuditService(db, clock=clock, kick=kick), clock=clock, kick=kick
        )

    # ---- writes ------------------------------------------------------------------------------

    def submit(
        self,
        params: MigrationParams,
        ctx: ValidationContext,
        *,
        requester: str,
        team_id: str,
        channel_id: str,
    ) -> RequestView:
        """Store a valid request, audit it, post its summary, and approve or queue it (one unit of work).

        `requester`, `team_id` and `channel_id` come from the signed Slack payload, never from form values.
        Raises InvalidParams (nothing stored) when the parameters break a rule against `ctx`.
        """
        validate_or_raise(params, ctx)
        now = self._clock()
        request_id = repo.new_id(REQUEST_ID_PREFIX)
        with self._db.unit_of_work() as session:
            policy = Policy.from_config(repo.get_channel_config(session, channel_id))
            start = admission(params, policy, now)
            row = repo.add(
                session,
                MigrationRequest(
                    id=request_id,
                    team_id=team_id,
                    channel_id=channel_id,
                    requester=requester,
                    state=RequestState.AWAITING_APPROVAL,
                    approval_round=0,
                    created_at=now,
                    updated_at=now,
                    **_columns(params),
                ),
            )
            view = request_view(row, None)
            repo.append_audit(
                session,
                actor=requester,
                action="request_submitted",
                team_id=team_id,
                channel_id=channel_id,
                request_id=request_id,
                params_hash=row.params_hash,
                detail={
                    "state": start.state.value,
                    "execution_method": params.execution_method.value,
                    "create_replication_job": view.create_request(),
                },
            )
            notifications.post_request_summary(session, request_id, channel_id)
            notifications.request_pointer(session, request_id, channel_id, requester)
            self._approvals.open_round(session, request_id, ApprovalAction.EXECUTE, actor=requester)
            view = request_view(self._row(session, request_id), None)
        log.info(
            "request submitted request_id=%s state=%s method=%s hash=%s",
            request_id,
            start.state.value,
            params.execution_method.value,
            view.params_hash[:12],
        )
        self._kick()
        return view

    def edit(
        self, request_id: str, params: MigrationParams, ctx: ValidationContext, *, editor: str
    ) -> RequestView:
        """New parameters for a request no job exists for yet: new hash, approval round + 1, old votes void.

        Only the requester may edit. Equal parameters change nothing. Raises InvalidParams, NotFound,
        NotAllowed, or Conflict when the request moved on meanwhile.
        """
        validate_or_raise(params, ctx)
        with self._db.unit_of_work() as session:
            row = self._row(session, request_id)
            if row.requester != editor:
                raise NotAllowed(f"Only <@{row.requester}>, who asked for {request_id}, can edit it.")
            if row.state not in EDITABLE:
                raise Conflict(
                    f"{request_id} can no longer be edited: it is {STATE_WORDS[row.state]}. "
                    "Start a new request with /smc migrate instead."
                )
            old_hash = row.params_hash
            if params.params_hash() == old_hash:
                return self._view(session, row)
            moved = repo.transition_request(
                session,
                request_id,
                row.state,
                row.state,
                drill_report=None,
                last_error=None,
                **_columns(params),
            )
            if not moved:
                raise Conflict(
                    f"{request_id} changed while you were editing it: look at its thread and try again."
                )
            # The next round binds to the new hash: old votes no longer count and approvers are asked
            # again (a tested request is re-asked rather than re-run behind the approvers' backs).
            self._approvals.open_round(session, request_id, ApprovalAction.EXECUTE, actor=editor)
            edited = self._row(session, request_id)
            round_, state = edited.approval_round, edited.state
            repo.append_audit(
                session,
                actor=editor,
                action="request_edited",
                team_id=row.team_id,
                channel_id=row.channel_id,
                request_id=request_id,
                params_hash=params.params_hash(),
                detail={"previous_hash": old_hash, "round": round_, "state": state.value},
            )
            notifications.refresh_request_summary(session, request_id, row.channel_id)
            view = self._view(session, edited)
        log.info("request edited request_id=%s round=%s state=%s", request_id, round_, state.value)
        self._kick()
        return view

    # ---- reads -------------------------------------------------------------------------------

    def get(self, request_id: str) -> RequestView:
        """One request with its job; NotFound when there is no such request."""
        with self._db.unit_of_work() as session:
            return self._view(session, self._row(session, request_id))

    def status(self, ref: str) -> RequestView:
        """A request named by its id or by its SMC job id (`j-…`)."""
        ref = ref.strip()
        with self._db.unit_of_work() as session:
            if ref.startswith(JOB_ID_PREFIX):
                job = repo.get_job(session, ref)
                if job is None:
                    raise NotFound(f"SMC job {ref}")
                return self._view(session, self._row(session, job.request_id), job)
            return self._view(session, self._row(session, ref))

    def list_requests(
        self,
        *,
        channel_id: str | None = None,
        requester: str | None = None,
        states: Collection[RequestState] | None = None,
        limit: int = 50,
    ) -> list[RequestView]:
        """Newest first."""
        with self._db.read() as session:
            rows = repo.list_requests(
                session, channel_id=channel_id, requester=requester, states=states, limit=limit
            )
            return [self._view(session, row) for row in rows]

    def templates(self, team_id: str) -> list[TemplatePreset]:
        """The workspace's saved presets, by name."""
        with self._db.read() as session:
            return [
                TemplatePreset(name=t.name, params=dict(t.params), created_by=t.created_by)
                for t in repo.list_templates(session, team_id)
            ]

    def template(self, team_id: str, name: str) -> TemplatePreset:
        with self._db.unit_of_work() as session:
            found = repo.get_template(session, team_id, name)
            if found is None:
                raise NotFound(f"Template {name}")
            return TemplatePreset(name=found.name, params=dict(found.params), created_by=found.created_by)

    def channel_defaults(self, channel_id: str) -> ChannelDefaults:
        with self._db.unit_of_work() as session:
            config = repo.get_channel_config(session, channel_id)
            if config is None:
                return ChannelDefaults()
            return ChannelDefaults(region_id=config.default_region, network=config.default_network)

    # ---- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, request_id: str) -> MigrationRequest:
        row = repo.get_request(session, request_id)
        if row is None:
            raise NotFound(f"Request {request_id}")
        return row

    @staticmethod
    def _view(session: Session, row: MigrationRequest, job: SmcJob | None = None) -> RequestView:
        job = job or repo.job_for_request(session, row.id)
        summary = repo.get_outbox(session, notifications.summary_key(row.id))
        return request_view(row, job, thread_ts=summary.result_ts if summary is not None else None)
