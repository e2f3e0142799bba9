"""Thread replies for job events (PRODUCT §3.4, §3.6): sub-status changes, milestones, incremental cycles,
errors with Retry / Cancel, the finish with Verify and the cleanup checklist, nudges and the daily digest.

Each reply is rendered from its own payload, recorded when the event was observed: a reply says what
happened then, even when it is delivered later (the summary is the message that shows the present).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.notifications import Event
from bot.domain.params import NetworkType
from bot.domain.progress import human_bytes, human_duration, human_rate, is_low_speed, low_speed_advice
from bot.domain.smc_errors import BILLING_NOTE, Service, explain
from bot.services import Services
from handlers.ids import ActionId
from handlers.notify import renders
from storage.enums import BusinessStatus, JobStatus, TargetType

SECTION_TEXT_MAX = 3000
DIGEST_LINES_MAX = 20

SUB_STATUS_WORDS: Mapping[BusinessStatus, tuple[str, str]] = {
    BusinessStatus.PREPARING: (
        ":gear:",
        "*Preparing* — SMC is setting up the intermediate resources and connecting to the source.",
    ),
    BusinessStatus.SYNCING: (
        ":arrows_counterclockwise:",
        "*Syncing* — data is being copied from the source.",
    ),
    BusinessStatus.PROCESSING: (":hammer_and_wrench:", "*Processing* — SMC is building the destination."),
    BusinessStatus.CLEANING: (":broom:", "*Cleaning* — SMC is releasing the intermediate resources."),
}

CLEANUP_IMAGE = (
    "Verify the image: launch an instance from it and check it boots and serves (the *Verify* button does "
    "this and releases the instance afterwards).",
    "Check ECS for a leftover intermediate instance named `INSTANCE_FOR_SMC_<job id>`; SMC releases it when "
    "the job ends, and it bills while it exists.",
    "Delete the SMC job when you no longer need its record (the image stays).",
    "Delete the migration source in SMC (and uninstall the SMC client on the source server) when no more "
    "migrations of it are planned.",
    "Delete images and snapshots you do not keep: they are billed by size.",
)
CLEANUP_INSTANCE = (
    "Check the destination instance: start it, log in, and compare services and data with the source.",
    "Apply the recorded private IP after cutover if you chose a manual one.",
    "SMC released its temporary disk when the job ended; check ECS for leftover disks if in doubt.",
    "Delete the SMC job when you no longer need its record.",
    "Delete the migration source in SMC (and uninstall the SMC client on the source server) when no more "
    "migrations of it are planned.",
)


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return None if value is None or value == "" else str(value)


def _number(payload: Mapping[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _when(payload: Mapping[str, Any], key: str) -> datetime | None:
    text = _text(payload, key)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{math.floor(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _clip(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(text)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text))])


def _job_context(payload: Mapping[str, Any]) -> ContextBlock:
    job = _text(payload, "job_id") or "?"
    region = _text(payload, "region_id")
    return _context(f"SMC job `{job}`" + (f" in {region}" if region else ""))


def _message(text: str, blocks: Sequence[Block], *, broadcast: bool = False) -> SlackMessage:
    return SlackMessage(text=text, blocks=[block.to_dict() for block in blocks], broadcast=broadcast)


def _button(
    action: ActionId,
    text: str,
    request_id: str,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(action_id=action.value, text=text, value=request_id, style=style, confirm=confirm)


def _cancel_button(request_id: str) -> ButtonElement:
    return _button(
        ActionId.JOB_CANCEL,
        "Cancel and clean up",
        request_id,
        "danger",
        ConfirmObject(
            title="Cancel the migration?",
            text="This deletes the SMC job, which releases its intermediate instance or disk. It cannot be "
            "undone.",
            confirm="Cancel the job",
            deny="Keep it",
        ),
    )


# --- status and sub-status ------------------------------------------------------------------------------


def status_text(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(notification text, mrkdwn line) of a STATUS_CHANGED payload."""
    kind = _text(payload, "kind")
    job = _text(payload, "job_id") or "the job"
    if kind == "business_status":
        try:
            sub = BusinessStatus(str(payload.get("business_status")))
        except ValueError:
            return (f"Job {job}: {payload.get('business_status')}", f"*{payload.get('business_status')}*")
        icon, line = SUB_STATUS_WORDS[sub]
        cycle = int(payload.get("cycle", 1) or 1)
        suffix = f" (sync cycle {cycle})" if payload.get("incremental") and cycle > 1 else ""
        return (f"Job {job}: {sub.value}{suffix}", f"{icon} {line}{suffix}")
    if kind == "deleted":
        return (
            f"Job {job} no longer exists in SMC",
            f":wastebasket: SMC no longer knows job `{job}`: it was deleted (or expired and removed). "
            "The bot stopped following it.",
        )
    status = _text(payload, "status") or "?"
    previous = _text(payload, "previous_status")
    if status == JobStatus.RUNNING.value:
        if previous == JobStatus.WAITING.value:
            cycle = int(payload.get("cycle", 1) or 1)
            return (f"Job {job}: sync cycle {cycle} started", f":arrow_forward: Sync cycle {cycle} started.")
        if previous in (JobStatus.STOPPED.value, JobStatus.IN_ERROR.value):
            return (f"Job {job} is running again", ":arrow_forward: The job is *running* again.")
        return (f"Job {job} is running", ":arrow_forward: SMC started the job: it is *Running*.")
    if status == JobStatus.STOPPED.value:
        return (
            f"Job {job} is paused",
            ":double_vertical_bar: The job is *paused* (Stopped). Its intermediate instance or disk keeps "
            "billing until you resume or cancel it.",
        )
    if status == JobStatus.WAITING.value:
        return (
            f"Job {job} waits for its next sync",
            ":hourglass_flowing_sand: Sync cycle done; the job is *Waiting* for its next incremental sync. "
            "*Cut over* ends it with a final sync.",
        )
    if status == JobStatus.EXPIRED.value:
        return (
            f"Job {job} expired",
            ":alarm_clock: The job *expired* (its ValidTime passed). SMC deletes expired jobs 7 days later.",
        )
    if status == JobStatus.DELETING.value:
        return (f"Job {job} is being deleted", ":wastebasket: SMC is *deleting* the job.")
    return (f"Job {job}: {status}", f"The job is now *{status}*.")


