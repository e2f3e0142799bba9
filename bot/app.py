"""create_app(services, client) -> App: middleware injects the services; one error handler for the rest."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context import BoltContext
from slack_sdk import WebClient

import handlers
from bot.services import Services
from handlers.after_ack import failure_modal, failure_text, tell_failure

log = logging.getLogger(__name__)


def create_app(
    services: Services,
    *,
    client: WebClient,
    signing_secret: str | None,
) -> App:
    """The Bolt app; `signing_secret=None` only for Socket Mode, where Slack does not sign payloads.

    Slack gets its answer when a listener returns (`process_before_response`); every listener acks and
    hands what follows to `handlers.after_ack.later`, so an answer never waits on after-ack work and no
    thread polls for the ack, as Bolt's other mode does every 10 ms (bench/ack_latency.py)."""
    app = App(
        client=client,
        signing_secret=signing_secret or "socket-mode-payloads-are-not-signed",
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,
        process_before_response=True,
        ignoring_self_events_enabled=True,
    )

    @app.middleware
    def inject_services(context: BoltContext, next: Any) -> None:
        context["services"] = services
        with services.background.in_flight.serving():
            next()

    @app.error
    def on_error(
        error: Exception,
        body: dict[str, Any],
        context: BoltContext,
        client: WebClient,
        response: BoltResponse | None,
    ) -> Any:
        ref = secrets.token_hex(4)
        log.error(
            "unhandled error ref=%s type=%s", ref, body.get("type") or body.get("command"), exc_info=error
        )
        given = context.ack.response
        tell_failure(client, body, ref, acked=given is not None)
        if response is None:
            return None
        if given is not None:
            return given  # Slack still gets what the listener acked before it failed
        # Not acknowledged: answer 200 so Slack shows no generic failure on top of ours.
        if body.get("type") == "view_submission":
            return BoltResponse(
                status=200,
                body=json.dumps({"response_action": "update", "view": failure_modal(ref)}),
                headers={"content-type": "application/json"},
            )
        if "command" in body:
            return BoltResponse(
                status=200,
                body=json.dumps({"response_type": "ephemeral", "text": failure_text(ref, acked=False)}),
                headers={"content-type": "application/json"},
            )
        return BoltResponse(status=200, body="")

    handlers.register(app)
    return app
