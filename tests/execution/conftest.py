"""The bot with a clock the test moves, over a simulator whose clock moves only when the test says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.cloud import CloudSimulator
from sandbox.slack import SlackStandIn
from storage.db import Database
from tests.execution.helpers import ShiftClock, configure_channel
from tests.harness import BotUnderTest, running_bot


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
def bot(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, clock: ShiftClock
) -> Iterator[BotUnderTest]:
    """Jobs progress only on `cloud.advance(...)`; the channel's approvers are the smc-approvers group.

    Slack requests are answered once the listener returned, so `settle()` sees the work it handed to
    `services.background` (the listeners themselves only ack and hand over).
    """
    cloud.set_time_scale(0)
    with running_bot(db, slack, cloud, clock=clock) as running:
        configure_channel(running)
        yield running
