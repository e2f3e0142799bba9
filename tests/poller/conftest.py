"""Fixtures of the poller's tests: a simulator on a frozen clock, the bot's delivery, a tracker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.cloud.ports import CloudGateway
from bot.domain.tracking import JobTracker, TrackingPolicy
from bot.runtime import Runtime, build_runtime
from bot.services import Services
from sandbox.cloud import CloudSimulator
from sandbox.slack import SlackStandIn
from storage.db import Database
from tests.harness import settings_for
from tests.poller import support

TICK = timedelta(seconds=30)


@pytest.fixture
def simulator() -> Iterator[Callable[[dict[str, Any]], CloudSimulator]]:
    """Start a simulator for a world dict; its clock only moves when the test advances it."""
    started: list[CloudSimulator] = []

    def start(world: dict[str, Any]) -> CloudSimulator:
        sim = CloudSimulator(world, time_scale=0).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


class Bot:
    """The parts of one bot process the poller's tests drive: tracker, delivery and services."""

    def __init__(self, db: Database, slack: SlackStandIn, sim: CloudSimulator, *, owner: str = "poller-test"):
        self.sim = sim
        self.cloud: CloudGateway = support.gateway(sim.url)
        settings = settings_for(db, slack, sim)
        # Delivery keeps real time (Slack's Retry-After is real); the tracker reads the simulator's clock.
        self.services = Services(settings=settings, db=db, cloud=self.cloud, owner=owner)
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        self.runtime: Runtime = build_runtime(self.services, client, post_interval=0.0, update_interval=0.0)
        self.tracker = JobTracker(
            db,
            self.cloud,
            owner=owner,
            clock=sim.clock.now,
            policy=TrackingPolicy(poll_interval=TICK, lease=timedelta(minutes=2)),
            kick=self.runtime.kick,
        )

    def deliver(self, rounds: int = 50) -> int:
        """Run delivery until nothing is due now; how many messages went out."""
        sent = 0
        for _ in range(rounds):
            stats = self.runtime.delivery.run_once()
            sent += stats.sent
            if not stats.sent and not stats.adopted:
                break
        return sent

    def step(self, seconds: float = TICK.total_seconds()) -> None:
        """Advance the cloud by one poll interval, poll, deliver."""
        self.sim.advance(seconds)
        self.tracker.tick()
        self.deliver()


@pytest.fixture
def make_bot(db: Database, slack: SlackStandIn) -> Callable[[CloudSimulator], Bot]:
    def make(sim: CloudSimulator) -> Bot:
        return Bot(db, slack, sim)

    return make
