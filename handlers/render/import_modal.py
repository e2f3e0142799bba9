"""The Import source servers modal (PRODUCT §3.1, seed Step 2), its progress views and its options answers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.basic_components import DispatchActionConfig
from slack_sdk.models.views import View

from bot.cloud.ports import MAX_INSTANCES_PER_RUN_COMMAND, Instance, Region
from bot.domain.imports import (
    DEFAULT_ROLE_NAME,
    NOT_CHOSEN_PREFIX,
    ImportBatchView,
    ImportDraft,
    ImportField,
)
from bot.domain.source_catalog import Access, AccessCheck, Lookup, LookupState
from handlers.ids import ActionId, BlockId, CallbackId

TITLE = "Import source servers"
MAX_OPTION_TEXT = 75
SOURCE_TYPE_ECS = "ecs_instance"
SCOPE_CROSS = "cross"
SCOPE_SAME = "same"
LOADING_VALUE = f"{NOT_CHOSEN_PREFIX}loading"
UNAVAILABLE_VALUE = f"{NOT_CHOSEN_PREFIX}unavailable"
NO_REGION_VALUE = f"{NOT_CHOSEN_PREFIX}choose-region"

FIELD_BLOCKS: Mapping[ImportField, BlockId] = {
    ImportField.ACCOUNT: BlockId.IMPORT_ACCOUNT,
    ImportField.ROLE: BlockId.IMPORT_ROLE,
    ImportField.REGION: BlockId.IMPORT_REGION,
    ImportField.INSTANCES: BlockId.IMPORT_INSTANCES,
}


@dataclass(frozen=True)
class ImportModal:
    """What the modal shows; `picked` are (value, label) pairs kept when the form is shown again."""

    channel_id: str
    cross_account: bool = True
    account_id: str | None = None
    role_name: str | None = DEFAULT_ROLE_NAME
    region_id: str | None = None
    picked: tuple[tuple[str, str], ...] = ()
    access: AccessCheck | None = None
    problem: str | None = None


def metadata(channel_id: str) -> str:
    """`private_metadata`: the channel the command came from (where the import thread goes)."""
    return json.dumps({"channel_id": channel_id}, separators=(",", ":"))


def channel_from_metadata(text: object) -> str | None:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    channel = data.get("channel_id") if isinstance(data, dict) else None
    return channel if isinstance(channel, str) and channel else None


def error_blocks(errors: Mapping[ImportField, str], *, cross_account: bool) -> dict[str, str]:
    """`response_action: errors` keyed by the blocks that exist (account and role only cross-account)."""
    shown = {f: b for f, b in FIELD_BLOCKS.items() if cross_account or f not in _CROSS_ONLY}
    return {shown[f].value: message for f, message in errors.items() if f in shown}


_CROSS_ONLY = frozenset({ImportField.ACCOUNT, ImportField.ROLE})


def _text_option(value: str, text: str) -> Option:
    return Option(value=value, text=PlainTextObject(text=_clip(text), emoji=True))


def _clip(text: str, limit: int = MAX_OPTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _access_note(access: AccessCheck) -> ContextBlock:
    if access.access is Access.OK:
        text = ":white_check_mark: The bot can assume this role."
    elif access.access is Access.REFUSED:
        text = f":warning: {access.message}"
    else:
        text = f":hourglass_flowing_sand: {access.message or 'Access not checked yet.'}"
    return ContextBlock(block_id=BlockId.IMPORT_ACCESS, elements=[MarkdownTextObject(text=text[:2900])])


def import_modal(modal: ImportModal) -> View:
    """The form; account and role appear only for a cross-account import."""
    scope_options = [
        _text_option(SCOPE_CROSS, "Cross-account: servers in another Alibaba Cloud account"),
        _text_option(SCOPE_SAME, "Same account: servers in the bot's own account"),
    ]
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text="Import ECS instances into SMC as migration sources. The bot installs the SMC client "
                "on each one through Cloud Assistant (3 to 10 minutes) and reports in a thread in "
                f"<#{modal.channel_id}>."
            )
        )
    ]
    if modal.problem:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f":warning: {modal.problem}"[:2900])))
    ecs = _text_option(SOURCE_TYPE_ECS, "ECS instance")
    blocks += [
        InputBlock(
            block_id=BlockId.IMPORT_SOURCE_TYPE,
            label="Migration source type",
            element=StaticSelectElement(
                action_id=ActionId.IMPORT_SOURCE_TYPE, options=[ecs], initial_option=ecs
            ),
        ),
        InputBlock(
            block_id=BlockId.IMPORT_SCOPE,
            label="Import from",
            dispatch_action=True,
            element=RadioButtonsElement(
                action_id=ActionId.IMPORT_SCOPE,
                options=scope_options,
                initial_option=scope_options[0 if modal.cross_account else 1],
            ),
        ),
    ]
    if modal.cross_account:
        blocks += [
            InputBlock(
                block_id=BlockId.IMPORT_ACCOUNT,
                label="Source account ID",
                dispatch_action=True,
                hint="16 digits, shown under the profile icon of the source account's console. "
                "Press Enter to check access.",
                element=PlainTextInputElement(
                    action_id=ActionId.IMPORT_ACCOUNT,
                    initial_value=modal.account_id or None,
                    placeholder="e.g. 5123456789012345",
                    max_length=32,
                    dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_enter_pressed"]),
                ),
            ),
            InputBlock(
                block_id=BlockId.IMPORT_ROLE,
                label="Source account RAM role",
                dispatch_action=True,
                hint="The role from Step 1: it trusts the bot's account and has policy-smc attached. "
                "Press Enter to check access.",
                element=PlainTextInputElement(
                    action_id=ActionId.IMPORT_ROLE,
                    initial_value=modal.role_name or None,
                    placeholder=DEFAULT_ROLE_NAME,
                    max_length=64,
                    dispatch_action_config=DispatchActionConfig(trigger_actions_on=["on_enter_pressed"]),
                ),
            ),
        ]
        if modal.access is not None:
            blocks.append(_access_note(modal.access))
    region = (
        _text_option(modal.region_id, modal.region_id)
        if modal.region_id and not modal.region_id.startswith(NOT_CHOSEN_PREFIX)
        else None
    )
    picked = [_text_option(value, label) for value, label in modal.picked[:MAX_INSTANCES_PER_RUN_COMMAND]]
    blocks += [
        InputBlock(
            block_id=BlockId.IMPORT_REGION,
            label="Region",
            element=ExternalDataSelectElement(
                action_id=ActionId.IMPORT_REGION,
                placeholder="Region of the source instances",
                min_query_length=0,
                initial_option=region,
            ),
        ),
        InputBlock(
            block_id=BlockId.IMPORT_INSTANCES,
            label="Instances",
            hint="Search by instance ID, name or private IP; pick up to 100 for one batch.",
            element=ExternalDataMultiSelectElement(
                action_id=ActionId.IMPORT_INSTANCES,
                placeholder="Search by ID, name or IP",
                min_query_length=0,
                max_selected_items=MAX_INSTANCES_PER_RUN_COMMAND,
                initial_options=picked or None,
            ),
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Each instance needs a running Cloud Assistant agent; the import reports any "
                    "instance without one, with the fix. Activation codes never appear in Slack."
                )
            ]
        ),
    ]
    return View(
        type="modal",
        callback_id=CallbackId.IMPORT,
        title=TITLE,
        submit="Import",
        close="Cancel",
        private_metadata=metadata(modal.channel_id),
        blocks=blocks,
    )


def modal_from_draft(
    draft: ImportDraft, picked: Sequence[tuple[str, str]], *, problem: str | None = None
) -> ImportModal:
    """The form again, filled with what was submitted (after a check that failed after the ack)."""
    return ImportModal(
        channel_id=draft.channel_id,
        cross_account=draft.cross_account,
        account_id=draft.account_id,
        role_name=draft.role_name,
        region_id=draft.region_id,
        picked=tuple(picked),
        problem=problem,
    )


def checking_view(draft: ImportDraft) -> View:
    """Shown between the ack of a submission and the end of the role check (no submit button)."""
    where = (
        f"account `{draft.source.account_id}` through the role `{draft.source.role_name}`"
        if draft.cross_account
        else "the bot's own account"
    )
    return View(
        type="modal",
        callback_id=CallbackId.IMPORT,
        title=TITLE,
        close="Close",
        private_metadata=metadata(draft.channel_id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":hourglass_flowing_sand: Checking access to {where} and looking up "
                    f"{len(draft.instance_ids)} instance(s)…"
                )
            )
        ],
    )


def started_view(batch: ImportBatchView) -> View:
    source = f"account `{batch.account_id}`" if batch.cross_account else "the bot's own account"
    count = len(batch.items)
    return View(
        type="modal",
        callback_id=CallbackId.IMPORT,
        title=TITLE,
        close="Done",
        private_metadata=metadata(batch.channel_id),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":white_check_mark: Import `{batch.id}` started: {count} instance"
                    f"{'' if count == 1 else 's'} from {source} in `{batch.region_id}`. "
                    f"Follow it in its thread in <#{batch.channel_id}>."
                )
            ),
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"`/smc status {batch.id}` shows it again and links the thread.")
                ]
            ),
        ],
    )


# ---- options answers -----------------------------------------------------------------------------


def _placeholder(lookup: Lookup[Any]) -> dict[str, Any]:
    value = LOADING_VALUE if lookup.state is LookupState.LOADING else UNAVAILABLE_VALUE
    icon = ":hourglass_flowing_sand:" if lookup.state is LookupState.LOADING else ":warning:"
    return {"options": [_text_option(value, f"{icon} {lookup.message}").to_dict()]}


def region_options(lookup: Lookup[Region]) -> dict[str, Any]:
    """The `ack(**…)` of a region options request."""
    if lookup.state is not LookupState.READY:
        return _placeholder(lookup)
    return {"options": [_text_option(r.id, f"{r.name} · {r.id}").to_dict() for r in lookup.items]}


def instance_label(instance: Instance) -> str:
    """`name · id · ip`, the name shortened so the whole stays within Slack's 75 characters."""
    tail = f" · {instance.id}" + (f" · {instance.private_ip}" if instance.private_ip else "")
    room = MAX_OPTION_TEXT - len(tail)
    name = instance.name or "(no name)"
    if len(name) > room:
        name = name[: max(room - 1, 1)] + "…"
    return _clip(name + tail)


