"""`/smc list [mine|active|all]` and `/smc status <id>`: ephemeral answers from read models."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import NotFound
from bot.domain.imports import ImportBatchView
from bot.domain.listing import InvalidArgument, parse_scope
from handlers.commands import Answer, Invocation
from handlers.render import listing as render

log = logging.getLogger(__name__)


def handle_list(call: Invocation) -> None:
    """A wrong scope is answered in the ack; the list follows through response_url (a database read)."""
    try:
        scope = parse_scope(call.rest)
    except InvalidArgument as err:
        call.ack(response_type="ephemeral", text=err.message)
        return

    def answer() -> Answer:
        found = call.services.listing.listing(channel_id=call.channel_id, user_id=call.user_id, scope=scope)
        return render.request_list(found, call.services.clock())

    call.answer_after_ack("list", answer)


def handle_status(call: Invocation) -> None:
    """The thread's permalink is a Web API call, so the answer follows through response_url."""

    def answer() -> Answer:
        try:
            found = call.services.listing.status(team_id=call.team_id, text=call.rest)
        except (NotFound, InvalidArgument) as err:
            return render.not_found(err.message)
        if isinstance(found, ImportBatchView):
            return render.import_status(found, permalink(call.client, found.channel_id, found.message_ts))
        link = permalink(call.client, found.channel_id, found.thread_ts)
        return render.request_status(found, link, call.services.clock())

    call.answer_after_ack("status", answer)


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
