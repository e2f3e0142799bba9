"""A bot replica in its own process (multiprocessing, spawn): the poller's tracker and outbox delivery.

The test process drives it over a pipe: `("tick", iso_now)` runs one tick with that simulated time and
answers with the tick's report; `("stop", None)` stops delivery and exits. Delivery runs all the time on
its own thread, so a SIGKILL can land in the middle of a tick or of a Slack post.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

SPAWN = mp.get_context("spawn")


@dataclass(frozen=True)
class ReplicaConfig:
    owner: str
    database_url: str
    cloud_url: str
    access_key_id: str
    access_key_secret: str
    slack_api_url: str
    slack_token: str
    signing_secret: str
    claim_limit: int = 10_000
    lease_seconds: float = 120.0
    delivery_lease_seconds: float = 3.0


def main(conn: Connection, config: ReplicaConfig) -> None:
    """The replica's body (runs in the child process)."""
    logging.basicConfig(level=logging.WARNING)
    from slack_sdk import WebClient

    from bot.config import Settings
    from bot.delivery import Delivery
    from bot.domain.tracking import JobTracker, TrackingPolicy
    from bot.services import Services
    from handlers.notify import renderer
    from storage.db import Database
    from tests.poller.support import gateway

    db = Database(config.database_url)
    cloud = gateway(config.cloud_url, key=config.access_key_id, secret=config.access_key_secret)
    settings = Settings.model_validate(
        {
            "SLACK_BOT_TOKEN": config.slack_token,
            "SLACK_SIGNING_SECRET": config.signing_secret,
            "SLACK_API_URL": config.slack_api_url,
            "DATABASE_URL": config.database_url,
            "SMC_BOT_CLOUD_ENDPOINT": config.cloud_url,
        }
    )
    services = Services(settings=settings, db=db, cloud=cloud, owner=config.owner)
    delivery = Delivery(
        db,
        WebClient(token=config.slack_token, base_url=config.slack_api_url),
        renderer(services),
        owner=config.owner,
        lease=timedelta(seconds=config.delivery_lease_seconds),
        post_interval=0.0,
    )
    now: dict[str, datetime] = {}
    tracker = JobTracker(
        db,
        cloud,
        owner=config.owner,
        clock=lambda: now["at"],
        policy=TrackingPolicy(
            claim_limit=config.claim_limit, lease=timedelta(seconds=config.lease_seconds), describe_workers=2
        ),
        kick=delivery.kick,
    )
    delivery.start(idle_seconds=0.05)
    conn.send("ready")
    while True:
        command, argument = conn.recv()
        if command == "tick":
            now["at"] = datetime.fromisoformat(argument)
            report = tracker.tick()
            conn.send({k: v for k, v in asdict(report).items() if k != "groups"})
        elif command == "stop":
            delivery.stop()
            tracker.close()
            conn.send("stopped")
            return


class Replica:
    """The test's handle on one replica process."""

    def __init__(self, config: ReplicaConfig) -> None:
        self.config = config
        self.conn, child = SPAWN.Pipe()
        self.process: BaseProcess = SPAWN.Process(target=main, args=(child, config), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(120):
            raise RuntimeError(f"replica {config.owner} did not start")
        assert self.conn.recv() == "ready"

    def send_tick(self, now: datetime) -> None:
        self.conn.send(("tick", now.isoformat()))

    def report(self, timeout: float = 120.0) -> dict[str, Any]:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"replica {self.config.owner} did not answer")
        answer: dict[str, Any] = self.conn.recv()
        return answer

    def tick(self, now: datetime) -> dict[str, Any]:
        self.send_tick(now)
        return self.report()

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, leases and half-sent posts left behind."""
        self.process.kill()
        self.process.join(10)
        self.conn.close()

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send(("stop", None))
            if self.conn.poll(60):
                self.conn.recv()
            self.process.join(10)
        self.conn.close()
