"""The approval card and the approval engine's other messages; every one is rendered from current state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.approval import DecisionStatus
from bot.domain.approvals import ApprovalCard, RoundRef, WaitingApproval
from bot.domain.audit import ExportWindow
from bot.domain.notifications import Event
from bot.services import Services
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.notify import renders
from storage.enums import RequestState, TargetType, VoteDecision

SECTION_TEXT = 2900
"""Slack allows 3,000 characters in a section text."""

MAX_REASON_CHARS = 1000


# --- small words ---------------------------------------------------------------------------------------


def slack_date(moment: datetime) -> str:
    """A date every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def approver_mentions(groups: Sequence[str], users: Sequence[str]) -> str:
    return ", ".join([f"<!subteam^{g}>" for g in groups] + [f"<@{u}>" for u in users])


def who_approves(card: ApprovalCard) -> str:
    if card.has_approvers:
        return approver_mentions(card.approver_groups, card.approver_users)
    if card.admin_users:
        return approver_mentions((), card.admin_users) + " (channel admins: no approvers are configured)"
    return "workspace admins (no approvers are configured: `/smc config`)"


def _names(users: Sequence[str]) -> str:
    mentions = [f"<@{u}>" for u in users]
    if len(mentions) <= 1:
        return "".join(mentions)
    return ", ".join(mentions[:-1]) + " and " + mentions[-1]


def cost_note(target: TargetType) -> str:
    """What the approvers are about to pay for: pay-as-you-go resources SMC creates in the destination."""
    if target is TargetType.TARGET_INSTANCE:
        resources = (
            "an intermediate disk attached to the destination instance, snapshots of it, and public-network "
            "bandwidth when the data travels over the internet"
        )
    else:
        resources = (
            "an intermediate instance (`No_Delete_SMC_Transition_Instance`) with its disks, snapshots and "
            "the image, and public-network bandwidth when the data travels over the internet"
        )
    return (
        f":moneybag: *Cost:* SMC creates pay-as-you-go resources in the destination account — {resources}. "
        "They bill until the job finishes or is deleted: a paused or errored job keeps billing."
    )


def data_loss_warning(instance_id: str | None) -> str:
    target = f"`{instance_id}`" if instance_id else "the destination instance"
    return (
        f":warning: *Data loss:* {target} is overwritten: its operating system and disks are replaced by the "
        "source's, and its automatic snapshots are deleted. This cannot be undone."
    )


def _status_line(card: ApprovalCard) -> str | None:
    """What happened to the round, or None while it is open."""
    if card.superseded:
        return (
            ":arrows_counterclockwise: *Superseded:* the request was edited or asked again, so these votes "
            "no longer count. Use the newer approval card below."
        )
    if card.is_open:
        return None
    decision = card.decision
    if decision.status is DecisionStatus.APPROVED:
        return f":white_check_mark: *Approved* by {_names(decision.approvals)} ({decision.tally})."
    if decision.status is DecisionStatus.REJECTED and decision.rejected_by:
        reason = f": “{decision.reason}”" if decision.reason else " (no reason given)"
        return f":no_entry: *Rejected* by <@{decision.rejected_by}>{reason}. Nothing will run."
    if card.state is RequestState.EXPIRED:
        when = f" at {slack_date(card.expires_at)}" if card.expires_at else ""
        return f":hourglass: *Expired*{when} with {decision.tally} approvals. Nothing will run."
    if card.state is RequestState.CANCELLED:
        return ":wastebasket: *Withdrawn* by the requester. Nothing will run."
    return f"*Closed* ({card.state.value.replace('_', ' ')})."


def _vote_line(card: ApprovalCard) -> str:
    decided = [
        f"<@{v.voter}> {'approved' if v.decision is VoteDecision.APPROVE else 'rejected'} {_hhmm(v.at)}"
        for v in card.votes
    ]
    tally = f"*Votes:* {card.decision.tally}"
    if not card.self_approval:
        tally += " (the requester does not count)"
    return tally + (" — " + "; ".join(decided) if decided else " — none yet")


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _lines(pairs: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"*{label}:* {value}" for label, value in pairs)[:SECTION_TEXT]


# --- the approval card ---------------------------------------------------------------------------------


