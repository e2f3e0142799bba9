"""Retry import on an import thread's messages: ack, then one call; every answer goes through the outbox.

The clicker is `body["user"]["id"]` of the signed payload; the button value only names the batch, and the
service decides whether this user may retry it (requester, approvers, admins).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.services import Services
from handlers.after_ack import later
from handlers.ids import ActionId

log = logging.getLogger(__name__)

Json = Mapping[str, Any]


def _dict(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _id(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def on_retry_import(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The Retry import button: a new run for the failed instances, or an ephemeral saying why not."""
    ack()
    user = _id(_dict(body.get("user")).get("id"))
    channel = _id(_dict(body.get("channel")).get("id")) or _id(_dict(body.get("container")).get("channel_id"))
    batch_id = _id(action.get("value"))
    if user is None or channel is None or batch_id is None:
        log.warning("retry import click without a user, a channel or a batch id")
        return
    click = _id(action.get("action_ts")) or secrets.token_hex(6)
    team = _id(_dict(body.get("team")).get("id"))
    later(
        services,
        client,
        body,
        lambda: services.import_retries.retry(
            batch_id, user_id=user, channel_id=channel, team_id=team, click_id=click
        ),
        name="import-retry",
    )


def register(app: App) -> None:
    app.action(ActionId.IMPORT_RETRY.value)(on_retry_import)
