"""The background parts of one bot process: outbox delivery, the work-intent worker, and the poller."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient

from bot.delivery import Delivery
from bot.delivery import Observer as SlackObserver
from bot.domain.command_log import CommandLog
from bot.domain.housekeeping import Housekeeper
from bot.domain.tracking import JobTracker, TrackingPolicy
from bot.pacing import TIER_3_INTERVAL, paced
from bot.poller import Poller, PollObserver
from bot.services import Services
from bot.tasks import all_tasks, periodic_jobs
from bot.worker import Worker
from handlers.notify import renderer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    delivery: Delivery
    worker: Worker
    poller: Poller | None = None
    """The scheduler: poll ticks, job housekeeping, and `bot.tasks.periodic_jobs` (approval reminders)."""
    command_log: CommandLog | None = None
    """The batch writer of `/smc` invocations into the audit trail (written at once while not started)."""

    def start(self) -> None:
        if self.command_log is not None:
            self.command_log.start()
        self.delivery.start()
        self.worker.start()
        if self.poller is not None:
            self.poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Shutdown order: the poller first (its tick finishes and its job leases are given back), then
        delivery finishes the batch in hand, then the worker its task, then the queued command audit is
        written; leases left behind expire for replicas."""
        if self.poller is not None:
            self.poller.stop()
        self.delivery.stop(timeout)
        self.worker.stop(timeout)
        if self.command_log is not None:
            self.command_log.stop()

    def kick(self) -> None:
        self.delivery.kick()
        self.worker.kick()


def build_runtime(
    services: Services,
    delivery_client: WebClient,
    *,
    post_interval: float = 1.05,
    update_interval: float = TIER_3_INTERVAL,
    delivery_workers: int = 32,
    slack_observer: SlackObserver | None = None,
    poll_observer: PollObserver | None = None,
) -> Runtime:
    """Wire delivery, worker and poller to `services`; `services.kick` then wakes delivery after a write.

    `post_interval` paces chat.postMessage per channel, `update_interval` chat.update (and the history
    lookups of crash adoption) per workspace: 0 turns pacing off (tests against an unlimited stand-in).
    `delivery_workers` channels are delivered in parallel (each waits out its own 1 s pacing).
    `slack_observer(method, outcome)` and `poll_observer(seconds, ok)` feed the process's metrics.
    """
    client = paced(
        delivery_client,
        {
            "chat.update": update_interval,
            "conversations.history": update_interval,
            "conversations.replies": update_interval,
        },
    )
    delivery = Delivery(
        services.db,
        client,
        renderer(services),
        owner=services.owner,
        clock=services.clock,
        post_interval=post_interval,
        workers=delivery_workers,
        observer=slack_observer,
        turn=services.background.in_flight.turn,
    )
    worker = Worker(services.db, all_tasks(services), owner=services.owner, clock=services.clock)
    runtime = Runtime(delivery=delivery, worker=worker, command_log=services.command_log)
    services.kick = runtime.kick
    interval = timedelta(seconds=services.settings.poll_seconds)
    tracker = JobTracker(
        services.db,
        services.cloud,
        owner=services.owner,
        clock=services.clock,
        policy=TrackingPolicy(
            poll_interval=interval,
            lease=max(timedelta(minutes=2), 4 * interval),
            summary_spacing=timedelta(seconds=update_interval),
            summary_in_flight_delay=interval,
        ),
        kick=runtime.kick,
    )
    housekeeper = Housekeeper(services.db, clock=services.clock, kick=runtime.kick)
    runtime.poller = Poller(
        tracker,
        interval=interval,
        housekeeper=housekeeper,
        periodic=periodic_jobs(services),
        observer=poll_observer,
    )
    return runtime