@renders(Event.STATUS_CHANGED)
def render_status_changed(item: OutboxItem, services: Services) -> SlackMessage:
    text, line = status_text(item.payload)
    return _message(text, [_section(line), _job_context(item.payload)])


# --- progress ---------------------------------------------------------------------------------------------


def milestone_line(payload: Mapping[str, Any]) -> str:
    mark = int(payload.get("milestone", 0) or 0)
    parts = [f":bar_chart: *{mark}%* of the data synced"]
    moved = _number(payload, "transferred_bytes")
    total = _number(payload, "total_bytes")
    if moved is not None and total is not None:
        parts.append(f"{human_bytes(moved)} of {human_bytes(total)}")
    speed = _number(payload, "speed_bps")
    if speed is not None:
        parts.append(f"at {human_rate(speed)}")
    remaining = _number(payload, "eta_seconds")
    if remaining is not None:
        parts.append(f"about {human_duration(remaining)} left")
    return " · ".join(parts) + "."


def low_speed_line(payload: Mapping[str, Any]) -> str | None:
    """Advice when the measured speed is low for the network type (PRODUCT §3.4)."""
    speed = _number(payload, "speed_bps")
    try:
        network = NetworkType(int(payload.get("network_type", NetworkType.PUBLIC) or 0))
    except ValueError:
        return None
    if not is_low_speed(speed, network):
        return None
    limit = int(payload.get("speed_limit_mbps", 0) or 0)
    return f":snail: The transfer is slow. {low_speed_advice(network, speed_limit_mbps=limit)}"


@renders(Event.MILESTONE)
def render_milestone(item: OutboxItem, services: Services) -> SlackMessage:
    line = milestone_line(item.payload)
    blocks: list[Block] = [_section(line)]
    advice = low_speed_line(item.payload)
    if advice is not None:
        blocks.append(_section(advice))
    blocks.append(_job_context(item.payload))
    mark = int(item.payload.get("milestone", 0) or 0)
    return _message(f"Job {item.payload.get('job_id')}: {mark}% synced", blocks)