def approval_card_message(card: ApprovalCard) -> SlackMessage:
    """Pure: the card of one round — who asks, what runs, what it costs, the votes, and the buttons."""
    approvers = who_approves(card)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"Approval needed: {card.action_label}"[:150])),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{card.request_id}* asked by <@{card.requester}>. Approvers: {approvers}. "
                f"Quorum: {card.decision.needed}."
            )
        ),
    ]
    if card.digest:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_lines(card.digest))))
    if card.target_type is TargetType.TARGET_INSTANCE:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=data_loss_warning(card.instance_id))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=cost_note(card.target_type))]))
    if card.api_problem:
        api = f":x: *API request:* {card.api_problem}"
    else:
        api = (
            f"*API request:* `CreateReplicationJob` with {len(card.api_request)} parameters, ClientToken "
            f"`{card.request_id}` (a retry never creates a second job)."
        )
    blocks.append(
        SectionBlock(
            text=MarkdownTextObject(text=api),
            accessory=ButtonElement(
                text=PlainTextObject(text="Show the request"),
                action_id=ActionId.SHOW_REQUEST.value,
                value=card.ref.encode(),
            ),
        )
    )
    blocks.append(SectionBlock(text=MarkdownTextObject(text=_vote_line(card))))
    expiry = f"Expires {slack_date(card.expires_at)}" if card.expires_at else "No expiry"
    if card.reminded and card.is_open:
        expiry += " (approvers were reminded)"
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{expiry} · round {card.round} · parameter hash `{card.params_hash[:12]}` — votes "
                    "bind to this hash: an edit clears them."
                )
            ]
        )
    )
    status = _status_line(card)
    if status is None:
        blocks.append(
            ActionsBlock(
                block_id=BlockId.APPROVAL_ACTIONS.value,
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Approve"),
                        action_id=ActionId.APPROVE.value,
                        value=card.ref.encode(),
                        style="primary",
                    ),
                    ButtonElement(
                        text=PlainTextObject(text="Reject"),
                        action_id=ActionId.REJECT.value,
                        value=card.ref.encode(),
                        style="danger",
                    ),
                ],
            )
        )
        text = (
            f"{approvers}: approval needed for {card.request_id} ({card.action_label}) — "
            f"{card.decision.tally}"
        )
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=status)))
        text = f"Approval of {card.request_id} ({card.action_label}): {status}"
    return SlackMessage(text=text, blocks=[b.to_dict() for b in blocks])


def request_modal(card: ApprovalCard) -> View:
    """The exact CreateReplicationJob request, one wire parameter a line (the card shows it collapsed)."""
    intro = (
        f"What the bot sends for *{card.request_id}* once approved, exactly (wire names as the SDK sends "
        "them). The speed limit is sent in KB/s; the migration test, template, SSL, image check and "
        "diagnostic logs have no API field."
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=intro))]
    if card.api_problem:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f":x: {card.api_problem}")))
    chunk: list[str] = []
    size = 0
    for name, value in card.api_request:
        line = f"{name} = {value}"
        if chunk and size + len(line) + 1 > SECTION_TEXT - 8:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="```" + "\n".join(chunk) + "```")))
            chunk, size = [], 0
        chunk.append(line[: SECTION_TEXT - 8])
        size += len(line) + 1
    if chunk:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="```" + "\n".join(chunk) + "```")))
    return View(
        type="modal",
        callback_id=CallbackId.APPROVAL_REQUEST.value,
        title=PlainTextObject(text="CreateReplicationJob"),
        close=PlainTextObject(text="Close"),
        blocks=blocks[:100],
    )


def reject_modal(ref: RoundRef) -> View:
    """Reject with an optional reason; the round reference rides in private_metadata."""
    return View(
        type="modal",
        callback_id=CallbackId.REJECT_REASON.value,
        private_metadata=ref.encode(),
        title=PlainTextObject(text="Reject request"),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Rejecting *{ref.request_id}* closes it: nothing will run. The requester sees your "
                    "reason in the thread."
                )
            ),
            InputBlock(
                block_id=BlockId.REJECT_REASON.value,
                label=PlainTextObject(text="Reason (optional)"),
                optional=True,
                element=PlainTextInputElement(
                    action_id=BlockId.REJECT_REASON.value,
                    multiline=True,
                    max_length=MAX_REASON_CHARS,
                    placeholder=PlainTextObject(text="e.g. wrong destination region; use cn-shanghai"),
                ),
            ),
        ],
    )


def waiting_message(items: Sequence[WaitingApproval]) -> tuple[str, list[dict[str, Any]]]:
    """`/smc approvals`: one line per round that waits for this person."""
    if not items:
        text = "Nothing waits for your approval right now."
        return text, [SectionBlock(text=MarkdownTextObject(text=f":tada: {text}")).to_dict()]
    lines = []
    for item in items:
        expires = f", expires {slack_date(item.expires_at)}" if item.expires_at else ""
        lines.append(
            f"• *{item.request_id}* in <#{item.channel_id}> — {item.action_label}, asked by "
            f"<@{item.requester}>, {item.tally}{expires}"
        )
    count = len(items)
    header = f"{count} request{'' if count == 1 else 's'} wait{'s' if count == 1 else ''} for your decision:"
    text = header + "\n" + "\n".join(lines)
    blocks = [SectionBlock(text=MarkdownTextObject(text=text[:SECTION_TEXT])).to_dict()]
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(text="Approve or reject on the approval card in each request's thread.")
            ]
        ).to_dict()
    )
    return text, blocks


# --- renderers -------------------------------------------------------------------------------------------


