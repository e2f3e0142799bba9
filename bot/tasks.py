"""The work tasks the worker can run, by name; each feature adds its task here."""

from __future__ import annotations

from collections.abc import Mapping

from bot.services import Services
from bot.worker import Task


def all_tasks(services: Services) -> Mapping[str, Task]:
    """Name -> task; the name is `payload["task"]` of a WORK outbox item."""
    return {}
