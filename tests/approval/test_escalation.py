"""Escalation (PRODUCT §3.6 "remind, then escalate"): at 95 % of the window an undecided round is broadcast to
the channel, naming the approvers and the channel's admins — once per round, audited, once across replicas."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sandbox.cloud import CloudSimulator
from sandbox.slack import ADMIN, APPROVER_1, SlackStandIn
from storage.db import Database
from storage.enums import RequestState, VoteDecision
from tests.approval.conftest import (
    MovableClock,
    add_request,
    ask,
    audit,
    configure,
    replies,
    request,
)
from tests.harness import BotUnderTest, running_bot

APPROVERS_MENTION = "<!subteam^S0SMCAPPROVERS>"


def escalations(slack: SlackStandIn, request_id: str) -> list[str]:
    return [t for t in replies(slack, request_id) if "Escalation" in t]


def reminders(slack: SlackStandIn, request_id: str) -> list[str]:
    return [t for t in replies(slack, request_id) if "still waits" in t]


def broadcast_texts(slack: SlackStandIn) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in slack.calls("chat.postMessage")
        if str(c.params.get("reply_broadcast")).lower() == "true"
    ]


def escalated_events(db: Database, request_id: str) -> int:
    return [e.action for e in audit(db, request_id)].count("approval.escalated")


def test_after_the_reminder_an_undecided_round_is_escalated_once_to_the_channel(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2, expiry_hours=10, admins=[ADMIN])
    rid = add_request(bot.services.db)
    ask(bot, rid)
    opened = clock()
    approvals = bot.services.approvals

    approvals.sweep(opened + timedelta(hours=8, minutes=5))
    approvals.sweep(opened + timedelta(hours=9, minutes=25))
    bot.settle()
    assert len(reminders(bot.slack, rid)) == 1
    assert escalations(bot.slack, rid) == [], "too early at 94 %"

    approvals.sweep(opened + timedelta(hours=9, minutes=31))
    approvals.sweep(opened + timedelta(hours=9, minutes=45))
    bot.settle()

    [escalation] = escalations(bot.slack, rid)
    assert APPROVERS_MENTION in escalation and f"<@{ADMIN}>" in escalation
    assert rid in escalation and "without a decision" in escalation and "0 of 2" in escalation
    assert broadcast_texts(bot.slack) == [escalation], "broadcast: the whole channel sees it"
    assert len(reminders(bot.slack, rid)) == 1
    assert escalated_events(bot.services.db, rid) == 1

    approvals.sweep(opened + timedelta(hours=10, minutes=1))
    bot.settle()
    assert request(bot.services.db, rid).state is RequestState.EXPIRED
    assert len(escalations(bot.slack, rid)) == 1


def test_a_sweep_that_first_runs_past_95_percent_escalates_without_a_late_reminder(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=10)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    opened = clock()

    bot.services.approvals.sweep(opened + timedelta(hours=9, minutes=40))
    bot.services.approvals.sweep(opened + timedelta(hours=9, minutes=50))
    bot.settle()

    assert len(escalations(bot.slack, rid)) == 1
    assert reminders(bot.slack, rid) == []
    assert request(bot.services.db, rid).reminder_sent_at is not None
    assert "workspace admins (no channel admins are configured)" in escalations(bot.slack, rid)[0]


def test_a_round_decided_before_95_percent_is_not_escalated(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=10)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    opened = clock()
    row = request(bot.services.db, rid)
    result = bot.services.approvals.vote(
        rid, row.approval_round, row.params_hash, voter=APPROVER_1, decision=VoteDecision.APPROVE
    )
    assert result.accepted

    bot.services.approvals.sweep(opened + timedelta(hours=9, minutes=45))

    assert escalated_events(bot.services.db, rid) == 0


def test_each_new_round_is_escalated_on_its_own(approval_bot: BotUnderTest, clock: MovableClock) -> None:
    bot = approval_bot
    configure(bot.services.db, expiry_hours=10)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.services.approvals.sweep(clock() + timedelta(hours=9, minutes=45))
    clock.advance(timedelta(hours=1))
    ask(bot, rid)  # the next round (an edit re-asks the approvers)
    assert request(bot.services.db, rid).approval_round == 2

    bot.services.approvals.sweep(clock() + timedelta(hours=9, minutes=45))
    bot.settle()

    assert escalated_events(bot.services.db, rid) == 2
    assert len(escalations(bot.slack, rid)) == 1, "round 1's escalation is not posted: its card is closed"


def _together(calls: list[Callable[[], None]]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_replicas_sweeping_at_the_same_instant_escalate_once_on_postgresql(
    pg_db: Database, pg_url: str, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    clock = MovableClock()
    second_db = Database(pg_url)
    try:
        with (
            running_bot(pg_db, slack, cloud, clock=clock) as replica_a,
            running_bot(second_db, slack, cloud, clock=clock) as replica_b,
        ):
            configure(pg_db, expiry_hours=10, admins=[ADMIN])
            rid = add_request(pg_db)
            ask(replica_a, rid)
            at: datetime = clock() + timedelta(hours=9, minutes=45)

            _together(
                [
                    lambda: replica_a.services.approvals.sweep(at),
                    lambda: replica_b.services.approvals.sweep(at),
                ]
            )
            replica_a.settle()
            replica_b.settle()

            assert escalated_events(pg_db, rid) == 1
            assert len(escalations(slack, rid)) == 1
            assert len(broadcast_texts(slack)) == 1
    finally:
        second_db.dispose()
