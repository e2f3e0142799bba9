"""`/smc config`: the admin modal, the saved view, and the channel notice of a change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.approval import MANDATORY_DESCRIPTION, OPTIONAL_METHODS
from bot.domain.channel_config import ConfigField, ConfigForm, ConfigSaved, DefaultNetwork
from bot.domain.directory import UserGroupInfo
from bot.domain.notifications import Event
from bot.domain.params import EXECUTION_METHOD_LABELS
from bot.services import Services
from handlers.ids import BlockId, CallbackId
from handlers.notify import renders
from storage.enums import ExecutionMethod
from storage.models import ChannelConfig

MAX_OPTIONS = 100
SELF_APPROVAL_ALLOWED = "allowed"

CONFIG_BLOCKS: Mapping[ConfigField, BlockId] = {
    ConfigField.APPROVER_GROUPS: BlockId.CFG_APPROVER_GROUPS,
    ConfigField.APPROVER_USERS: BlockId.CFG_APPROVER_USERS,
    ConfigField.ADMIN_USERS: BlockId.CFG_ADMIN_USERS,
    ConfigField.QUORUM: BlockId.CFG_QUORUM,
    ConfigField.SELF_APPROVAL: BlockId.CFG_SELF_APPROVAL,
    ConfigField.EXPIRY_HOURS: BlockId.CFG_EXPIRY_HOURS,
    ConfigField.APPROVAL_METHODS: BlockId.CFG_APPROVAL_METHODS,
    ConfigField.DEFAULT_REGION: BlockId.CFG_DEFAULT_REGION,
    ConfigField.DEFAULT_SOURCE_ACCOUNT: BlockId.CFG_DEFAULT_SOURCE_ACCOUNT,
    ConfigField.DEFAULT_ROLE: BlockId.CFG_DEFAULT_ROLE,
    ConfigField.DEFAULT_NETWORK: BlockId.CFG_DEFAULT_NETWORK,
    ConfigField.POLL_SECONDS: BlockId.CFG_POLL_SECONDS,
}
"""Each config field's input block; the element's action id is the block id too."""

NETWORK_LABELS: Mapping[DefaultNetwork, str] = {DefaultNetwork.PUBLIC: "Public", DefaultNetwork.VPC: "VPC"}


def _group_option(group: UserGroupInfo) -> Option:
    label = f"@{group.handle}" if group.handle else group.name
    if group.handle and group.name and group.name != group.handle:
        label += f" — {group.name}"
    return Option(value=group.id, text=PlainTextObject(text=label[:75]))


def _method_option(method: ExecutionMethod) -> Option:
    return Option(value=method.value, text=PlainTextObject(text=EXECUTION_METHOD_LABELS[method]))


def _self_option() -> Option:
    return Option(value=SELF_APPROVAL_ALLOWED, text=PlainTextObject(text="Requesters may approve their own"))


def _text_input(field: ConfigField, label: str, value: str | None, hint: str, placeholder: str) -> InputBlock:
    block = CONFIG_BLOCKS[field].value
    return InputBlock(
        block_id=block,
        label=PlainTextObject(text=label),
        optional=True,
        hint=PlainTextObject(text=hint),
        element=PlainTextInputElement(
            action_id=block,
            initial_value=value or None,
            placeholder=PlainTextObject(text=placeholder),
        ),
    )


def _number_input(
    field: ConfigField, label: str, value: int | None, hint: str, *, optional: bool
) -> InputBlock:
    block = CONFIG_BLOCKS[field].value
    return InputBlock(
        block_id=block,
        label=PlainTextObject(text=label),
        optional=optional,
        hint=PlainTextObject(text=hint),
        element=NumberInputElement(
            action_id=block,
            is_decimal_allowed=False,
            initial_value=str(value) if value is not None else None,
        ),
    )


def config_modal(form: ConfigForm, channel_id: str) -> View:
    """Pure: the admin modal with the channel's current values filled in."""
    config = form.config
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Approval policy and defaults for <#{channel_id}>.\n*Always need approval* (cannot be "
                f"switched off): {MANDATORY_DESCRIPTION}."
            )
        )
    ]
    groups = list(form.usergroups)[:MAX_OPTIONS]
    chosen = set(config.approver_usergroups)
    if groups:
        options = [_group_option(g) for g in groups]
        initial = [o for o, g in zip(options, groups, strict=True) if g.id in chosen]
        blocks.append(
            InputBlock(
                block_id=BlockId.CFG_APPROVER_GROUPS.value,
                label=PlainTextObject(text="Approver user groups"),
                optional=True,
                hint=PlainTextObject(text="Members are checked live when they click (cached for a minute)."),
                element=StaticMultiSelectElement(
                    action_id=BlockId.CFG_APPROVER_GROUPS.value,
                    options=options,
                    initial_options=initial or None,
                    placeholder=PlainTextObject(text="Choose user groups"),
                ),
            )
        )
    else:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text="This workspace has no user groups: list the approvers as users.")
                ]
            )
        )
    blocks.append(
        _people_input(
            BlockId.CFG_APPROVER_USERS,
            "Approver users",
            "In addition to the groups' members.",
            config.approver_users,
            "Choose people",
        )
    )
    blocks.append(
        _number_input(
            ConfigField.QUORUM,
            "Quorum (approvals needed)",
            config.quorum,
            "Distinct approvers; at most the number of people who can approve.",
            optional=False,
        )
    )
    self_option = _self_option()
    blocks.append(
        InputBlock(
            block_id=BlockId.CFG_SELF_APPROVAL.value,
            label=PlainTextObject(text="Self-approval"),
            optional=True,
            element=CheckboxesElement(
                action_id=BlockId.CFG_SELF_APPROVAL.value,
                options=[self_option],
                initial_options=[self_option] if config.self_approval else None,
            ),
        )
    )
    blocks.append(
        _number_input(
            ConfigField.EXPIRY_HOURS,
            "Approvals expire after (hours)",
            config.expiry_hours,
            "1 to 168. Never later than a scheduled start; approvers are reminded at 80 %.",
            optional=False,
        )
    )
    method_options = [_method_option(m) for m in OPTIONAL_METHODS]
    gated = set(config.approval_methods)
    blocks.append(
        InputBlock(
            block_id=BlockId.CFG_APPROVAL_METHODS.value,
            label=PlainTextObject(text="Also ask approvers before"),
            optional=True,
            hint=PlainTextObject(text="Image targets only: every instance-target job always needs approval."),
            element=CheckboxesElement(
                action_id=BlockId.CFG_APPROVAL_METHODS.value,
                options=method_options,
                initial_options=[o for o in method_options if o.value in gated] or None,
            ),
        )
    )
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*Defaults for new requests in this channel*")))
    blocks.append(
        _text_input(
            ConfigField.DEFAULT_REGION, "Region", config.default_region, "A region id.", "cn-hangzhou"
        )
    )
    blocks.append(
        _text_input(
            ConfigField.DEFAULT_SOURCE_ACCOUNT,
            "Source account ID",
            config.default_source_account,
            "The account the servers are imported from (cross-account).",
            "1234567890123456",
        )
    )
    blocks.append(
        _text_input(
            ConfigField.DEFAULT_ROLE,
            "Source account RAM role",
            config.default_role_name,
            "The role the bot assumes in the source account.",
            "ram-role-smc",
        )
    )
    network_options = [
        Option(value=n.value, text=PlainTextObject(text=NETWORK_LABELS[n])) for n in DefaultNetwork
    ]
    current_network = next((o for o in network_options if o.value == config.default_network), None)
    blocks.append(
        InputBlock(
            block_id=BlockId.CFG_DEFAULT_NETWORK.value,
            label=PlainTextObject(text="Network type"),
            optional=True,
            element=StaticSelectElement(
                action_id=BlockId.CFG_DEFAULT_NETWORK.value,
                options=network_options,
                initial_option=current_network,
                placeholder=PlainTextObject(text="Public"),
            ),
        )
    )
    blocks.append(
        _number_input(
            ConfigField.POLL_SECONDS,
            "Poll interval (seconds)",
            config.poll_seconds,
            "5 to 3600; empty uses the bot's SMC_BOT_POLL_SECONDS.",
            optional=True,
        )
    )
    blocks.append(
        _people_input(
            BlockId.CFG_ADMIN_USERS,
            "Who may change these settings",
            "Empty: workspace admins and owners. Include yourself.",
            config.admin_users,
            "Choose admins",
        )
    )
    return View(
        type="modal",
        callback_id=CallbackId.CHANNEL_CONFIG.value,
        private_metadata=channel_id,
        title=PlainTextObject(text="Channel settings"),
        submit=PlainTextObject(text="Save"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )


def policy_lines(config: ChannelConfig) -> list[str]:
    """The saved policy in words (saved view and channel notice)."""
    approvers = ", ".join(
        [f"<!subteam^{g}>" for g in config.approver_usergroups] + [f"<@{u}>" for u in config.approver_users]
    )
    methods = [EXECUTION_METHOD_LABELS[ExecutionMethod(m)] for m in config.approval_methods]
    lines = [
        f"*Approvers:* {approvers or 'channel admins'}",
        f"*Quorum:* {config.quorum}" + ("" if config.self_approval else " (requesters do not count)"),
        f"*Self-approval:* {'allowed' if config.self_approval else 'not allowed'}",
        f"*Approvals expire after:* {config.expiry_hours} h",
        "*Also gated:* " + (", ".join(methods) if methods else "nothing beyond the mandatory rules"),
    ]
    defaults = [
        f"region `{config.default_region}`" if config.default_region else "",
        f"source account `{config.default_source_account}`" if config.default_source_account else "",
        f"role `{config.default_role_name}`" if config.default_role_name else "",
        f"network {config.default_network}" if config.default_network else "",
        f"poll every {config.poll_seconds} s" if config.poll_seconds else "",
    ]
    shown = [d for d in defaults if d]
    if shown:
        lines.append("*Defaults:* " + ", ".join(shown))
    if config.admin_users:
        lines.append("*Admins:* " + ", ".join(f"<@{u}>" for u in config.admin_users))
    return lines


def saved_view(saved: ConfigSaved) -> View:
    """Replaces the modal after a save: what is in force now, and any warning."""
    people = f"{saved.approvers} {'person' if saved.approvers == 1 else 'people'} can approve."
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=":white_check_mark: Saved. " + people)),
        SectionBlock(text=MarkdownTextObject(text="\n".join(policy_lines(saved.config)))),
    ]
    blocks += [SectionBlock(text=MarkdownTextObject(text=f":warning: {w}")) for w in saved.warnings]
    return View(
        type="modal",
        callback_id=CallbackId.CHANNEL_CONFIG.value,
        title=PlainTextObject(text="Channel settings"),
        close=PlainTextObject(text="Done"),
        blocks=blocks,
    )


