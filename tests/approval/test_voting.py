"""Approve and Reject through signed Slack clicks: quorum, refusals, hash binding, and the card's edits."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.approval import RefusalCode
from bot.domain.params import MigrationParams
from sandbox.slack import ADMIN, APPROVER_1, APPROVER_2, MIGRATIONS_CHANNEL, OUTSIDER, REQUESTER
from storage import repository as repo
from storage.enums import ApprovalAction, AuditOutcome, ExecutionMethod, RequestState
from tests.approval.conftest import (
    MovableClock,
    add_request,
    ask,
    audit,
    card,
    cards,
    configure,
    ephemeral_texts,
    has_buttons,
    image_params,
    instance_params,
    intents,
    replies,
    request,
    votes,
)
from tests.harness import BotUnderTest


def test_quorum_of_two_shows_one_of_two_then_approves_and_records_one_execution_intent(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    assert "0 of 2" in json.dumps(card(bot.slack, rid).blocks)

    first = bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    assert first.acked_in_time and not first.problems
    bot.settle()
    after_one = card(bot.slack, rid)
    assert "1 of 2" in json.dumps(after_one.blocks) and has_buttons(after_one)
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL
    assert intents(bot.services.db, rid) == []
    assert any("1 of 2" in t for t in ephemeral_texts(bot.slack, APPROVER_1))

    bot.driver.block_action(APPROVER_2, "approve", message=card(bot.slack, rid))
    assert request(bot.services.db, rid).state is RequestState.APPROVED
    bot.settle()
    decided = card(bot.slack, rid)
    assert "Approved" in json.dumps(decided.blocks) and not has_buttons(decided)
    assert len(cards(bot.slack, rid)) == 1, "the card is edited in place, never posted again"
    [intent] = intents(bot.services.db, rid)
    assert intent.key == f"work:{rid}:1:execute"
    assert intent.payload == {"task": "execute", "request_id": rid, "round": 1, "action": "execute"}
    assert any("approved by" in t and APPROVER_1 in t and APPROVER_2 in t for t in replies(bot.slack, rid))


def test_a_click_by_someone_who_is_not_an_approver_is_refused_and_changes_nothing(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    result = bot.driver.block_action(OUTSIDER, "approve", message=card(bot.slack, rid))
    assert result.acked_in_time
    bot.settle()
    assert any("not an approver" in t for t in ephemeral_texts(bot.slack, OUTSIDER))
    assert votes(bot.services.db, rid) == []
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL
    assert "0 of 1" in json.dumps(card(bot.slack, rid).blocks)
    refused = [e for e in audit(bot.services.db, rid) if e.outcome is AuditOutcome.REFUSED]
    assert [(e.actor, e.action, e.detail["refusal"]) for e in refused] == [
        (OUTSIDER, "vote.approve", RefusalCode.NOT_APPROVER.value)
    ]


def test_the_requester_cannot_approve_their_own_request(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db, users=[REQUESTER])
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(REQUESTER, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert any("does not allow self-approval" in t for t in ephemeral_texts(bot.slack, REQUESTER))
    assert votes(bot.services.db, rid) == []
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL


def test_self_approval_counts_when_the_channel_allows_it(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db, users=[REQUESTER], self_approval=True)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(REQUESTER, "approve", message=card(bot.slack, rid))
    assert request(bot.services.db, rid).state is RequestState.APPROVED
    assert len(intents(bot.services.db, rid)) == 1


def test_a_second_click_by_the_same_approver_is_refused_and_not_counted_twice(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert len(votes(bot.services.db, rid)) == 1
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL
    assert "1 of 2" in json.dumps(card(bot.slack, rid).blocks)
    texts = ephemeral_texts(bot.slack, APPROVER_1)
    assert any("recorded" in t for t in texts) and any("already approved" in t for t in texts)


def test_a_click_after_the_approval_expired_is_refused(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    clock.advance(timedelta(hours=2, minutes=1))
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert any("expired" in t for t in ephemeral_texts(bot.slack, APPROVER_1))
    assert votes(bot.services.db, rid) == []
    assert intents(bot.services.db, rid) == []


def test_an_edit_clears_the_votes_and_a_click_on_the_old_card_is_refused(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    old = card(bot.slack, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=old)
    edit_params(bot, rid, image_params(image_name="web-prod-v2"))
    # Slack still shows the old card until the edit is delivered: a click on it carries the old hash.
    bot.driver.block_action(APPROVER_2, "approve", message=old)
    bot.settle()
    assert any("out of date" in t for t in ephemeral_texts(bot.slack, APPROVER_2))
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL

    assert len(cards(bot.slack, rid)) == 2, "approvers are asked again with a new card"
    superseded = cards(bot.slack, rid)[0]
    assert "Superseded" in json.dumps(superseded.blocks) and not has_buttons(superseded)
    new = card(bot.slack, rid)
    assert "0 of 2" in json.dumps(new.blocks) and "web-prod-v2" in json.dumps(new.blocks)

    bot.driver.block_action(APPROVER_2, "approve", message=new)
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL, (
        "the old vote does not count"
    )
    bot.driver.block_action(APPROVER_1, "approve", message=new)
    assert request(bot.services.db, rid).state is RequestState.APPROVED
    [intent] = intents(bot.services.db, rid)
    assert intent.payload["round"] == 2


def test_reject_with_a_reason_closes_the_request_and_the_thread_says_why(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    clicked = bot.driver.block_action(APPROVER_2, "reject", message=card(bot.slack, rid))
    assert clicked.acked_in_time and not clicked.problems
    modal = bot.slack.open_view(APPROVER_2)
    assert modal is not None and modal.callback_id == "approval_reject_reason"
    submitted = bot.driver.submit_view(
        APPROVER_2, modal.id, {"reject_reason": {"reject_reason": "wrong region: use cn-shanghai"}}
    )
    assert submitted.acked_in_time and not submitted.problems
    bot.settle()

    assert request(bot.services.db, rid).state is RequestState.REJECTED
    assert intents(bot.services.db, rid) == []
    closed = card(bot.slack, rid)
    assert "Rejected" in json.dumps(closed.blocks) and "wrong region: use cn-shanghai" in json.dumps(
        closed.blocks
    )
    assert not has_buttons(closed)
    assert any("rejected by" in t and "wrong region" in t for t in replies(bot.slack, rid))
    [reject] = [v for v in votes(bot.services.db, rid) if v.voter == APPROVER_2]
    assert reject.reason == "wrong region: use cn-shanghai"


def test_reject_without_a_reason_is_fine(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "reject", message=card(bot.slack, rid))
    modal = bot.slack.open_view(APPROVER_1)
    assert modal is not None
    bot.driver.submit_view(APPROVER_1, modal.id, {})
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.REJECTED
    assert "no reason given" in json.dumps(card(bot.slack, rid).blocks)


def test_a_reject_click_by_a_non_approver_is_refused_without_opening_the_modal(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(OUTSIDER, "reject", message=card(bot.slack, rid))
    bot.settle()
    assert bot.slack.open_view(OUTSIDER) is None
    assert any("not an approver" in t for t in ephemeral_texts(bot.slack, OUTSIDER))
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL


def test_a_click_on_a_decided_request_is_refused(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    shown = card(bot.slack, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=shown)
    # The decision has not reached Slack yet, so the buttons are still there for the second approver.
    bot.driver.block_action(APPROVER_2, "approve", message=shown)
    bot.settle()
    assert any("already decided" in t for t in ephemeral_texts(bot.slack, APPROVER_2))
    assert [v.voter for v in votes(bot.services.db, rid)] == [APPROVER_1]
    assert len(intents(bot.services.db, rid)) == 1


def test_the_card_shows_who_asked_what_runs_what_it_costs_and_the_data_loss_warning(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db, instance_params())
    ask(bot, rid)
    shown = card(bot.slack, rid)
    text = json.dumps(shown.blocks)
    assert f"<@{REQUESTER}>" in text
    assert "i-bp1target0001" in text and "Data loss" in text and "automatic snapshots are deleted" in text
    assert "pay-as-you-go" in text and "keeps billing" in text and "public-network bandwidth" in text
    assert "CreateReplicationJob" in text and "0 of 2" in text and "Expires" in text
    assert "<!subteam^S0SMCAPPROVERS>" in shown.text, "the approvers are notified"

    image = add_request(bot.services.db)
    ask(bot, image)
    image_text = json.dumps(card(bot.slack, image).blocks)
    assert "Data loss" not in image_text and "intermediate instance" in image_text


def test_show_the_request_opens_the_exact_create_replication_job_request(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    result = bot.driver.block_action(APPROVER_2, "approval_show_request", message=card(bot.slack, rid))
    assert result.acked_in_time and not result.problems
    view = bot.slack.open_view(APPROVER_2)
    assert view is not None
    text = json.dumps(view.blocks)
    assert f"ClientToken = {rid}" in text and "ImageName = web-prod" in text and "SystemDiskSize = 40" in text


def test_an_unconfigured_channel_lets_workspace_admins_decide(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL
    bot.driver.block_action(ADMIN, "approve", message=card(bot.slack, rid))
    assert request(bot.services.db, rid).state is RequestState.APPROVED


def test_test_only_of_an_image_needs_no_approval_unless_the_channel_asks_for_it(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    test_only = image_params(migration_test=True, execution_method=ExecutionMethod.TEST_ONLY)
    free = add_request(bot.services.db, test_only)
    ask(bot, free, settle=False)
    assert request(bot.services.db, free).state is RequestState.APPROVED
    assert [i.key for i in intents(bot.services.db, free)] == [f"work:{free}:1:execute"]
    bot.settle()
    assert cards(bot.slack, free) == []

    configure(bot.services.db, methods=[ExecutionMethod.TEST_ONLY.value])
    gated = add_request(bot.services.db, test_only)
    ask(bot, gated)
    assert request(bot.services.db, gated).state is RequestState.AWAITING_APPROVAL
    assert len(cards(bot.slack, gated)) == 1


def test_an_instance_target_always_needs_approval_whatever_the_channel_says(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, methods=[])
    rid = add_request(
        bot.services.db, instance_params(migration_test=True, execution_method=ExecutionMethod.TEST_ONLY)
    )
    ask(bot, rid)
    assert request(bot.services.db, rid).state is RequestState.AWAITING_APPROVAL
    assert intents(bot.services.db, rid) == []


def test_still_approved_holds_for_the_approved_round_and_hash_only(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    approved_hash = request(bot.services.db, rid).params_hash
    with bot.services.db.unit_of_work() as s:
        assert not bot.services.approvals.still_approved(s, rid, 1, approved_hash), "not approved yet"
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    with bot.services.db.unit_of_work() as s:
        assert bot.services.approvals.still_approved(s, rid, 1, approved_hash)
        assert not bot.services.approvals.still_approved(s, rid, 1, "0" * 64)
        assert not bot.services.approvals.still_approved(s, rid, 2, approved_hash)


def test_approvals_lists_what_waits_for_me_and_nothing_else(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    waiting = add_request(bot.services.db)
    voted = add_request(bot.services.db)
    mine = add_request(bot.services.db, requester=APPROVER_1)
    for rid in (waiting, voted, mine):
        ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, voted))

    answer = bot.command_answer(APPROVER_1, MIGRATIONS_CHANNEL, "approvals")
    assert "wait" in answer.text and answer.source != "ack"
    assert waiting in answer.text and voted not in answer.text and mine not in answer.text

    assert "Nothing waits" in bot.command_answer(OUTSIDER, MIGRATIONS_CHANNEL, "approvals").text


def edit_params(bot: BotUnderTest, rid: str, params: MigrationParams) -> None:
    """What an Edit does to a request waiting for approval: new parameters and hash, the next round."""
    with bot.services.db.unit_of_work() as s:
        row = repo.get_request(s, rid)
        assert row is not None
        row.params = json.loads(params.canonical_json())
        row.params_hash = params.params_hash()
        s.flush()
        bot.services.approvals.open_round(s, rid, ApprovalAction.EXECUTE, actor=REQUESTER)
