"""The request summary: the parent message of a request's thread, re-rendered from current state on every
edit (PRODUCT §3.4), and the ephemeral pointer to it the requester gets after submitting."""

from __future__ import annotations

import math
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.errors import DomainError, NotFound
from bot.domain.notifications import Event
from bot.domain.params import TARGET_TYPE_LABELS, MigrationParams
from bot.domain.progress import human_bytes, human_duration, human_rate, progress_bar
from bot.domain.requests import STATE_WORDS
from bot.domain.smc_request import describe_request
from bot.domain.views import JobView, RequestView
from bot.domain.workflow import UserAction, summary_actions
from bot.services import Services
from handlers.ids import SUMMARY_ACTION_IDS, BlockId
from handlers.notify import renders
from storage.enums import JobStatus, RequestState, TargetType

MAX_MESSAGE_BLOCKS = 50
SECTION_TEXT_MAX = 3000
REQUEST_SECTIONS = 2
"""Sections of the exact request at most; the approval card shows every line with its meaning."""

STATE_ICONS: dict[RequestState, str] = {
    RequestState.AWAITING_APPROVAL: ":hourglass_flowing_sand:",
    RequestState.APPROVED: ":white_check_mark:",
    RequestState.REJECTED: ":no_entry:",
    RequestState.EXPIRED: ":alarm_clock:",
    RequestState.CANCELLED: ":heavy_multiplication_x:",
    RequestState.DRILLING: ":mag:",
    RequestState.TESTED: ":test_tube:",
    RequestState.DRILL_BLOCKED: ":octagonal_sign:",
    RequestState.EXECUTING: ":gear:",
    RequestState.JOB_CREATED: ":package:",
    RequestState.IN_PROGRESS: ":arrows_counterclockwise:",
    RequestState.COMPLETED: ":tada:",
    RequestState.FAILED: ":x:",
    RequestState.JOB_DELETED: ":wastebasket:",
}

_BUTTONS: dict[UserAction, tuple[str, str | None]] = {
    UserAction.EDIT: ("Edit", None),
    UserAction.WITHDRAW: ("Withdraw", "danger"),
    UserAction.RETRY_EXECUTION: ("Retry", "primary"),
    UserAction.MIGRATE: ("Migrate", "primary"),
    UserAction.MIGRATE_ANYWAY: ("Migrate anyway", "danger"),
    UserAction.VERIFY: ("Verify", "primary"),
    UserAction.START: ("Start", "primary"),
    UserAction.PAUSE: ("Pause", None),
    UserAction.RESUME: ("Resume", "primary"),
    UserAction.RETRY: ("Retry", "primary"),
    UserAction.MODIFY: ("Modify speed", None),
    UserAction.CUT_OVER: ("Cut over", "primary"),
    UserAction.CANCEL_JOB: ("Cancel and clean up", "danger"),
}

_CONFIRMS: dict[UserAction, tuple[str, str, str]] = {
    UserAction.WITHDRAW: (
        "Withdraw the request?",
        "Nothing has been created; the request closes.",
        "Withdraw",
    ),
    UserAction.MIGRATE_ANYWAY: (
        "Migrate anyway?",
        "The migration test found critical problems. This asks the approvers again.",
        "Ask to migrate",
    ),
    UserAction.CUT_OVER: (
        "Cut over now?",
        "SMC syncs the last changes and finishes the incremental job.",
        "Cut over",
    ),
    UserAction.CANCEL_JOB: (
        "Cancel and clean up?",
        "SMC deletes the job and releases its intermediate instance or disk. This cannot be undone.",
        "Cancel the job",
    ),
}


def destination(params: MigrationParams) -> str:
    target = params.image_name if params.target_type is TargetType.IMAGE else params.instance_id
    return f"{TARGET_TYPE_LABELS[params.target_type]} {target or '?'} in {params.region_id}"