def config_changed_message(config: ChannelConfig, actor: str) -> SlackMessage:
    text = f":gear: <@{actor}> changed this channel's SMC approval policy."
    body = "\n".join(policy_lines(config))
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=text)).to_dict(),
        SectionBlock(text=MarkdownTextObject(text=body)).to_dict(),
    ]
    return SlackMessage(text=text, blocks=blocks)


@renders(Event.CONFIG_CHANGED)
def render_config_changed(item: OutboxItem, services: Services) -> SlackMessage | None:
    channel = str(item.payload.get("channel_id") or item.channel_id or "")
    config = services.channel_config.get(channel)
    return config_changed_message(config, str(item.payload.get("actor") or ""))


def field_errors(errors: Mapping[ConfigField, str], shown: Sequence[str]) -> dict[str, str]:
    """Messages keyed by the input block that shows them (no groups block: the approver users block)."""
    keyed: dict[str, str] = {}
    for field, message in errors.items():
        block = CONFIG_BLOCKS[field].value
        if block not in shown:
            block = BlockId.CFG_APPROVER_USERS.value
        keyed[block] = f"{keyed[block]} {message}" if block in keyed else message
    return keyed


def _people_input(
    block: BlockId, label: str, hint: str, chosen: Sequence[str], placeholder: str
) -> InputBlock:
    """An optional pick of workspace members, pre-filled with those chosen so far."""
    return InputBlock(
        block_id=block.value,
        label=PlainTextObject(text=label),
        optional=True,
        hint=PlainTextObject(text=hint),
        element=UserMultiSelectElement(
            action_id=block.value,
            initial_users=list(chosen) or None,
            placeholder=PlainTextObject(text=placeholder),
        ),
    )
