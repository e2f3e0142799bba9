"""What a listener does after its ack, and how a failure is told to the user.

The app runs with Bolt's `process_before_response`: Slack gets its answer when the listener returns, so a
listener acks, hands the rest to `later` and returns. Its HTTP answer then never waits on a database write
or a Web API call, and no request thread polls for the ack (Bolt's other mode checks every 10 ms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services

log = logging.getLogger(__name__)


def user_and_channel(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Who to tell about an error; any odd shape in the payload just means nobody can be told."""

    def field(flat: str, nested: str) -> str | None:
        value = body.get(flat)
        if not value and isinstance(body.get(nested), dict):
            value = body[nested].get("id")
        if not value and nested == "channel" and isinstance(body.get("container"), dict):
            value = body["container"].get("channel_id")
        return value if isinstance(value, str) and value else None

    return field("user_id", "user"), field("channel_id", "channel")


def failure_text(ref: str, *, acked: bool) -> str:
    if not acked:
        return (
            f":warning: Something went wrong on our side (reference `{ref}`). Nothing was changed by "
            "this click or command; try again, and if it keeps happening give the reference to whoever "
            "runs the bot."
        )
    return (
        f":warning: That did not go through because of an error on our side (reference `{ref}`). Look at "
        "the request's thread before you try again; if it keeps happening, give the reference to whoever "
        "runs the bot."
    )


def failure_modal(ref: str) -> dict[str, Any]:
    """What a modal shows when its submission failed before the ack (a submission names no channel)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "smc-bot"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": failure_text(ref, acked=False)}}],
    }


def tell_failure(client: WebClient, body: dict[str, Any], ref: str, *, acked: bool) -> None:
    """An ephemeral to whoever clicked or typed, in the channel they did it in (if the body names both)."""
    _tell(client, *user_and_channel(body), ref, acked=acked)


def _tell(client: WebClient, user: str | None, channel: str | None, ref: str, *, acked: bool) -> None:
    if not (user and channel):
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=failure_text(ref, acked=acked))
    except SlackApiError:
        log.warning("could not tell the user about error ref=%s", ref)


def later(
    services: Services,
    client: WebClient,
    body: dict[str, Any],
    work: Callable[[], object],
    *,
    name: str,
    urgent: bool = False,
) -> None:
    """Run `work` after the ack: `urgent` on its own thread at once (a trigger_id lives 3 s, a modal waits
    for its update), else in the queued lane. If it raises, the user is told with the log's reference."""
    lane = services.background.run if urgent else services.background.queue
    user, channel = user_and_channel(body)  # not the payload: queued work keeps only what it needs
    lane(work, name=name, failed=lambda ref: _tell(client, user, channel, ref, acked=True))
