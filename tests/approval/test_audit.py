"""The audit trail: every command and decision is recorded; `/smc audit [days]` uploads this channel's CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from bot.domain.audit import CSV_COLUMNS, parse_days, to_csv
from sandbox.slack import APPROVER_1, GENERAL_CHANNEL, MIGRATIONS_CHANNEL, REQUESTER
from storage import repository as repo
from storage.enums import AuditOutcome
from storage.models import AuditEvent
from storage.types import utcnow
from tests.approval.conftest import TEAM, add_request, ask, audit, card, configure, request
from tests.harness import BotUnderTest


def test_every_slash_command_is_audited_with_who_where_and_what(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")
    bot.driver.slash_command(APPROVER_1, MIGRATIONS_CHANNEL, text="approvals")
    commands = [e for e in audit(bot.services.db) if e.action == "command"]
    assert [(e.actor, e.channel_id, e.detail["subcommand"]) for e in commands] == [
        (REQUESTER, MIGRATIONS_CHANNEL, "help"),
        (APPROVER_1, MIGRATIONS_CHANNEL, "approvals"),
    ]


def test_audit_uploads_this_channels_events_of_the_last_days_as_csv(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    params_hash = request(bot.services.db, rid).params_hash
    bot.services.audit.record_now(actor=REQUESTER, action="command", channel_id=GENERAL_CHANNEL, team_id=TEAM)
    with bot.services.db.unit_of_work() as s:
        repo.add(
            s,
            AuditEvent(
                at=utcnow() - timedelta(days=9),
                actor=REQUESTER,
                action="request.submitted",
                channel_id=MIGRATIONS_CHANNEL,
                request_id="r-old",
            ),
        )

    answer = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="audit 7")
    assert answer.acked_in_time and "7 days" in answer.data["text"]
    bot.settle()

    [upload] = bot.slack.files()
    assert upload.channels == (MIGRATIONS_CHANNEL,) and upload.name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(upload.content.decode())))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert {r["channel_id"] for r in rows} == {MIGRATIONS_CHANNEL}
    assert "r-old" not in {r["request_id"] for r in rows}
    by_action = {r["action"]: r for r in rows}
    assert {"vote.approve", "approval.approved", "audit.exported"} <= set(by_action)
    approved = by_action["approval.approved"]
    assert (approved["actor"], approved["request_id"], approved["params_hash"], approved["outcome"]) == (
        APPROVER_1,
        rid,
        params_hash,
        "ok",
    )
    assert json.loads(approved["detail"])["approvers"] == [APPROVER_1]
    assert approved["time_utc"].endswith("Z")


def test_a_retried_audit_command_uploads_one_file(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    first = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="audit")
    bot.driver.replay(first)
    bot.settle()
    assert len(bot.slack.files()) == 1


def test_audit_with_a_bad_number_of_days_says_what_to_type(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    answer = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="audit lots")
    assert "whole number from 1 to 365" in answer.data["text"]
    bot.settle()
    assert bot.slack.files() == []


def test_days_parse_to_a_default_or_a_whole_number_in_range() -> None:
    assert parse_days("") == 30 and parse_days(" 7 ") == 7 and parse_days("365") == 365
    assert parse_days("0") is None and parse_days("366") is None and parse_days("-1") is None
    assert parse_days("7d") is None


def test_csv_cells_that_look_like_formulas_stay_text() -> None:
    event = AuditEvent(
        at=utcnow(),
        actor="U1",
        action="vote.reject",
        outcome=AuditOutcome.OK,
        channel_id="C1",
        detail={"reason": "=HYPERLINK(1)"},
    )
    event_with_formula_actor = AuditEvent(at=utcnow(), actor="=cmd", action="command", channel_id="C1")
    rows = list(csv.reader(io.StringIO(to_csv([event, event_with_formula_actor]))))
    assert rows[2][1] == "'=cmd"
    assert json.loads(rows[1][7]) == {"reason": "=HYPERLINK(1)"}, "JSON cells start with a brace"
