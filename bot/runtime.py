"""The background parts of one bot process: outbox delivery and the work-intent worker."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from bot.delivery import Delivery
from bot.services import Services
from bot.tasks import all_tasks
from bot.worker import Worker
from handlers.notify import renderer


@dataclass
class Runtime:
    delivery: Delivery
    worker: Worker

    def start(self) -> None:
        self.delivery.start()
        self.worker.start()

    def stop(self) -> None:
        """Stop taking work, finish what is in hand; leases left behind expire for other replicas."""
        self.worker.stop()
        self.delivery.stop()

    def kick(self) -> None:
        self.delivery.kick()
        self.worker.kick()


def build_runtime(services: Services, delivery_client: WebClient, *, post_interval: float = 1.05) -> Runtime:
    """Wire delivery and worker to `services`; `services.kick` then wakes both after a write."""
    delivery = Delivery(
        services.db,
        delivery_client,
        renderer(services),
        owner=services.owner,
        clock=services.clock,
        post_interval=post_interval,
    )
    worker = Worker(services.db, all_tasks(services), owner=services.owner, clock=services.clock)
    runtime = Runtime(delivery=delivery, worker=worker)
    services.kick = runtime.kick
    return runtime
