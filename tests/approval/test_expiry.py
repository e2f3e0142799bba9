"""Expiry and reminders: approvers are reminded once at 80 % of the window, then nothing can start it."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.approval import RefusalCode
from bot.tasks import periodic_jobs
from sandbox.slack import APPROVER_1
from storage.enums import ExecutionMethod, RequestState, VoteDecision
from tests.approval.conftest import (
    MovableClock,
    add_request,
    ask,
    audit,
    card,
    configure,
    ephemeral_texts,
    has_buttons,
    image_params,
    intents,
    replies,
    request,
    summary_of,
)
from tests.harness import BotUnderTest


def test_approvers_are_reminded_once_then_the_request_expires_and_cannot_be_approved(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2, expiry_hours=10)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    opened = clock()
    approvals = bot.services.approvals

    approvals.sweep(opened + timedelta(hours=7, minutes=50))
    bot.settle()
    assert not any("still waits" in t for t in replies(bot.slack, rid)), "too early at 78 %"

    approvals.sweep(opened + timedelta(hours=8, minutes=5))
    approvals.sweep(opened + timedelta(hours=9))
    bot.settle()
    reminders = [t for t in replies(bot.slack, rid) if "still waits" in t]
    assert len(reminders) == 1 and "<!subteam^S0SMCAPPROVERS>" in reminders[0] and "0 of 2" in reminders[0]
    assert request(bot.services.db, rid).reminder_sent_at is not None

    approvals.sweep(opened + timedelta(hours=10, minutes=1))
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.EXPIRED
    expired_card = card(bot.slack, rid)
    assert "Expired" in json.dumps(expired_card.blocks) and not has_buttons(expired_card)
    assert any("expired" in t and "Nothing will run" in t for t in replies(bot.slack, rid))
    assert "expired" in summary_of(bot.slack, rid).text
    assert [e.action for e in audit(bot.services.db, rid)].count("approval.expired") == 1

    late = approvals.vote(
        rid, 1, request(bot.services.db, rid).params_hash, voter=APPROVER_1, decision=VoteDecision.APPROVE
    )
    assert not late.accepted and late.refusal is RefusalCode.EXPIRED
    assert intents(bot.services.db, rid) == []


def test_a_click_that_was_on_its_way_when_the_request_expired_is_refused(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=1)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    shown = card(bot.slack, rid)
    clock.advance(timedelta(hours=2))
    bot.services.approvals.sweep()
    bot.driver.block_action(APPROVER_1, "approve", message=shown)
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.EXPIRED
    assert any("expired" in t for t in ephemeral_texts(bot.slack, APPROVER_1))
    assert intents(bot.services.db, rid) == []


def test_an_approval_never_outlives_the_scheduled_start(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=24)
    start = (clock() + timedelta(hours=3)).replace(microsecond=0)
    later = image_params(execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start)
    rid = add_request(bot.services.db, later)
    ask(bot, rid)
    assert request(bot.services.db, rid).approval_expires_at == start

    bot.services.approvals.sweep(start)
    assert request(bot.services.db, rid).state is RequestState.EXPIRED


def test_the_sweep_runs_as_a_periodic_job_of_every_replica(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=1)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    clock.advance(timedelta(hours=1, seconds=1))
    periodic_jobs(bot.services)["approvals.sweep"]()
    assert request(bot.services.db, rid).state is RequestState.EXPIRED
