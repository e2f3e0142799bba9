"""`/smc list [mine|active|all]` and `/smc status <id>`: ephemeral answers from read models."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import NotFound
from bot.domain.imports import ImportBatchView
from bot.domain.listing import InvalidArgument, parse_scope
from handlers.commands import Invocation
from handlers.render import listing as render

log = logging.getLogger(__name__)


def handle_list(call: Invocation) -> None:
    """Answered in the ack: a database read, no cloud call."""
    try:
        scope = parse_scope(call.rest)
    except InvalidArgument as err:
        call.ack(response_type="ephemeral", text=err.message)
        return
    found = call.services.listing.listing(channel_id=call.channel_id, user_id=call.user_id, scope=scope)
    text, blocks = render.request_list(found, call.services.clock())
    call.ack(response_type="ephemeral", text=text, blocks=blocks)


def handle_status(call: Invocation) -> None:
    """Ack at once; the thread's permalink is a Web API call, so the answer follows via response_url."""
    call.ack()

    def answer() -> None:
        try:
            found = call.services.listing.status(team_id=call.team_id, text=call.rest)
        except (NotFound, InvalidArgument) as err:
            text, blocks = render.not_found(err.message)
            _respond(call, text, blocks)
            return
        if isinstance(found, ImportBatchView):
            link = permalink(call.client, found.channel_id, found.message_ts)
            text, blocks = render.import_status(found, link)
        else:
            link = permalink(call.client, found.channel_id, found.thread_ts)
            text, blocks = render.request_status(found, link, call.services.clock())
        _respond(call, text, blocks)

    call.services.background.run(answer, name="status")


def _respond(call: Invocation, text: str, blocks: list[dict[str, Any]]) -> None:
    """The answer through the command's response_url; a dead URL is logged, nothing else can be done."""
    try:
        call.respond(response_type="ephemeral", text=text, blocks=blocks)
    except (OSError, ValueError) as err:
        log.warning("status answer not delivered error=%s", type(err).__name__)


def permalink(client: WebClient, channel_id: str, ts: str | None) -> str | None:
    """The thread's link (chat.getPermalink), or None while it is not posted or Slack cannot say."""
    if not ts:
        return None
    try:
        response = client.chat_getPermalink(channel=channel_id, message_ts=ts)
    except SlackApiError as err:
        log.info("no permalink channel=%s ts=%s error=%s", channel_id, ts, err.response.get("error"))
        return None
    link = response.get("permalink")
    return link if isinstance(link, str) else None