@renders(Event.CYCLE_FINISHED)
def render_cycle_finished(item: OutboxItem, services: Services) -> SlackMessage:
    run = int(item.payload.get("run", 0) or 0)
    image = _text(item.payload, "image_id")
    line = f":repeat: Incremental sync cycle {run} finished" + (f": image `{image}`." if image else ".")
    ended = _when(item.payload, "run_ended_at")
    blocks: list[Block] = [_section(line)]
    if ended is not None:
        blocks.append(_context(f"Ended {slack_date(ended)}"))
    blocks.append(_job_context(item.payload))
    return _message(f"Job {item.payload.get('job_id')}: sync cycle {run} finished", blocks)


# --- errors and the finish ----------------------------------------------------------------------------------


def error_blocks(payload: Mapping[str, Any]) -> list[Block]:
    """Code, meaning, fix (with the billing note), doc link, SMC's own message, Retry / Cancel buttons."""
    info = explain(_text(payload, "error_code"), _text(payload, "message"), service=Service.MIGRATION)
    request_id = _text(payload, "request_id") or ""
    job = _text(payload, "job_id") or "?"
    lines = [
        f":x: *Job `{job}` failed* with `{info.code}`.",
        f"*What it means:* {info.meaning}",
        f"*What to do:* {info.fix}",
    ]
    if info.message:
        lines.append(f"*SMC said:* {info.message}")
    blocks: list[Block] = [_section("\n".join(lines))]
    billing = "" if BILLING_NOTE in info.fix else f"{BILLING_NOTE} "
    blocks.append(_context(f"{billing}<{info.doc_url}|Troubleshooting: {info.code}>"))
    blocks.append(
        ActionsBlock(
            elements=[
                _button(ActionId.JOB_RETRY, "Retry", request_id, "primary"),
                _cancel_button(request_id),
            ]
        )
    )
    return blocks


@renders(Event.JOB_ERROR)
def render_job_error(item: OutboxItem, services: Services) -> SlackMessage:
    code = _text(item.payload, "error_code") or "no error code"
    return _message(f"Job {item.payload.get('job_id')} failed: {code}", error_blocks(item.payload))


def finish_lines(payload: Mapping[str, Any]) -> list[str]:
    target = _text(payload, "target_type")
    job = _text(payload, "job_id") or "?"
    lines = [f":tada: *Migration finished* (job `{job}`)."]
    if target == TargetType.TARGET_INSTANCE.value:
        instance = _text(payload, "instance_id")
        lines.append(f"*Destination instance:* `{instance}`" if instance else "*Destination:* ECS instance")
    else:
        image = _text(payload, "image_id")
        lines.append(f"*Image:* `{image}`" if image else "*Image:* (SMC did not report the image id)")
    facts = []
    duration = _number(payload, "duration_seconds")
    if duration is not None:
        facts.append(f"*Duration:* {human_duration(duration)}")
    speed = _number(payload, "avg_speed_bps")
    if speed is not None:
        facts.append(f"*Average speed:* {human_rate(speed)}")
    total = _number(payload, "total_bytes")
    if total is not None:
        facts.append(f"*Data:* {human_bytes(total)}")
    if facts:
        lines.append(" · ".join(facts))
    return lines


def finish_blocks(payload: Mapping[str, Any]) -> list[Block]:
    image_target = _text(payload, "target_type") != TargetType.TARGET_INSTANCE.value
    checklist = CLEANUP_IMAGE if image_target else CLEANUP_INSTANCE
    blocks: list[Block] = [
        _section("\n".join(finish_lines(payload))),
        _section("*Cleanup checklist*\n" + "\n".join(f"• {step}" for step in checklist)),
    ]
    if image_target:
        request_id = _text(payload, "request_id") or ""
        blocks.append(
            ActionsBlock(elements=[_button(ActionId.REQUEST_VERIFY, "Verify", request_id, "primary")])
        )
        blocks.append(
            _context(
                "*Verify* launches a pay-as-you-go instance from the image, waits for it to run with Cloud "
                "Assistant online, reports, and releases it (approval may be required)."
            )
        )
    return blocks


