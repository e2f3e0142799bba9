"""After-ack work can fail; the user who clicked is told, with the reference the log has."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import text

from sandbox.slack import ADMIN, APPROVER_1, MIGRATIONS_CHANNEL
from tests.approval.conftest import add_request, ask, card, configure, ephemeral_texts, votes
from tests.harness import BotUnderTest


def test_a_vote_that_fails_after_the_ack_tells_the_voter_with_a_reference(
    approval_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    with bot.services.db.unit_of_work() as session:
        session.execute(text("ALTER TABLE vote RENAME TO vote_gone"))  # the vote's write will fail
    with caplog.at_level(logging.ERROR):
        result = bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    assert result.status == 200 and result.acked_in_time and not result.problems
    [told] = [t for t in ephemeral_texts(bot.slack, APPROVER_1) if "did not go through" in t]
    ref = re.search(r"reference `([0-9a-f]{8})`", told)
    assert ref is not None, told
    assert any(f"ref={ref[1]}" in r.getMessage() and "name=vote" in r.getMessage() for r in caplog.records)
    with bot.services.db.unit_of_work() as session:
        session.execute(text("ALTER TABLE vote_gone RENAME TO vote"))
    assert votes(bot.services.db, rid) == []


def test_a_submission_that_fails_before_its_ack_shows_the_reference_in_the_modal(
    approval_bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    opened = bot.driver.slash_command(ADMIN, MIGRATIONS_CHANNEL, text="config")
    assert opened.acked_in_time and not opened.problems
    view = bot.slack.open_view(ADMIN)
    assert view is not None and view.callback_id == "channel_config"
    with bot.services.db.unit_of_work() as session:
        session.execute(text("ALTER TABLE channel_config RENAME TO channel_config_gone"))
    try:
        with caplog.at_level(logging.ERROR):
            result = bot.driver.submit_view(ADMIN, view.id, {"cfg_quorum": {"cfg_quorum": "1"}})
    finally:
        with bot.services.db.unit_of_work() as session:
            session.execute(text("ALTER TABLE channel_config_gone RENAME TO channel_config"))
    assert result.status == 200 and result.acked_in_time and not result.problems
    assert result.data["response_action"] == "update"
    shown = bot.slack.open_view(ADMIN)
    assert shown is not None
    said = json.dumps(shown.blocks)
    ref = re.search(r"reference `([0-9a-f]{8})`", said)
    assert ref is not None and "Nothing was changed" in said, said
    assert any(f"ref={ref[1]}" in r.getMessage() for r in caplog.records)
