"""Approve / Reject on the approval card, the reject-reason modal, "Show the request", `/smc approvals`.

The voter is always `body["user"]["id"]` of the signed payload; the button value only says which round
and parameter hash the click is about, and the engine checks both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.approvals import RoundRef, VoteResult
from bot.domain.errors import DomainError
from bot.domain.workflow import UserAction
from bot.services import Services
from handlers.after_ack import later
from handlers.commands import Invocation
from handlers.ids import SUMMARY_ACTION_IDS, ActionId, BlockId, CallbackId
from handlers.migrate import open_edit_wizard
from handlers.render import approval as render
from storage.enums import VoteDecision

log = logging.getLogger(__name__)

Json = Mapping[str, Any]


def _dict(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _user(body: Json) -> str | None:
    user = _dict(body.get("user")).get("id")
    return user if isinstance(user, str) and user else None


def _channel(body: Json) -> str | None:
    channel = _dict(body.get("channel")).get("id") or _dict(body.get("container")).get("channel_id")
    return channel if isinstance(channel, str) and channel else None


def _clicked(body: Json, action: Json, what: str) -> tuple[str, RoundRef] | None:
    """The voter (from the signed payload) and the round the button names; None (logged) if either lacks."""
    voter, ref = _user(body), RoundRef.decode(str(action.get("value") or ""))
    if voter is None or ref is None:
        log.warning("%s click without a voter or a round reference", what)
        return None
    return voter, ref


def _tell(client: WebClient, channel: str | None, user: str, result: VoteResult) -> None:
    """Only when the engine could not queue the reply itself (an unknown request has no channel)."""
    if result.notified or channel is None:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=f":no_entry_sign: {result.message}")
    except SlackApiError as exc:
        log.warning("could not tell a voter why nothing happened error=%s", exc.response.get("error"))


def on_approve(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The vote is recorded after the ack, in the queued lane: its card edit and replies go through the
    outbox anyway, and a burst of clicks must not slow the acks of the requests behind it."""
    ack()
    clicked = _clicked(body, action, "approve")
    if clicked is None:
        return
    voter, ref = clicked
    # Only what the vote needs waits in the queue, not the payload: under a burst of clicks, queued
    # payloads were most of what the garbage collector had to walk.
    channel, click_id = _channel(body), str(action.get("action_ts") or "") or None

    def work() -> None:
        result = services.approvals.vote(
            *ref.parts,
            voter=voter,
            decision=VoteDecision.APPROVE,
            click_id=click_id,
        )
        _tell(client, channel, voter, result)

    later(services, client, body, work, name="vote")


def on_reject(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """A refusal is answered at once; an eligible approver gets the reason modal (trigger_id lives 3 s)."""
    ack()
    clicked = _clicked(body, action, "reject")
    if clicked is None:
        return
    voter, ref = clicked

    def work() -> None:
        check = services.approvals.check_voter(
            *ref.parts,
            voter=voter,
            click_id=str(action.get("action_ts") or ""),
        )
        if not check.accepted:
            _tell(client, _channel(body), voter, check)
            return
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=render.reject_modal(ref))

    later(services, client, body, work, name="reject", urgent=True)


def on_reject_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    ack()
    voter, ref = _user(body), RoundRef.decode(str(view.get("private_metadata") or ""))
    if voter is None or ref is None:
        log.warning("reject submission without a voter or a round reference")
        return
    values = _dict(_dict(view.get("state")).get("values"))
    entry = _dict(_dict(values.get(BlockId.REJECT_REASON.value)).get(BlockId.REJECT_REASON.value))
    reason, click_id = entry.get("value"), str(view.get("id") or "") or None  # not the view: it is queued

    def work() -> None:
        services.approvals.vote(
            *ref.parts,
            voter=voter,
            decision=VoteDecision.REJECT,
            reason=reason if isinstance(reason, str) else None,
            click_id=click_id,
        )

    later(services, client, body, work, name="reject-vote")


def on_show_request(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The card keeps the exact API request collapsed; this opens it."""
    ack()
    ref = RoundRef.decode(str(action.get("value") or ""))
    if ref is None:
        return

    def work() -> None:
        card = services.approvals.card(ref.request_id, ref.round)
        if card is not None:
            client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=render.request_modal(card))

    later(services, client, body, work, name="show-request", urgent=True)


def on_edit(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The summary's Edit: the migration wizard pre-filled; its submission opens the next approval round."""
    ack()
    user, request_id = _user(body), str(action.get("value") or "")
    if user is None or not request_id:
        return

    def work() -> None:
        try:
            request = services.approvals.edit_target(request_id, editor=user)
        except DomainError as exc:
            channel = _channel(body)
            if channel is not None:
                client.chat_postEphemeral(channel=channel, user=user, text=f":no_entry_sign: {exc.message}")
            return
        open_edit_wizard(services, client, str(body.get("trigger_id") or ""), user_id=user, request=request)

    later(services, client, body, work, name="edit", urgent=True)


def handle_approvals(call: Invocation) -> None:
    """`/smc approvals`: what waits for my decision, only I see it."""
    call.answer_after_ack(
        "approvals", lambda: render.waiting_message(call.services.approvals.waiting_for(call.user_id))
    )


def register(app: App) -> None:
    app.action(ActionId.APPROVE.value)(on_approve)
    app.action(ActionId.REJECT.value)(on_reject)
    app.action(ActionId.SHOW_REQUEST.value)(on_show_request)
    app.view(CallbackId.REJECT_REASON.value)(on_reject_submitted)
    app.action(SUMMARY_ACTION_IDS[UserAction.EDIT].value)(on_edit)
