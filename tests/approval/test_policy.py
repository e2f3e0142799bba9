"""The pure approval rules: what needs approval, who counts, when quorum is reached, when a round ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.approval import (
    DecisionStatus,
    Policy,
    RefusalCode,
    approver_pool,
    counted_voters,
    eligible,
    expires_at,
    outcome,
    reminder_at,
)
from bot.domain.approvals import RoundRef, intent_key
from storage.enums import ApprovalAction, ExecutionMethod, VoteDecision
from storage.models import ChannelConfig

H = "a" * 64
OTHER = "b" * 64
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class V:
    voter: str
    decision: VoteDecision = VoteDecision.APPROVE
    params_hash: str = H
    reason: str | None = None


def config(**values: object) -> ChannelConfig:
    return ChannelConfig.model_validate({"channel_id": "C1", "team_id": "T1", **values})


@pytest.mark.parametrize(
    ("method", "needed"),
    [
        (ExecutionMethod.TEST_ONLY, False),
        (ExecutionMethod.CREATE_ONLY, False),
        (ExecutionMethod.TEST_AND_MIGRATE, True),
        (ExecutionMethod.MIGRATE_NOW, True),
        (ExecutionMethod.MIGRATE_LATER, True),
    ],
)
def test_the_first_run_of_an_image_target_needs_approval_unless_it_moves_nothing(
    method: ExecutionMethod, needed: bool
) -> None:
    assert Policy().needs_approval(ApprovalAction.EXECUTE, method, instance_target=False) is needed


@pytest.mark.parametrize("method", list(ExecutionMethod))
def test_every_instance_target_needs_approval(method: ExecutionMethod) -> None:
    assert Policy().needs_approval(ApprovalAction.EXECUTE, method, instance_target=True)


@pytest.mark.parametrize(
    "action",
    [ApprovalAction.MIGRATE, ApprovalAction.MIGRATE_ANYWAY, ApprovalAction.START, ApprovalAction.VERIFY],
)
def test_every_later_action_needs_approval(action: ApprovalAction) -> None:
    assert Policy().needs_approval(action, ExecutionMethod.TEST_ONLY, instance_target=False)


def test_admins_can_tighten_but_stored_values_cannot_loosen_the_mandatory_rules() -> None:
    tightened = Policy.from_config(config(approval_methods=["test_only", "create_only"]))
    assert tightened.needs_approval(ApprovalAction.EXECUTE, ExecutionMethod.TEST_ONLY, instance_target=False)
    assert tightened.needs_approval(
        ApprovalAction.EXECUTE, ExecutionMethod.CREATE_ONLY, instance_target=False
    )
    loosened = Policy.from_config(config(approval_methods=["no_approval", "migrate_now_off"]))
    assert loosened.extra_methods == frozenset()
    assert loosened.needs_approval(ApprovalAction.EXECUTE, ExecutionMethod.MIGRATE_NOW, instance_target=False)
    assert loosened.needs_approval(ApprovalAction.EXECUTE, ExecutionMethod.TEST_ONLY, instance_target=True)


def test_stored_numbers_out_of_range_are_clamped_never_trusted() -> None:
    policy = Policy.from_config(config(quorum=0, expiry_hours=5000))
    assert (policy.quorum, policy.expiry_hours) == (1, 168)
    assert Policy.from_config(None) == Policy()


def test_quorum_counts_distinct_approvers_on_this_hash_only() -> None:
    policy = Policy(quorum=2)
    assert outcome([V("A"), V("A")], policy, "R", H).status is DecisionStatus.PENDING
    assert outcome([V("A"), V("B", params_hash=OTHER)], policy, "R", H).tally == "1 of 2"
    approved = outcome([V("A"), V("B")], policy, "R", H)
    assert approved.status is DecisionStatus.APPROVED and approved.approvals == ("A", "B")


def test_the_requester_never_counts_unless_self_approval_is_allowed() -> None:
    assert outcome([V("R")], Policy(), "R", H).status is DecisionStatus.PENDING
    assert outcome([V("R")], Policy(self_approval=True), "R", H).status is DecisionStatus.APPROVED


def test_any_reject_ends_the_round_with_its_reason() -> None:
    decided = outcome([V("A"), V("B", VoteDecision.REJECT, reason="wrong region")], Policy(quorum=3), "R", H)
    assert decided.status is DecisionStatus.REJECTED
    assert (decided.rejected_by, decided.reason) == ("B", "wrong region")


@given(
    voters=st.lists(st.sampled_from(["A", "B", "C", "D", "R"]), max_size=12),
    quorum=st.integers(min_value=1, max_value=5),
    self_approval=st.booleans(),
)
def test_approved_exactly_when_enough_distinct_counted_voters_approved(
    voters: list[str], quorum: int, self_approval: bool
) -> None:
    policy = Policy(quorum=quorum, self_approval=self_approval)
    counted = {v for v in voters if self_approval or v != "R"}
    decision = outcome([V(v) for v in voters], policy, "R", H)
    assert (decision.status is DecisionStatus.APPROVED) == (len(counted) >= quorum)
    assert set(decision.approvals) == counted


def test_eligibility_comes_from_the_approver_pool_and_the_self_approval_rule() -> None:
    pool = frozenset({"A", "R"})
    assert eligible("X", approvers=pool, requester="R", policy=Policy()) is RefusalCode.NOT_APPROVER
    assert eligible("R", approvers=pool, requester="R", policy=Policy()) is RefusalCode.REQUESTER
    assert eligible("R", approvers=pool, requester="R", policy=Policy(self_approval=True)) is None
    assert eligible("A", approvers=pool, requester="R", policy=Policy()) is None
    assert counted_voters(pool, "R", Policy()) == frozenset({"A"})


def test_the_pool_is_groups_and_users_or_the_admins_when_nobody_is_configured() -> None:
    policy = Policy(approver_usergroups=("S1",), approver_users=("U9",))
    assert approver_pool(policy, [frozenset({"U1", "U2"})], admins=["ADM"]) == {"U1", "U2", "U9"}
    assert approver_pool(Policy(), [], admins=["ADM"]) == {"ADM"}


def test_an_approval_expires_after_its_window_but_never_after_the_scheduled_start() -> None:
    assert expires_at(NOW, 24) == NOW + timedelta(hours=24)
    assert expires_at(NOW, 24, NOW + timedelta(hours=3)) == NOW + timedelta(hours=3)
    assert Policy(expiry_hours=10).expires_at(NOW, NOW + timedelta(days=2)) == NOW + timedelta(hours=10)


def test_the_reminder_comes_at_eighty_percent_of_the_window() -> None:
    assert reminder_at(NOW, NOW + timedelta(hours=10)) == NOW + timedelta(hours=8)


def test_a_round_reference_survives_the_button_value_and_refuses_garbage() -> None:
    ref = RoundRef("r-7k2q9m4x", 3, H)
    assert RoundRef.decode(ref.encode()) == ref
    for garbage in ("", "r-1", "r-1:x:" + H, "r-1:2", ":2:" + H, "a:b:c:d"):
        assert RoundRef.decode(garbage) is None


def test_one_execution_intent_key_per_round_and_action() -> None:
    assert intent_key("r-1", 2, ApprovalAction.START) == "work:r-1:2:start"
    assert intent_key("r-1", 1, ApprovalAction.EXECUTE) == "work:r-1:1:execute"
