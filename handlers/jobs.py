"""Buttons of the summary and the thread replies that act on a migration, and the Modify modal.

Every listener acks first; the service call (which describes the job, calls SMC, records the outcome)
runs after the ack (`handlers.after_ack.later`). The clicker hears back in an ephemeral message; what changed
is also said in the thread. Identity is `body["user"]["id"]` of the signed payload; the button's value is
only the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import DomainError
from bot.domain.job_actions import (
    DIRECT_ACTIONS,
    InvalidModify,
    ModifyChanges,
    ModifyField,
    Outcome,
    parse_changes,
)
from bot.domain.workflow import UserAction
from bot.services import Services
from handlers.after_ack import later
from handlers.ids import SUMMARY_ACTION_IDS, ActionId, CallbackId
from handlers.render import jobs as render

log = logging.getLogger(__name__)

Json = Mapping[str, Any]

GATED = (UserAction.MIGRATE, UserAction.MIGRATE_ANYWAY, UserAction.START, UserAction.VERIFY)


def _dict(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Click:
    """Who clicked which request's button where, read from the signed payload."""

    def __init__(self, body: Json, action: Json) -> None:
        container = _dict(body.get("container"))
        self.user = _str(_dict(body.get("user")).get("id"))
        self.channel = _str(_dict(body.get("channel")).get("id")) or _str(container.get("channel_id"))
        self.thread_ts = _str(container.get("thread_ts"))
        self.request_id = _str(action.get("value"))
        self.trigger_id = _str(body.get("trigger_id"))

    @property
    def complete(self) -> bool:
        return self.user is not None and self.channel is not None and self.request_id is not None


def tell(client: WebClient, click: Click, outcome: Outcome) -> None:
    """The clicker's answer, visible only to them (in the thread when the button was in the thread)."""
    if click.user is None or click.channel is None:
        return
    icon = ":white_check_mark:" if outcome.ok else ":no_entry_sign:"
    try:
        client.chat_postEphemeral(
            channel=click.channel,
            user=click.user,
            text=f"{icon} {outcome.message}",
            thread_ts=click.thread_ts,
        )
    except SlackApiError as exc:
        log.warning("could not answer a click error=%s", exc.response.get("error"))


def _on_click(run: Callable[[Services, str, str], Outcome], name: str) -> Callable[..., None]:
    """A listener: ack, then run the service call after the ack and tell the clicker the outcome."""

    def listener(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
    ) -> None:
        ack()
        click = Click(body, action)
        if not click.complete:
            log.warning("job button without a user, channel or request id name=%s", name)
            return
        assert click.user is not None and click.request_id is not None

        def work() -> None:
            assert click.user is not None and click.request_id is not None
            tell(client, click, run(services, click.request_id, click.user))

        later(services, client, body, work, name=f"button-{name}")

    listener.__name__ = f"on_{name}"
    return listener


def _gated(action: UserAction) -> Callable[[Services, str, str], Outcome]:
    return lambda services, request_id, user: services.job_actions.request_approval(
        request_id, action, actor=user
    )


def _direct(action: UserAction) -> Callable[[Services, str, str], Outcome]:
    return lambda services, request_id, user: services.job_actions.perform(request_id, action, actor=user)


def on_modify(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The trigger_id lives 3 s: open a loading modal now, fill it in once the job was read from SMC."""
    ack()
    click = Click(body, action)
    if not click.complete or click.trigger_id is None:
        log.warning("modify click without a user, channel, request id or trigger id")
        return
    assert click.request_id is not None and click.channel is not None and click.user is not None
    metadata = render.modify_metadata(click.request_id, click.channel)
    request_id, user, trigger_id = click.request_id, click.user, click.trigger_id

    def fill() -> None:
        opened = client.views_open(trigger_id=trigger_id, view=render.modify_loading_view(metadata))
        view = _dict(opened.get("view"))
        view_id, view_hash = _str(view.get("id")), _str(view.get("hash"))
        try:
            form = services.job_actions.modify_form(request_id, actor=user)
            built = render.modify_view(form, metadata)
        except DomainError as err:
            built = render.modify_message_view(metadata, f":no_entry_sign: {err.message}")
        try:
            client.views_update(view_id=view_id, hash=view_hash, view=built)
        except SlackApiError as exc:
            log.warning("could not fill the modify modal error=%s", exc.response.get("error"))

    later(services, client, body, fill, name="modify-form", urgent=True)


def modify_changes(view: Json) -> ModifyChanges:
    """The modal's inputs as typed; a field that was not shown is left out (None)."""
    values = _dict(_dict(view.get("state")).get("values"))
    found: dict[ModifyField, str | bool | None] = {}
    for name, block_id in render.MODIFY_BLOCKS.items():
        if block_id.value not in values:
            continue
        entry = _dict(_dict(values[block_id.value]).get(ActionId.MODIFY_FIELD.value))
        if name is ModifyField.CHECKSUM:
            selected = entry.get("selected_options") or []
            found[name] = any(_dict(o).get("value") == render.CHECKSUM_ON for o in selected)
        else:
            value = entry.get("value")
            found[name] = value if isinstance(value, str) else ""
    return ModifyChanges(found)


def on_modify_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Ranges are checked here (no cloud); SMC's state rules after the ack, answered in an ephemeral."""
    meta = render.parse_modify_metadata(str(view.get("private_metadata") or ""))
    user = _str(_dict(body.get("user")).get("id"))
    changes = modify_changes(view)
    if not changes.values:
        ack()
        return
    try:
        parse_changes(changes)
    except InvalidModify as err:
        ack(
            response_action="errors",
            errors={render.MODIFY_BLOCKS[name].value: message for name, message in err.errors.items()},
        )
        return
    ack()
    if meta is None or user is None:
        log.warning("modify submission without a request reference or a user")
        return
    request_id, channel_id = meta

    def work() -> None:
        outcome = services.job_actions.modify(request_id, changes, actor=user)
        click = Click({"user": {"id": user}, "channel": {"id": channel_id}}, {"value": request_id})
        tell(client, click, outcome)

    later(services, client, body, work, name="modify-submit")


def register(app: App) -> None:
    """One listener per button id (exact ids: Bolt treats strings as exact matches)."""
    for action in GATED:
        app.action(SUMMARY_ACTION_IDS[action].value)(_on_click(_gated(action), action.value))
    for action in sorted(DIRECT_ACTIONS):
        app.action(SUMMARY_ACTION_IDS[action].value)(_on_click(_direct(action), action.value))
    app.action(SUMMARY_ACTION_IDS[UserAction.RETRY_EXECUTION].value)(
        _on_click(
            lambda services, request_id, user: services.job_actions.retry_execution(request_id, actor=user),
            UserAction.RETRY_EXECUTION.value,
        )
    )
    app.action(SUMMARY_ACTION_IDS[UserAction.WITHDRAW].value)(
        _on_click(
            lambda services, request_id, user: services.job_actions.withdraw(request_id, actor=user),
            UserAction.WITHDRAW.value,
        )
    )
    app.action(SUMMARY_ACTION_IDS[UserAction.MODIFY].value)(on_modify)
    app.view(CallbackId.MODIFY_JOB.value)(on_modify_submitted)