LOST_CHANNEL = "This form lost track of its channel: close it and run /smc import again."


def enter_account_first() -> dict[str, Any]:
    text = "Enter a valid source account ID and role first"
    return {"options": [_text_option(UNAVAILABLE_VALUE, text).to_dict()]}


def choose_region_first() -> dict[str, Any]:
    return {"options": [_text_option(NO_REGION_VALUE, "Choose the region first").to_dict()]}


def instance_options(lookup: Lookup[Instance]) -> dict[str, Any]:
    """The `ack(**…)` of an instances options request; a group label says when to type to narrow."""
    if lookup.state is not LookupState.READY:
        return _placeholder(lookup)
    options = [_text_option(i.id, instance_label(i)) for i in lookup.items]
    if not options:
        empty = _text_option(UNAVAILABLE_VALUE, "No instance matches: try part of a name, ID or IP")
        return {"options": [empty.to_dict()]}
    if lookup.total <= len(options) and lookup.complete:
        return {"options": [o.to_dict() for o in options]}
    label = (
        f"First {len(options)} of {lookup.total}: type an ID, name or IP"
        if lookup.complete
        else f"First {len(options)}: type an ID, name or IP to find others"
    )
    return {"option_groups": [OptionGroup(label=_clip(label), options=options).to_dict()]}
