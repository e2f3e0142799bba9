"""The Services container: built once in __main__ (or by a test), handed to handlers through context."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.cloud.ports import CloudGateway, Secret
from bot.config import Settings
from storage.db import Database
from storage.types import utcnow

Clock = Callable[[], datetime]


def instance_name() -> str:
    """Who holds a lease: host and pid, unique across replicas and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Services:
    """Everything a handler or worker may use; no module-global app, engine, session or client."""

    settings: Settings
    db: Database
    cloud: CloudGateway
    clock: Clock = utcnow
    owner: str = field(default_factory=instance_name)
    kick: Callable[[], None] = lambda: None
    """Wake the outbox delivery after a unit of work recorded something to send."""


def cloud_gateway(settings: Settings) -> CloudGateway:
    """The real SDK adapters, pointed at SMC_BOT_CLOUD_ENDPOINT when it is set (the sandbox)."""
    from bot.cloud.aliyun import AliyunCloudGateway
    from bot.cloud.sdk import CloudConfig

    secret = settings.alibaba_cloud_access_key_secret
    config = CloudConfig(
        endpoint=str(settings.cloud_endpoint).rstrip("/") if settings.cloud_endpoint else None,
        access_key_id=settings.alibaba_cloud_access_key_id,
        access_key_secret=Secret(secret.get_secret_value()) if secret is not None else None,
    )
    return AliyunCloudGateway(config)
