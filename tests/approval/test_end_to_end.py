"""From the migrate modal to an approved request, through an Edit that clears the votes on the way."""

from __future__ import annotations

import json

from sqlmodel import select

from sandbox.slack import APPROVER_1, APPROVER_2, OUTSIDER, REQUESTER
from storage.enums import RequestState
from storage.models import MigrationRequest
from tests.approval.conftest import (
    card,
    cards,
    configure,
    ephemeral_texts,
    has_buttons,
    intents,
    request,
    summary_of,
    votes,
)
from tests.handlers.wizard import WizardUser
from tests.harness import BotUnderTest

WEB = "s-bp1dtyvdak02x846kq4p"


def submitted(bot: BotUnderTest) -> MigrationRequest:
    with bot.services.db.unit_of_work() as session:
        [row] = session.scalars(select(MigrationRequest)).all()
        return row


def test_a_submitted_migration_is_approved_after_an_edit_cleared_the_first_vote(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", "cn-hangzhou")
    wizard.submit()
    wizard.submit()
    wizard.submit({"job_name": "migrate-web-prod-02"})
    rid = submitted(bot).id
    bot.settle()

    first = card(bot.slack, rid)
    assert "0 of 2" in json.dumps(first.blocks) and "<!subteam^S0SMCAPPROVERS>" in first.text
    bot.driver.block_action(APPROVER_1, "approve", message=first)
    bot.settle()
    assert "1 of 2" in json.dumps(card(bot.slack, rid).blocks)

    bot.driver.block_action(OUTSIDER, "request_edit", rid, message=summary_of(bot.slack, rid))
    assert any("Only <@" in t for t in ephemeral_texts(bot.slack, OUTSIDER))
    assert bot.slack.open_view(OUTSIDER) is None

    editor = WizardUser(bot)
    bot.driver.block_action(REQUESTER, "request_edit", rid, message=summary_of(bot.slack, rid))
    bot.wait_for_background()
    opened = bot.slack.open_view(REQUESTER)
    assert opened is not None
    editor.view_id = opened.id
    editor.submit()
    editor.submit()
    editor.submit({"job_name": "migrate-web-prod-02-v2"})
    bot.settle()

    edited = request(bot.services.db, rid)
    assert edited.approval_round == 2 and edited.state is RequestState.AWAITING_APPROVAL
    assert len(cards(bot.slack, rid)) == 2
    assert not has_buttons(cards(bot.slack, rid)[0]) and "Superseded" in json.dumps(
        cards(bot.slack, rid)[0].blocks
    )
    second = card(bot.slack, rid)
    assert "0 of 2" in json.dumps(second.blocks), "the edit cleared the first vote"
    assert "migrate-web-prod-02-v2" in json.dumps(second.blocks)

    bot.driver.block_action(APPROVER_1, "approve", message=second)
    bot.driver.block_action(APPROVER_2, "approve", message=second)
    assert request(bot.services.db, rid).state is RequestState.APPROVED
    [intent] = intents(bot.services.db, rid)
    assert intent.payload == {"task": "execute", "request_id": rid, "round": 2, "action": "execute"}
    assert sorted((v.round, v.voter) for v in votes(bot.services.db, rid)) == [
        (1, APPROVER_1),
        (2, APPROVER_1),
        (2, APPROVER_2),
    ]