def state_line(request: RequestView) -> str:
    return f"{STATE_ICONS[request.state]} {STATE_WORDS[request.state].capitalize()}"


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{math.floor(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def summary_text(request: RequestView) -> str:
    """The notification / accessibility fallback of the summary."""
    return (
        f"Migration {request.id}: {request.params.source_id} to {destination(request.params)} — "
        f"{STATE_WORDS[request.state]}"
    )


def job_lines(job: JobView) -> list[str]:
    """Status, progress bar, transferred / total, speed, ETA, last update, errors and results."""
    status = job.status.value + (f" · {job.business_status.value}" if job.business_status else "")
    lines = [f"*SMC job* `{job.job_id}` · {status}", f"`{progress_bar(job.progress)}`"]
    facts = []
    moved = job.transferred_bytes
    if job.total_bytes is not None and moved is not None:
        facts.append(f"Transferred {human_bytes(moved)} of {human_bytes(job.total_bytes)}")
    if job.speed_bps is not None and job.status is JobStatus.RUNNING:
        facts.append(f"Speed {human_rate(job.speed_bps)}")
    remaining = job.eta
    if remaining is not None and job.status is JobStatus.RUNNING:
        facts.append(f"ETA {human_duration(remaining)}")
    if job.status is JobStatus.FINISHED and job.avg_speed_bps:
        facts.append(f"Average {human_rate(job.avg_speed_bps)}")
    if facts:
        lines.append(" · ".join(facts))
    if job.status is JobStatus.IN_ERROR:
        detail = f"{job.error_code or 'error'}" + (f": {job.status_info}" if job.status_info else "")
        lines.append(
            f":x: {detail}. The intermediate instance keeps billing until the job finishes or is deleted."
        )
    if job.image_id:
        lines.append(f"Image `{job.image_id}`")
    if job.target_instance_id and job.status is JobStatus.FINISHED:
        lines.append(f"Destination instance `{job.target_instance_id}`")
    if job.last_update is not None:
        lines.append(f"Last update {slack_date(job.last_update)}")
    return lines


def request_sections(request: RequestView) -> list[str]:
    """The exact CreateReplicationJob request as code blocks, one line per parameter sent."""
    try:
        lines = [f"{name} = {value}" for name, value in describe_request(request.create_request())]
    except (DomainError, ValueError) as exc:
        return [f"_The request could not be built from the stored parameters: {exc}_"]
    sections: list[str] = []
    current: list[str] = []
    for index, line in enumerate(lines):
        candidate = "\n".join([*current, line])
        if len(candidate) + 8 > SECTION_TEXT_MAX - 100:
            if len(sections) + 1 == REQUEST_SECTIONS:
                current.append(f"… {len(lines) - index} more parameter(s): see the approval card")
                break
            sections.append("\n".join(current))
            current = [line]
        else:
            current.append(line)
    sections.append("\n".join(current))
    return [f"```{text}```" for text in sections if text]


def action_buttons(request: RequestView) -> list[ButtonElement]:
    job = request.job
    actions = summary_actions(
        request.state,
        job_status=job.status if job is not None else None,
        business=job.business_status if job is not None else None,
        incremental=job.incremental if job is not None else request.params.incremental,
        image_target=request.target_type is TargetType.IMAGE,
    )
    buttons = []
    for action in actions:
        text, style = _BUTTONS[action]
        confirm = _CONFIRMS.get(action)
        buttons.append(
            ButtonElement(
                action_id=SUMMARY_ACTION_IDS[action],
                text=text,
                value=request.id,
                style=style,
                confirm=ConfirmObject(title=confirm[0], text=confirm[1], confirm=confirm[2], deny="Keep it")
                if confirm
                else None,
            )
        )
    return buttons


def summary_blocks(request: RequestView) -> list[Block]:
    """Header, who and state, parameter digest, the job's progress, the exact request, buttons (≤ 50)."""
    params = request.params
    blocks: list[Block] = [
        HeaderBlock(text=_clip(f"Migration {request.id}", 150)),
        SectionBlock(
            text=MarkdownTextObject(
                text=_clip(
                    f"<@{request.requester}> asked to migrate *{params.source_id}* to "
                    f"*{destination(params)}*.\n*State:* {state_line(request)}",
                    SECTION_TEXT_MAX,
                )
            )
        ),
    ]
    if request.state is RequestState.AWAITING_APPROVAL:
        until = f" until {slack_date(request.approval_expires_at)}" if request.approval_expires_at else ""
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Waiting for this channel's approvers (round {request.approval_round}){until}. "
                        "Nothing reaches Alibaba Cloud before they approve."
                    )
                ]
            )
        )
    digest = "\n".join(f"*{label}:* {value}" for label, value in params.digest())
    blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(digest, SECTION_TEXT_MAX))))
    if request.job is not None:
        job_text = "\n".join(job_lines(request.job))
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(job_text, SECTION_TEXT_MAX))))
    elif request.last_error:
        message = str(request.last_error.get("message") or request.last_error.get("code") or "")
        if message:
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=_clip(f":x: {message}", SECTION_TEXT_MAX)))
            )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="*Exact SMC request* — `CreateReplicationJob` (the ClientToken is the request id, "
                    "so a retry never creates a second job)"
                )
            ]
        )
    )
    blocks += [SectionBlock(text=MarkdownTextObject(text=text)) for text in request_sections(request)]
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Parameter hash `{request.params_hash[:12]}` · "
                    f"asked {slack_date(request.created_at)}"
                )
            ]
        )
    )
    buttons = action_buttons(request)
    if buttons:
        blocks.append(ActionsBlock(block_id=BlockId.SUMMARY_ACTIONS, elements=buttons))
    return blocks[:MAX_MESSAGE_BLOCKS]


def summary_message(request: RequestView) -> SlackMessage:
    return SlackMessage(text=summary_text(request), blocks=[b.to_dict() for b in summary_blocks(request)])


def pointer_message(request: RequestView) -> SlackMessage:
    """Ephemeral to the requester: where the thread is, and what happens next."""
    where = f"<#{request.channel_id}>"
    if request.thread_ts:
        link = f"https://slack.com/archives/{request.channel_id}/p{request.thread_ts.replace('.', '')}"
        where = f"<{link}|its thread> in <#{request.channel_id}>"
    text = (
        f"Your migration request *{request.id}* is {STATE_WORDS[request.state]}. Follow it in {where}: "
        "the parent message stays current and every step is a reply."
    )
    return SlackMessage(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


@renders(Event.REQUEST_SUMMARY)
def render_request_summary(item: OutboxItem, services: Services) -> SlackMessage | None:
    """Rendered from the request's current state at delivery time (edits coalesce)."""
    try:
        request = services.requests.get(str(item.payload.get("request_id", "")))
    except NotFound:
        return None
    return summary_message(request)


@renders(Event.REQUEST_POINTER)
def render_request_pointer(item: OutboxItem, services: Services) -> SlackMessage | None:
    try:
        request = services.requests.get(str(item.payload.get("request_id", "")))
    except NotFound:
        return None
    return pointer_message(request)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
