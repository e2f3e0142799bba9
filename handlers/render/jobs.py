"""Thread replies of execution and job actions — drill report, job created / started, a person's job action,
cloud errors with Retry, the verification report — and the Modify modal.

Each reply renders from the payload recorded when it happened; the summary shows the present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.drill import DrillReport, Level
from bot.domain.execution import explain_details
from bot.domain.job_actions import LABELS, ModifyField, ModifyForm
from bot.domain.notifications import Event
from bot.domain.params import describe_bandwidth_limit
from bot.domain.progress import human_bytes, human_duration
from bot.domain.workflow import UserAction
from bot.services import Services
from handlers.ids import SUMMARY_ACTION_IDS, ActionId, BlockId, CallbackId
from handlers.notify import renders

SECTION_TEXT_MAX = 3000

LEVEL_ICONS: Mapping[Level, str] = {
    Level.OK: ":white_check_mark:",
    Level.WARNING: ":warning:",
    Level.CRITICAL: ":no_entry:",
}

DRILL_OUTCOMES: Mapping[str, str] = {
    "tested": "Test Only: nothing was created. To run the migration, click *Migrate* on the summary; "
    "the approvers decide.",
    "drill_blocked": ":no_entry: Critical items stop *Test and Migrate* here. Fix them and edit the request, "
    "or click *Migrate anyway* on the summary (it needs approval again).",
    "continuing": "No critical item: Test and Migrate goes on and creates the SMC job now.",
}

STEP_WORDS: Mapping[str, str] = {
    "drill": "The migration test",
    "create": "Creating the SMC job",
    "start": "Starting the SMC job",
    "approval": "The approval check before calling SMC",
}

ACTION_WORDS: Mapping[str, str] = {
    UserAction.PAUSE.value: "paused the job",
    UserAction.RESUME.value: "resumed the job",
    UserAction.RETRY.value: "retried the job; it resumes where it stopped",
    UserAction.CUT_OVER.value: "cut the job over: one last sync, then it finishes",
    UserAction.CANCEL_JOB.value: "cancelled the job: SMC deletes it and releases its intermediate instance "
    "or disk",
    UserAction.MODIFY.value: "modified the job",
    UserAction.WITHDRAW.value: "withdrew the request; nothing will run",
}

MODIFY_BLOCKS: Mapping[ModifyField, BlockId] = {
    ModifyField.NAME: BlockId.MODIFY_NAME,
    ModifyField.DESCRIPTION: BlockId.MODIFY_DESCRIPTION,
    ModifyField.SPEED_LIMIT: BlockId.MODIFY_SPEED_LIMIT,
    ModifyField.COMPRESSION: BlockId.MODIFY_COMPRESSION,
    ModifyField.CHECKSUM: BlockId.MODIFY_CHECKSUM,
    ModifyField.FREQUENCY: BlockId.MODIFY_FREQUENCY,
    ModifyField.MAX_IMAGES: BlockId.MODIFY_MAX_IMAGES,
}
CHECKSUM_ON = "on"

VERIFY_COST_NOTE = (
    "The check instance is pay-as-you-go: it (and its system disk) bills from launch until it is released. "
    "It has no public IP, so no bandwidth is billed."
)


def _clip(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(text)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text))])


def _message(text: str, blocks: Sequence[Block]) -> SlackMessage:
    return SlackMessage(text=_clip(text, 3000), blocks=[block.to_dict() for block in blocks])


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return None if value is None or value == "" else str(value)


def _seconds(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return human_duration(float(value))


# --- drill ----------------------------------------------------------------------------------------------


def drill_blocks(report: DrillReport, outcome: str, request_id: str | None) -> list[Block]:
    """The report: a head line with the counts, one section per check (with its fix), the estimate."""
    counts = report.counts()
    head = (
        f"*Migration test{f' of {request_id}' if request_id else ''}:* {counts[Level.OK]} OK, "
        f"{counts[Level.WARNING]} warning(s), {counts[Level.CRITICAL]} critical."
    )
    blocks: list[Block] = [_section(head + "\n" + DRILL_OUTCOMES.get(outcome, ""))]
    for item in report.items:
        line = f"{LEVEL_ICONS[item.level]} *{item.title}* — {item.detail}"
        if item.fix:
            line += f"\n_Fix:_ {item.fix}"
        blocks.append(_section(line))
    estimate = report.estimate
    blocks.append(_section(f"*Estimate:* {estimate.summary()}.\n{estimate.speed_note}"))
    blocks.append(
        _context(
            "The test is the bot's own assessment against live data (SMC's drill has no API): it creates "
            "nothing and costs nothing."
        )
    )
    return blocks


@renders(Event.DRILL_REPORT)
def render_drill_report(item: OutboxItem, services: Services) -> SlackMessage | None:
    data = item.payload.get("report")
    if not isinstance(data, Mapping):
        return None
    report = DrillReport.from_dict(data)
    outcome = str(item.payload.get("outcome") or "")
    critical = report.counts()[Level.CRITICAL]
    text = f"Migration test of {item.request_id}: " + (
        f"{critical} critical item(s)" if critical else f"worst result {report.worst.value}"
    )
    return _message(text, drill_blocks(report, outcome, item.request_id))


# --- job created / started / a person's action ------------------------------------------------------------


@renders(Event.JOB_CREATED)
def render_job_created(item: OutboxItem, services: Services) -> SlackMessage | None:
    payload = item.payload
    job = _text(payload, "job_id") or "?"
    region = _text(payload, "region_id") or ""
    mode = _text(payload, "mode")
    lines = [f":package: SMC job `{job}` created in {region} (ClientToken = `{item.request_id}`)."]
    if mode == "now":
        lines.append("Starting it now.")
    elif mode == "scheduled":
        lines.append(f"SMC starts it by itself at *{_text(payload, 'scheduled_start')}* (UTC).")
    elif mode == "manual":
        lines.append(
            "Create Only: it waits. Click *Start* on the summary when you want it to run "
            "(the approvers decide)."
        )
    total = payload.get("total_bytes")
    if isinstance(total, int) and total > 0:
        lines.append(f"Data to move: about {human_bytes(total)}.")
    note = _text(payload, "note")
    blocks: list[Block] = [_section("\n".join(lines))]
    if note:
        blocks.append(_context(f":information_source: {note}"))
    return _message(f"SMC job {job} created", blocks)


@renders(Event.JOB_STARTED)
def render_job_started(item: OutboxItem, services: Services) -> SlackMessage | None:
    job = _text(item.payload, "job_id") or "?"
    blocks: list[Block] = [
        _section(f":arrow_forward: SMC job `{job}` started. Progress shows on the summary above.")
    ]
    note = _text(item.payload, "note")
    if note:
        blocks.append(_context(f":information_source: {note}"))
    return _message(f"SMC job {job} started", blocks)


@renders(Event.JOB_ACTION)
def render_job_action(item: OutboxItem, services: Services) -> SlackMessage | None:
    payload = item.payload
    action = _text(payload, "action") or ""
    actor = _text(payload, "actor")
    who = f"<@{actor}>" if actor else "Someone"
    line = f"{who} {ACTION_WORDS.get(action, action.replace('_', ' '))}"
    detail = _text(payload, "detail")
    if detail:
        line += f": {detail}"
    status = _text(payload, "status")
    job = _text(payload, "job_id")
    if job and status:
        line += f". Job `{job}` is {status}."
    else:
        line += "."
    return _message(line, [_section(line)])


# --- cloud errors ---------------------------------------------------------------------------------------


def retry_button(retry: str, request_id: str) -> ButtonElement | None:
    """The Retry of an error reply: Retry execution, or the job action that failed."""
    if retry == UserAction.RETRY_EXECUTION.value:
        return ButtonElement(
            action_id=ActionId.REQUEST_RETRY_EXECUTION.value,
            text="Retry execution",
            value=request_id,
            style="primary",
        )
    try:
        action = UserAction(retry)
    except ValueError:
        return None
    action_id = SUMMARY_ACTION_IDS.get(action)
    if action_id is None:
        return None
    confirm = None
    if action is UserAction.CANCEL_JOB:
        confirm = ConfirmObject(
            title="Cancel the migration?",
            text="This deletes the SMC job, which releases its intermediate instance or disk. It cannot be "
            "undone.",
            confirm="Cancel the job",
            deny="Keep it",
        )
    return ButtonElement(
        action_id=action_id.value, text=f"Try again: {LABELS[action]}", value=request_id, confirm=confirm
    )


@renders(Event.CLOUD_ERROR)
def render_cloud_error(item: OutboxItem, services: Services) -> SlackMessage | None:
    payload = item.payload
    step = _text(payload, "step") or ""
    if step.startswith("job_"):
        what = f"{LABELS.get(_user_action(step[4:]), step[4:])} of the job"
    else:
        what = STEP_WORDS.get(step, "A cloud call")
    info = explain_details(payload)
    api = _text(payload, "api")
    lines = [
        f":x: *{what} failed* — `{info.code}`" + (f" ({api})" if api else ""),
        f"*What it means:* {info.meaning}",
        f"*What to do:* {info.fix}",
        f"<{info.doc_url}|Documentation>",
    ]
    blocks: list[Block] = [_section("\n".join(lines))]
    notes = []
    cloud_request = _text(payload, "cloud_request_id")
    if cloud_request:
        notes.append(f"Alibaba Cloud request id `{cloud_request}`")
    notes.append("Throttling and server errors were retried automatically before this was reported.")
    blocks.append(_context(" · ".join(notes)))
    retry = _text(payload, "retry")
    button = retry_button(retry, item.request_id or "") if retry and item.request_id else None
    if button is not None:
        blocks.append(ActionsBlock(block_id=BlockId.SUMMARY_ACTIONS.value, elements=[button]))
    return _message(f"{what} failed: {info.code}", blocks)


def _user_action(value: str) -> UserAction:
    try:
        return UserAction(value)
    except ValueError:
        return UserAction.RETRY


# --- verification ---------------------------------------------------------------------------------------


@renders(Event.VERIFY_REPORT)
def render_verify_report(item: OutboxItem, services: Services) -> SlackMessage | None:
    payload = item.payload
    instance = _text(payload, "instance_id")
    image = _text(payload, "image_id") or "?"
    kind = _text(payload, "instance_type") or "?"
    vswitch = _text(payload, "vswitch_id") or "?"
    group = _text(payload, "security_group_id")
    in_group = f" with security group `{group}`" if group else ""
    if payload.get("phase") == "launched":
        line = (
            f":test_tube: Verifying image `{image}`: launched check instance `{instance}` ({kind}) in "
            f"`{vswitch}`{in_group}. Waiting for Running and Cloud Assistant online; it is released "
            "afterwards."
        )
        return _message(f"Verifying image {image}", [_section(line), _context(VERIFY_COST_NOTE)])
    passed = bool(payload.get("passed"))
    head = (
        f":white_check_mark: *Verification passed* — an instance from image `{image}` booted and its Cloud "
        "Assistant came online."
        if passed
        else f":x: *Verification failed* — {_text(payload, 'reason') or 'the check did not complete.'}"
    )
    lines = [head]
    running = _seconds(payload, "running_after_seconds")
    online = _seconds(payload, "online_after_seconds")
    if running:
        lines.append(
            f"Running after {running}" + (f", Cloud Assistant online after {online}." if online else ".")
        )
    if instance is None:
        lines.append("No check instance was launched, so nothing bills.")
    elif payload.get("released"):
        billed = _seconds(payload, "billed_seconds")
        lines.append(
            f"Check instance `{instance}` ({kind}, `{vswitch}`{in_group}) released"
            + (f" after {billed}." if billed else ".")
        )
    else:
        error = _text(payload, "release_error")
        lines.append(
            f":warning: Check instance `{instance}` could NOT be released"
            + (f" ({error})" if error else "")
            + ": it keeps billing. Delete it in the ECS console."
        )
    return _message(
        f"Verification {'passed' if passed else 'failed'} for image {image}",
        [_section("\n".join(lines)), _context(VERIFY_COST_NOTE)],
    )


# --- the Modify modal -----------------------------------------------------------------------------------


def modify_metadata(request_id: str, channel_id: str) -> str:
    return f"{request_id}:{channel_id}"


def parse_modify_metadata(text: str) -> tuple[str, str] | None:
    request_id, sep, channel_id = text.partition(":")
    return (request_id, channel_id) if sep and request_id and channel_id else None


def modify_loading_view(metadata: str) -> View:
    return View(
        type="modal",
        callback_id=CallbackId.MODIFY_JOB.value,
        title=PlainTextObject(text="Modify the job"),
        close=PlainTextObject(text="Close"),
        private_metadata=metadata,
        blocks=[_section(":hourglass_flowing_sand: Reading the job from SMC…")],
    )


def modify_message_view(metadata: str, text: str) -> View:
    return View(
        type="modal",
        callback_id=CallbackId.MODIFY_JOB.value,
        title=PlainTextObject(text="Modify the job"),
        close=PlainTextObject(text="Close"),
        private_metadata=metadata,
        blocks=[_section(text)],
    )


def modify_view(form: ModifyForm, metadata: str) -> View:
    """Only what SMC accepts in the job's state now; a note says why the rest is locked."""
    now = form.current
    blocks: list[Block] = [_section(f"Job `{form.job_id}` of {form.request_id} is *{form.status}*.")]
    editable = form.editable
    blocks.append(
        _text_input(
            ModifyField.NAME,
            "Job name",
            now.name,
            optional=True,
            hint="2-128 characters, starting with a letter.",
        )
    )
    blocks.append(
        _text_input(ModifyField.DESCRIPTION, "Description", now.description, optional=True, multiline=True)
    )
    if ModifyField.SPEED_LIMIT in editable:
        blocks.append(
            _number_input(
                ModifyField.SPEED_LIMIT,
                "Transmission speed limit (Mbit/s)",
                now.speed_limit_mbps,
                hint="0 = unlimited. The API does not document the unit; the bot sends "
                "bandwidth_limit in KB/s (Mbit/s x 125), as the SMC client uses. Now: "
                + describe_bandwidth_limit(now.speed_limit_mbps)
                + ".",
            )
        )
    if ModifyField.COMPRESSION in editable:
        blocks.append(
            _number_input(ModifyField.COMPRESSION, "Compression ratio (0-10)", now.compression_level)
        )
    if ModifyField.CHECKSUM in editable:
        option = Option(value=CHECKSUM_ON, text="Verify checksums while transferring (slower)")
        blocks.append(
            InputBlock(
                block_id=MODIFY_BLOCKS[ModifyField.CHECKSUM].value,
                label="Checksum verification",
                optional=True,
                element=CheckboxesElement(
                    action_id=ActionId.MODIFY_FIELD.value,
                    options=[option],
                    initial_options=[option] if now.checksum else None,
                ),
            )
        )
    if ModifyField.FREQUENCY in editable:
        blocks.append(
            _number_input(
                ModifyField.FREQUENCY, "Incremental sync interval (hours, 1-168)", now.frequency or 1
            )
        )
    if ModifyField.MAX_IMAGES in editable:
        blocks.append(_number_input(ModifyField.MAX_IMAGES, "Images to keep (1-10)", now.max_images or 1))
    if form.locked_reason:
        shown = (
            f"speed limit {'unlimited' if now.speed_limit_mbps == 0 else f'{now.speed_limit_mbps} Mbit/s'}, "
            f"compression {now.compression_level}, checksum {'on' if now.checksum else 'off'}"
        )
        blocks.append(
            ContextBlock(
                block_id=BlockId.MODIFY_LOCKED.value,
                elements=[MarkdownTextObject(text=_clip(f":lock: Now: {shown}. {form.locked_reason}"))],
            )
        )
    return View(
        type="modal",
        callback_id=CallbackId.MODIFY_JOB.value,
        title=PlainTextObject(text="Modify the job"),
        submit=PlainTextObject(text="Modify"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    )


def _text_input(
    name: ModifyField,
    label: str,
    value: str,
    *,
    optional: bool,
    multiline: bool = False,
    hint: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=MODIFY_BLOCKS[name].value,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id=ActionId.MODIFY_FIELD.value, initial_value=value or None, multiline=multiline
        ),
    )


def _number_input(name: ModifyField, label: str, value: int, *, hint: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=MODIFY_BLOCKS[name].value,
        label=label,
        hint=hint,
        element=NumberInputElement(
            action_id=ActionId.MODIFY_FIELD.value, is_decimal_allowed=False, initial_value=str(value)
        ),
    )
