"""`/smc config`: admins open the modal; the submission is validated and saved, or answered with errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt import Ack, App

from bot.domain.channel_config import ConfigChange, InvalidConfig
from bot.domain.errors import NotAllowed
from bot.services import Services
from handlers.commands import Invocation
from handlers.ids import BlockId, CallbackId
from handlers.render import config as render
from handlers.render.config import SELF_APPROVAL_ALLOWED

Json = Mapping[str, Any]


def _dict(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _entry(view: Json, block: BlockId) -> Json:
    values = _dict(_dict(view.get("state")).get("values"))
    return _dict(_dict(values.get(block.value)).get(block.value))


def _text(view: Json, block: BlockId) -> str:
    value = _entry(view, block).get("value")
    return value if isinstance(value, str) else ""


def _options(view: Json, block: BlockId) -> tuple[str, ...]:
    chosen = _entry(view, block).get("selected_options")
    picked = [_dict(o).get("value") for o in chosen] if isinstance(chosen, list) else []
    return tuple(v for v in picked if isinstance(v, str))


def _option(view: Json, block: BlockId) -> str:
    value = _dict(_entry(view, block).get("selected_option")).get("value")
    return value if isinstance(value, str) else ""


def _users(view: Json, block: BlockId) -> tuple[str, ...]:
    chosen = _entry(view, block).get("selected_users")
    return tuple(u for u in chosen if isinstance(u, str)) if isinstance(chosen, list) else ()


def change_from(view: Json) -> ConfigChange:
    """The modal's state as a ConfigChange (untrusted shapes become empty values; the service validates)."""
    return ConfigChange(
        approver_usergroups=_options(view, BlockId.CFG_APPROVER_GROUPS),
        approver_users=_users(view, BlockId.CFG_APPROVER_USERS),
        admin_users=_users(view, BlockId.CFG_ADMIN_USERS),
        quorum=_text(view, BlockId.CFG_QUORUM),
        self_approval=SELF_APPROVAL_ALLOWED in _options(view, BlockId.CFG_SELF_APPROVAL),
        expiry_hours=_text(view, BlockId.CFG_EXPIRY_HOURS),
        approval_methods=_options(view, BlockId.CFG_APPROVAL_METHODS),
        default_region=_text(view, BlockId.CFG_DEFAULT_REGION),
        default_source_account=_text(view, BlockId.CFG_DEFAULT_SOURCE_ACCOUNT),
        default_role_name=_text(view, BlockId.CFG_DEFAULT_ROLE),
        default_network=_option(view, BlockId.CFG_DEFAULT_NETWORK),
        poll_seconds=_text(view, BlockId.CFG_POLL_SECONDS),
    )


def _input_blocks(view: Json) -> Sequence[str]:
    blocks = view.get("blocks")
    found = (
        [_dict(b).get("block_id") for b in blocks if _dict(b).get("type") == "input"]
        if isinstance(blocks, list)
        else []
    )
    return [b for b in found if isinstance(b, str)]


def handle_config(call: Invocation) -> None:
    """Admins only: the check reads Slack (cached), then the modal opens before the trigger_id dies."""
    call.ack()

    def open_modal() -> None:
        try:
            form = call.services.channel_config.open_form(
                channel_id=call.channel_id, team_id=call.team_id, user_id=call.user_id
            )
        except NotAllowed as exc:
            call.client.chat_postEphemeral(
                channel=call.channel_id, user=call.user_id, text=f":no_entry_sign: {exc.reason}"
            )
            return
        call.client.views_open(
            trigger_id=str(call.command.get("trigger_id") or ""),
            view=render.config_modal(form, call.channel_id),
        )

    call.later(open_modal, name="config-open", urgent=True)


def on_config_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services) -> None:
    """Validate in the modal (response_action errors), else save and show what is in force now."""
    user = _dict(body.get("user"))
    actor = str(user.get("id") or "")
    team = str(_dict(body.get("team")).get("id") or user.get("team_id") or "")
    channel = str(view.get("private_metadata") or "")
    try:
        saved = services.channel_config.update(
            channel_id=channel, team_id=team, actor=actor, change=change_from(view)
        )
    except InvalidConfig as exc:
        ack(response_action="errors", errors=render.field_errors(exc.errors, _input_blocks(view)))
        return
    except NotAllowed as exc:
        ack(response_action="errors", errors={BlockId.CFG_APPROVER_USERS.value: exc.reason})
        return
    ack(response_action="update", view=render.saved_view(saved))


def register(app: App) -> None:
    app.view(CallbackId.CHANNEL_CONFIG.value)(on_config_submitted)