def _card_of(item: OutboxItem, services: Services) -> ApprovalCard | None:
    try:
        round_ = int(item.payload.get("round") or 0)
    except (TypeError, ValueError):
        return None
    return services.approvals.card(str(item.request_id or item.payload.get("request_id") or ""), round_)


@renders(Event.APPROVAL_CARD)
def render_approval_card(item: OutboxItem, services: Services) -> SlackMessage | None:
    card = _card_of(item, services)
    return None if card is None else approval_card_message(card)


@renders(Event.VOTE)
def render_vote(item: OutboxItem, services: Services) -> SlackMessage | None:
    """The voter's own ephemeral: recorded (with the tally) or refused (with the reason)."""
    message = str(item.payload.get("message") or "")
    if not message:
        return None
    icon = ":ballot_box_with_check:" if item.payload.get("accepted") else ":no_entry_sign:"
    block = SectionBlock(text=MarkdownTextObject(text=f"{icon} {message}"))
    return SlackMessage(text=message, blocks=[block.to_dict()])


def decision_message(card: ApprovalCard) -> SlackMessage:
    decision = card.decision
    if decision.status is DecisionStatus.APPROVED:
        text = (
            f":white_check_mark: {card.request_id} approved by {_names(decision.approvals)} "
            f"({decision.tally}): {card.action_label} goes ahead now."
        )
    else:
        who = f"<@{decision.rejected_by}>" if decision.rejected_by else "an approver"
        reason = f": “{decision.reason}”" if decision.reason else " (no reason given)"
        text = (
            f":no_entry: {card.request_id} rejected by {who}{reason}. "
            "Nothing will run; the request is closed."
        )
    return SlackMessage(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


@renders(Event.DECISION)
def render_decision(item: OutboxItem, services: Services) -> SlackMessage | None:
    card = _card_of(item, services)
    return None if card is None else decision_message(card)


@renders(Event.APPROVAL_REMINDER)
def render_reminder(item: OutboxItem, services: Services) -> SlackMessage | None:
    card = _card_of(item, services)
    if card is None or not card.is_open:
        return None
    expires = f"it expires {slack_date(card.expires_at)}" if card.expires_at else "it has no expiry"
    text = (
        f":alarm_clock: {who_approves(card)}: {card.request_id} ({card.action_label}, asked by "
        f"<@{card.requester}>) still waits for approval — {card.decision.tally}, and {expires}. "
        "Decide on the approval card above."
    )
    return SlackMessage(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


@renders(Event.APPROVAL_ESCALATION)
def render_escalation(item: OutboxItem, services: Services) -> SlackMessage | None:
    """Broadcast to the channel: the round is about to expire undecided; approvers and admins are named."""
    card = _card_of(item, services)
    if card is None or not card.is_open:
        return None
    expires = f"expires {slack_date(card.expires_at)}" if card.expires_at else "expires soon"
    admins = (
        f"channel admins {approver_mentions((), card.admin_users)}"
        if card.admin_users
        else "workspace admins (no channel admins are configured)"
    )
    text = (
        f":rotating_light: Escalation — {who_approves(card)}, and {admins}: {card.request_id} "
        f"({card.action_label}, asked by <@{card.requester}>) {expires} without a decision "
        f"({card.decision.tally}). Approve or reject on its approval card in the thread; if nobody can, "
        "an admin can change the approvers with `/smc config`. After expiry nothing will run."
    )
    return SlackMessage(
        text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()], broadcast=True
    )


@renders(Event.APPROVAL_EXPIRED)
def render_expired(item: OutboxItem, services: Services) -> SlackMessage | None:
    card = _card_of(item, services)
    if card is None:
        return None
    text = (
        f":hourglass: The approval of {card.request_id} ({card.action_label}) expired with "
        f"{card.decision.tally} approvals. Nothing will run; <@{card.requester}> can ask again with "
        "`/smc migrate`."
    )
    return SlackMessage(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


def export_window(payload: Mapping[str, Any]) -> ExportWindow | None:
    try:
        return ExportWindow(
            channel_id=str(payload["channel_id"]),
            since=datetime.fromisoformat(str(payload["since"])),
            until=datetime.fromisoformat(str(payload["until"])),
            days=int(payload["days"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


@renders(Event.AUDIT_EXPORT)
def render_audit_export(item: OutboxItem, services: Services) -> SlackMessage | None:
    """The CSV file of `/smc audit [days]`, built at delivery time for the window fixed at request time."""
    window = export_window(item.payload)
    if window is None:
        return None
    content = services.audit.export_csv(window)
    rows = content.count("\n") - 1
    stamp = window.until.astimezone(UTC).strftime("%Y%m%d-%H%M")
    text = (
        f":page_facing_up: Audit log of <#{window.channel_id}> for the last {window.days} "
        f"day{'' if window.days == 1 else 's'}: {rows} event{'' if rows == 1 else 's'} "
        f"(asked for by <@{item.payload.get('requested_by')}>)."
    )
    return SlackMessage(
        text=text, filename=f"smc-audit-{window.channel_id}-{stamp}.csv", file_content=content
    )
