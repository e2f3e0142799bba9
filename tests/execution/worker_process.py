"""A bare worker process (`python -m tests.execution.worker_process`) for the crash-safety test.

It builds the bot's services from the environment, as `smc-bot serve` would, and runs WORK intents until
none is pending. With `SMC_BOT_CRASH_AT=<point>` the execution task SIGKILLs this process at that point.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

from sqlmodel import func, select

from bot.config import load_settings
from bot.services import Services, cloud_gateway
from bot.tasks import all_tasks
from bot.worker import Worker
from storage.db import Database
from storage.enums import OutboxKind, OutboxState
from storage.models import Outbox


def pending_work(db: Database) -> int:
    with db.unit_of_work() as session:
        stmt = (
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.kind == OutboxKind.WORK)
            .where(Outbox.state == OutboxState.PENDING)
        )
        return int(session.scalar(stmt) or 0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lease-seconds", type=float, default=1.0)
    parser.add_argument("--deadline-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    settings = load_settings()
    db = Database(settings.database_url)
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings))
    worker = Worker(
        db,
        all_tasks(services),
        owner=services.owner,
        clock=services.clock,
        lease=timedelta(seconds=args.lease_seconds),
    )
    deadline = time.monotonic() + args.deadline_seconds
    while pending_work(db):
        if time.monotonic() > deadline:
            return 1
        if not worker.run_once():
            time.sleep(0.1)  # an item leased by a dead worker becomes claimable when its lease runs out
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
