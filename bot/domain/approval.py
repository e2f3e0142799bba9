"""Approval policy as data (PRODUCT §5): what needs approval, who may vote, when quorum is reached, expiry.

Pure: no database, no Slack. The service (`bot.domain.approvals`) resolves live group membership and
feeds it in; everything here is decided from values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bot.domain.params import EXECUTION_METHOD_LABELS
from bot.domain.workflow import needs_approval_always
from storage.enums import ApprovalAction, ExecutionMethod, VoteDecision
from storage.models import ChannelConfig

DEFAULT_QUORUM = 1
DEFAULT_EXPIRY_HOURS = 24
MIN_EXPIRY_HOURS = 1
MAX_EXPIRY_HOURS = 168
REMINDER_FRACTION = 0.8
"""The reminder goes out when 80 % of the approval window has passed."""
ESCALATION_FRACTION = 0.95
"""At 95 % an undecided round is escalated: the channel is told, approvers and admins are mentioned."""

OPTIONAL_METHODS: tuple[ExecutionMethod, ...] = (ExecutionMethod.TEST_ONLY, ExecutionMethod.CREATE_ONLY)
"""Methods an admin may add to the approval gate; every other method (and every instance target) is gated."""

MANDATORY_DESCRIPTION = (
    "Test and Migrate, Migrate Now, Migrate Later, the Start of a Create Only job, Migrate anyway, Verify, "
    "and every job whose destination is an existing instance"
)


class RefusalCode(StrEnum):
    """Why a click changed nothing (audited; the voter's ephemeral says it in words)."""

    NOT_FOUND = "not_found"
    NOT_APPROVER = "not_approver"
    REQUESTER = "requester"
    ALREADY_VOTED = "already_voted"
    EXPIRED = "expired"
    DECIDED = "decided"
    CHANGED = "changed"
    DIRECTORY = "directory"


class DecisionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CastVote(Protocol):
    """A vote as stored (storage.models.Vote satisfies it)."""

    @property
    def voter(self) -> str: ...

    @property
    def decision(self) -> VoteDecision: ...

    @property
    def params_hash(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True)
class Policy:
    """One channel's approval rules: admins add to the mandatory gate of §5, nothing can take from it."""

    approver_usergroups: tuple[str, ...] = ()
    approver_users: tuple[str, ...] = ()
    quorum: int = DEFAULT_QUORUM
    self_approval: bool = False
    expiry_hours: int = DEFAULT_EXPIRY_HOURS
    extra_methods: frozenset[ExecutionMethod] = frozenset()

    @classmethod
    def from_config(cls, config: ChannelConfig | None) -> Policy:
        """Defaults for an unconfigured channel; stored values are clamped, unknown methods ignored."""
        if config is None:
            return cls()
        extra = frozenset(ExecutionMethod(m) for m in config.approval_methods if m in _METHOD_VALUES)
        return cls(
            approver_usergroups=tuple(dict.fromkeys(config.approver_usergroups)),
            approver_users=tuple(dict.fromkeys(config.approver_users)),
            quorum=max(1, config.quorum),
            self_approval=config.self_approval,
            expiry_hours=min(MAX_EXPIRY_HOURS, max(MIN_EXPIRY_HOURS, config.expiry_hours)),
            extra_methods=extra,
        )

    @property
    def has_approvers(self) -> bool:
        """False for a channel nobody configured: its admins decide until approvers are set."""
        return bool(self.approver_usergroups or self.approver_users)

    def needs_approval(
        self, action: ApprovalAction, method: ExecutionMethod, *, instance_target: bool
    ) -> bool:
        """Every action after the first run moves data or spends money; the first run follows §5 + admins."""
        if action is not ApprovalAction.EXECUTE:
            return True
        return needs_approval_always(method, instance_target) or method in self.extra_methods

    def expires_at(self, now: datetime, scheduled_start: datetime | None = None) -> datetime:
        return expires_at(now, self.expiry_hours, scheduled_start)


_METHOD_VALUES = frozenset(m.value for m in ExecutionMethod)


def approver_pool(
    policy: Policy, group_members: Iterable[frozenset[str]], *, admins: Iterable[str] = ()
) -> frozenset[str]:
    """Everyone who may vote: group members and listed users, or the admins when none are configured."""
    if not policy.has_approvers:
        return frozenset(admins)
    pool: set[str] = set(policy.approver_users)
    for members in group_members:
        pool |= members
    return frozenset(pool)


def eligible(voter: str, *, approvers: frozenset[str], requester: str, policy: Policy) -> RefusalCode | None:
    """None when `voter` may vote; otherwise why not (identity comes from the signed payload only)."""
    if voter not in approvers:
        return RefusalCode.NOT_APPROVER
    if voter == requester and not policy.self_approval:
        return RefusalCode.REQUESTER
    return None


def counted_voters(approvers: frozenset[str], requester: str, policy: Policy) -> frozenset[str]:
    """Who can count toward the quorum of this requester's request."""
    return approvers if policy.self_approval else approvers - {requester}


@dataclass(frozen=True)
class Decision:
    """Where a round stands: approvals counted (in vote order), the quorum, and a rejection if any."""

    status: DecisionStatus
    approvals: tuple[str, ...]
    needed: int
    rejected_by: str | None = None
    reason: str | None = None

    @property
    def tally(self) -> str:
        """ "1 of 2"."""
        return f"{min(len(self.approvals), self.needed)} of {self.needed}"


def outcome(votes: Sequence[CastVote], policy: Policy, requester: str, params_hash: str) -> Decision:
    """Pure: approved when N distinct voters approved this exact parameter hash; any Reject ends it."""
    approvals: list[str] = []
    for vote in votes:
        if vote.params_hash != params_hash:
            continue
        if vote.voter == requester and not policy.self_approval:
            continue
        if vote.decision is VoteDecision.REJECT:
            return Decision(
                DecisionStatus.REJECTED,
                tuple(approvals),
                policy.quorum,
                rejected_by=vote.voter,
                reason=vote.reason,
            )
        if vote.voter not in approvals:
            approvals.append(vote.voter)
    status = DecisionStatus.APPROVED if len(approvals) >= policy.quorum else DecisionStatus.PENDING
    return Decision(status, tuple(approvals), policy.quorum)


def expires_at(now: datetime, expiry_hours: int, scheduled_start: datetime | None = None) -> datetime:
    """`min(now + expiry, scheduled start)`: an approval never outlives the moment the job would start."""
    end = now + timedelta(hours=expiry_hours)
    return end if scheduled_start is None else min(end, scheduled_start)


def reminder_at(opened_at: datetime, expires: datetime) -> datetime:
    """When the approvers are reminded: 80 % of the way through the window."""
    return opened_at + (expires - opened_at) * REMINDER_FRACTION


def escalation_at(opened_at: datetime, expires: datetime) -> datetime:
    """When an undecided round is escalated: 95 % of the way through the window (after the reminder)."""
    return opened_at + (expires - opened_at) * ESCALATION_FRACTION


def action_label(action: ApprovalAction, method: ExecutionMethod) -> str:
    """What the approvers are asked to allow, in the console's words."""
    if action is ApprovalAction.EXECUTE:
        return EXECUTION_METHOD_LABELS[method]
    return _ACTION_LABELS[action]


_ACTION_LABELS: dict[ApprovalAction, str] = {
    ApprovalAction.MIGRATE: "Migrate (after Test Only)",
    ApprovalAction.MIGRATE_ANYWAY: "Migrate anyway (the drill found critical items)",
    ApprovalAction.START: "Start the created job",
    ApprovalAction.VERIFY: "Verify (launch a check instance from the image)",
}
