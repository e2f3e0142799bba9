"""The 3-second rule across the whole surface: with 5 s of latency on every cloud call, every command,
button and approval click is acknowledged at once (the cloud is only called after `ack()`).

The migrate wizard's steps, options and submissions have their own test (test_migrate_acks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.cloud import CloudSimulator
from sandbox.slack import APPROVER_1, MIGRATIONS_CHANNEL, REQUESTER, BotResponse, SlackStandIn
from storage.db import Database
from tests.approval.conftest import add_request, ask
from tests.execution.helpers import ShiftClock, configure_channel, insert_request, summary, web_params
from tests.harness import BotUnderTest, running_bot

SLOW_CLOUD_S = 5.0
FAST_ACK_S = 1.0
"""Far below the 5 s an ack would take if it waited for a single cloud call."""


@pytest.fixture
def production_bot(db: Database, slack: SlackStandIn, cloud: CloudSimulator) -> Iterator[BotUnderTest]:
    """The bot as `smc-bot serve` runs it: listeners ack and leave the rest to after-ack work."""
    cloud.set_time_scale(0)
    clock = ShiftClock()
    with running_bot(db, slack, cloud, clock=clock) as running:
        configure_channel(running)
        yield running
        cloud.faults.clear()
        running.wait_for_background(60)


def fast(result: BotResponse) -> bool:
    return result.acked_in_time and not result.problems and result.elapsed < FAST_ACK_S


def syncing_request(bot: BotUnderTest) -> str:
    """A Migrate Now request whose job is Syncing, so its summary offers Pause and Modify."""
    request_id = insert_request(bot, web_params())
    bot.settle()
    bot.cloud.advance(200)
    bot.poll()
    bot.settle()
    return request_id


def test_every_command_and_click_is_acknowledged_at_once_while_the_cloud_takes_5_seconds(
    production_bot: BotUnderTest,
) -> None:
    bot = production_bot
    running = syncing_request(bot)
    waiting = add_request(bot.services.db)
    ask(bot, waiting)
    bot.cloud.faults.set_latency("*", SLOW_CLOUD_S)

    commands = [
        "help",
        "list",
        "list all",
        f"status {running}",
        "approvals",
        "config",
        "template list",
        "audit 7",
        "import",
        "migrate",
        "migrate s-bp1dtyvdak02x846kq4p",
    ]
    for text in commands:
        result = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text=text)
        assert fast(result), (text, result.elapsed, result.problems)

    parent = summary(bot, running)
    pause = next(
        element["action_id"]
        for block in parent.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if "Pause" in str(element.get("text", {}).get("text", ""))
    )
    clicked = bot.driver.block_action(REQUESTER, pause, message=parent)
    assert fast(clicked), (clicked.elapsed, clicked.problems)

    card = next(
        m
        for r in bot.slack.channel_messages(MIGRATIONS_CHANNEL)
        for m in r.replies
        if "Approve" in str(m.blocks)
    )
    approve = next(
        element["action_id"]
        for block in card.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("text", {}).get("text") == "Approve"
    )
    voted = bot.driver.block_action(APPROVER_1, approve, message=card)
    assert fast(voted), (voted.elapsed, voted.problems)