@renders(Event.JOB_FINISHED)
def render_job_finished(item: OutboxItem, services: Services) -> SlackMessage:
    """The final reply: also shown in the channel (reply_broadcast)."""
    return _message(
        f"Migration finished: job {item.payload.get('job_id')}",
        finish_blocks(item.payload),
        broadcast=bool(item.payload.get("broadcast", True)),
    )


# --- housekeeping -------------------------------------------------------------------------------------------


def nudge_blocks(payload: Mapping[str, Any]) -> list[Block]:
    reason = _text(payload, "reason")
    request_id = _text(payload, "request_id") or ""
    job = _text(payload, "job_id") or "?"
    if reason == "valid_time":
        valid = _when(payload, "valid_time")
        remaining = _number(payload, "remaining_seconds")
        when = slack_date(valid) if valid is not None else "soon"
        left = f" (in {human_duration(remaining)})" if remaining is not None and remaining > 0 else ""
        return [
            _section(
                f":alarm_clock: Job `{job}` expires {when}{left} (its ValidTime). Finish or cut it over "
                "before then, or extend ValidTime (7 to 90 days); SMC deletes expired jobs 7 days later."
            ),
            _job_context(payload),
        ]
    status = _text(payload, "status") or "?"
    hours = _number(payload, "hours") or 0.0
    since = _when(payload, "since")
    lines = [
        f":bell: Job `{job}` has been *{status}* for {human_duration(hours * 3600)}"
        + (f" (since {slack_date(since)})" if since is not None else "")
        + " without progress.",
        BILLING_NOTE,
    ]
    code = _text(payload, "error_code")
    if code:
        lines.insert(
            1,
            f"Last error: `{code}`" + (f" — {payload['status_info']}" if payload.get("status_info") else ""),
        )
    first = (
        _button(ActionId.JOB_RESUME, "Resume", request_id, "primary")
        if status == JobStatus.STOPPED.value
        else _button(ActionId.JOB_RETRY, "Retry", request_id, "primary")
    )
    return [_section("\n".join(lines)), ActionsBlock(elements=[first, _cancel_button(request_id)])]


@renders(Event.NUDGE)
def render_nudge(item: OutboxItem, services: Services) -> SlackMessage:
    reason = "expires soon" if item.payload.get("reason") == "valid_time" else "needs attention"
    return _message(f"Job {item.payload.get('job_id')} {reason}", nudge_blocks(item.payload))


def digest_blocks(payload: Mapping[str, Any]) -> list[Block]:
    day = _text(payload, "date") or "today"
    counts: Mapping[str, Any] = payload.get("counts") or {}
    summary = ", ".join(f"{count} {state}" for state, count in counts.items()) or "no open migrations"
    blocks: list[Block] = [_section(f":clipboard: *SMC digest for {day}*: {summary}.")]
    attention = list(payload.get("attention") or [])
    if attention:
        lines = [
            f"• `{row.get('request_id')}` job `{row.get('job_id')}` is *{row.get('status')}*"
            + (f" (`{row.get('error_code')}`)" if row.get("error_code") else "")
            for row in attention[:DIGEST_LINES_MAX]
        ]
        blocks.append(_section("*Needs attention (billing without progress)*\n" + "\n".join(lines)))
    active = list(payload.get("active") or [])
    if active:
        lines = [
            f"• `{row.get('request_id')}` job `{row.get('job_id')}` {row.get('status')}"
            + (f" · {row.get('business_status')}" if row.get("business_status") else "")
            + f" · {math.floor(float(row.get('progress') or 0))}%"
            for row in active[:DIGEST_LINES_MAX]
        ]
        more = len(active) - DIGEST_LINES_MAX
        if more > 0:
            lines.append(f"… and {more} more")
        blocks.append(_section("*In progress*\n" + "\n".join(lines)))
    finished = int(payload.get("finished_last_day", 0) or 0)
    blocks.append(
        _context(f"{finished} migration(s) finished in the last 24 h. `/smc list active` for details.")
    )
    return blocks


@renders(Event.DIGEST)
def render_digest(item: OutboxItem, services: Services) -> SlackMessage:
    return _message(f"SMC digest for {item.payload.get('date')}", digest_blocks(item.payload))
