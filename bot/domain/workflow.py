"""The request lifecycle and the job actions as data: which state may follow which, which button when.

Request states are coarse (who must act next); while a job exists, its SMC status and business status
decide the job buttons, following SMC's own state rules (SMC_API_NOTES) so a button is never offered
that SMC would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from storage.enums import ApprovalAction, BusinessStatus, ExecutionMethod, JobStatus, RequestState


class UserAction(StrEnum):
    """Everything a person can ask of a request from a button (ids live in handlers/ids.py)."""

    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"
    WITHDRAW = "withdraw"
    RETRY_EXECUTION = "retry_execution"
    MIGRATE = "migrate"
    MIGRATE_ANYWAY = "migrate_anyway"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    MODIFY = "modify"
    CUT_OVER = "cut_over"
    CANCEL_JOB = "cancel_job"
    VERIFY = "verify"


S = RequestState

TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.CANCELLED, S.AWAITING_APPROVAL}),
    S.APPROVED: frozenset(
        {S.DRILLING, S.EXECUTING, S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.CANCELLED, S.JOB_DELETED}
    ),
    S.DRILLING: frozenset({S.TESTED, S.DRILL_BLOCKED, S.EXECUTING, S.FAILED}),
    S.TESTED: frozenset({S.AWAITING_APPROVAL, S.CANCELLED}),
    S.DRILL_BLOCKED: frozenset({S.AWAITING_APPROVAL, S.CANCELLED}),
    S.EXECUTING: frozenset({S.JOB_CREATED, S.IN_PROGRESS, S.FAILED}),
    S.JOB_CREATED: frozenset({S.AWAITING_APPROVAL, S.IN_PROGRESS, S.JOB_DELETED, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.FAILED, S.JOB_DELETED}),
    S.FAILED: frozenset({S.APPROVED, S.CANCELLED, S.JOB_DELETED, S.IN_PROGRESS}),
    S.COMPLETED: frozenset({S.AWAITING_APPROVAL}),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
    S.JOB_DELETED: frozenset(),
}

CLOSED: frozenset[RequestState] = frozenset({S.REJECTED, S.EXPIRED, S.CANCELLED, S.JOB_DELETED})
"""Nothing more can happen to these requests."""

EDITABLE: frozenset[RequestState] = frozenset({S.AWAITING_APPROVAL, S.TESTED, S.DRILL_BLOCKED})
"""States whose parameters may still change (no job exists yet); editing clears the votes."""

WITHDRAWABLE: frozenset[RequestState] = frozenset({S.AWAITING_APPROVAL, S.TESTED, S.DRILL_BLOCKED, S.FAILED})
"""States the requester can close without touching a job."""


def can_transition(current: RequestState, new: RequestState) -> bool:
    return new in TRANSITIONS[current]


def needs_approval_always(method: ExecutionMethod, instance_target: bool) -> bool:
    """PRODUCT §5: data moves or a target is wiped. Only Test Only of an image target may skip approval."""
    if instance_target:
        return True
    return method is not ExecutionMethod.TEST_ONLY and method is not ExecutionMethod.CREATE_ONLY


GATED_ACTIONS: Mapping[UserAction, ApprovalAction] = {
    UserAction.MIGRATE: ApprovalAction.MIGRATE,
    UserAction.MIGRATE_ANYWAY: ApprovalAction.MIGRATE_ANYWAY,
    UserAction.START: ApprovalAction.START,
    UserAction.VERIFY: ApprovalAction.VERIFY,
}
"""Buttons that open a new approval round instead of acting at once."""


@dataclass(frozen=True)
class JobRule:
    """Where SMC accepts a job call: statuses, and (for Stop) the business status too."""

    statuses: frozenset[JobStatus]
    business: frozenset[BusinessStatus] | None = None
    incremental_only: bool = False

    def allows(self, status: JobStatus, business: BusinessStatus | None, incremental: bool) -> bool:
        if self.incremental_only and not incremental:
            return False
        if status not in self.statuses:
            return False
        return self.business is None or business in self.business


J = JobStatus

JOB_RULES: Mapping[UserAction, JobRule] = {
    UserAction.PAUSE: JobRule(frozenset({J.RUNNING}), frozenset({BusinessStatus.SYNCING})),
    UserAction.RESUME: JobRule(frozenset({J.STOPPED})),
    UserAction.RETRY: JobRule(frozenset({J.IN_ERROR})),
    UserAction.START: JobRule(frozenset({J.READY})),
    UserAction.CUT_OVER: JobRule(frozenset({J.WAITING}), incremental_only=True),
    UserAction.MODIFY: JobRule(frozenset({J.READY, J.RUNNING, J.STOPPED, J.IN_ERROR, J.WAITING})),
    UserAction.CANCEL_JOB: JobRule(
        frozenset({J.READY, J.RUNNING, J.STOPPED, J.IN_ERROR, J.WAITING, J.EXPIRED, J.FINISHED})
    ),
}
"""SMC_API_NOTES: Start from Ready/Stopped/InError; Stop only Running+Syncing; CutOver only Waiting."""


def job_action_allowed(
    action: UserAction, status: JobStatus, business: BusinessStatus | None, *, incremental: bool
) -> bool:
    rule = JOB_RULES.get(action)
    return rule is not None and rule.allows(status, business, incremental)


def summary_actions(
    state: RequestState,
    *,
    job_status: JobStatus | None = None,
    business: BusinessStatus | None = None,
    incremental: bool = False,
    image_target: bool = True,
) -> list[UserAction]:
    """The buttons the summary shows now, in display order; approval buttons live on the approval card."""
    if state is S.AWAITING_APPROVAL:
        return [UserAction.EDIT, UserAction.WITHDRAW]
    if state is S.TESTED:
        return [UserAction.MIGRATE, UserAction.EDIT, UserAction.WITHDRAW]
    if state is S.DRILL_BLOCKED:
        return [UserAction.MIGRATE_ANYWAY, UserAction.EDIT, UserAction.WITHDRAW]
    if state is S.FAILED and job_status is None:
        return [UserAction.RETRY_EXECUTION, UserAction.WITHDRAW]
    if state is S.COMPLETED:
        return [UserAction.VERIFY] if image_target else []
    if job_status is None or state in CLOSED:
        return []
    order = (
        UserAction.START,
        UserAction.PAUSE,
        UserAction.RESUME,
        UserAction.RETRY,
        UserAction.CUT_OVER,
        UserAction.MODIFY,
        UserAction.CANCEL_JOB,
    )
    allowed = [a for a in order if job_action_allowed(a, job_status, business, incremental=incremental)]
    if state is not S.JOB_CREATED:
        allowed = [a for a in allowed if a is not UserAction.START]
    if job_status is J.FINISHED:
        allowed = [a for a in allowed if a is not UserAction.CANCEL_JOB]
    return allowed
