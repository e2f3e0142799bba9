"""create_app(services, client) -> App: middleware injects the services; one error handler for the rest."""

from __future__ import annotations

import json
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import handlers
from bot.services import Services

log = logging.getLogger(__name__)

LISTENER_THREADS = 64
"""Bolt answers an HTTP request once its listener called ack(), while the listener goes on in this pool
(votes, the command audit, lookups). Bolt's default of 5 threads let that after-ack work hold back the
acks of the requests queued behind it (bench/ack_latency.py); the threads mostly wait on I/O."""


def _user_and_channel(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Who to tell about an error; any odd shape in the payload just means nobody can be told."""

    def field(flat: str, nested: str) -> str | None:
        value = body.get(flat)
        if not value and isinstance(body.get(nested), dict):
            value = body[nested].get("id")
        return value if isinstance(value, str) and value else None

    return field("user_id", "user"), field("channel_id", "channel")


def create_app(
    services: Services,
    *,
    client: WebClient,
    signing_secret: str | None,
    process_before_response: bool = False,
) -> App:
    """The Bolt app; `signing_secret=None` only for Socket Mode, where Slack does not sign payloads."""
    app = App(
        client=client,
        signing_secret=signing_secret or "socket-mode-payloads-are-not-signed",
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,
        process_before_response=process_before_response,
        ignoring_self_events_enabled=True,
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="bolt-listener"),
    )

    @app.middleware
    def inject_services(context: BoltContext, next: Any) -> None:
        context["services"] = services
        next()

    @app.error
    def on_error(
        error: Exception, body: dict[str, Any], client: WebClient, response: BoltResponse | None
    ) -> Any:
        ref = secrets.token_hex(4)
        log.error(
            "unhandled error ref=%s type=%s", ref, body.get("type") or body.get("command"), exc_info=error
        )
        user, channel = _user_and_channel(body)
        text = (
            f":warning: Something went wrong on our side (reference `{ref}`). Nothing was changed by "
            "this click or command; try again, and if it keeps happening give the reference to whoever "
            "runs the bot."
        )
        if user and channel:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            except SlackApiError:
                log.warning("could not tell the user about error ref=%s", ref)
        if response is not None and response.status >= 500:
            # Not yet acknowledged: answer 200 so Slack shows no generic failure on top of ours.
            if "command" in body:
                return BoltResponse(
                    status=200,
                    body=json.dumps({"response_type": "ephemeral", "text": text}),
                    headers={"content-type": "application/json"},
                )
            return BoltResponse(status=200, body="")
        return None

    handlers.register(app)
    return app
