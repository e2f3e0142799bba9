"""The work tasks the worker can run, by name; each feature adds its task here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.services import Services
from bot.worker import Task


def all_tasks(services: Services) -> Mapping[str, Task]:
    """Name -> task; the name is `payload["task"]` of a WORK outbox item."""
    return {
        "import": services.import_runner.run,
        "execute": services.execution.run,
        "verify": services.verification.run,
    }


Periodic = Callable[[], None]


def periodic_jobs(services: Services) -> Mapping[str, Periodic]:
    """Name -> housekeeping run about once a minute on every replica (each one is compare-and-set safe)."""
    return {"approvals.sweep": services.approvals.sweep}
