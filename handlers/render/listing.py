"""`/smc list` and `/smc status` answers: ephemeral, newest first, bounded to Slack's 50 blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.imports import ImportBatchView
from bot.domain.listing import SCOPE_WORDS, ListScope, RequestListing
from bot.domain.params import TARGET_TYPE_LABELS
from bot.domain.progress import human_duration, progress_bar
from bot.domain.requests import STATE_WORDS
from bot.domain.views import JobView, RequestView
from handlers.render.import_summary import BATCH_WORDS, counts, import_summary_message
from storage.enums import TargetType

Message = tuple[str, list[dict[str, Any]]]
"""(text fallback, blocks as dicts): what `ack`/`respond` take."""

MAX_BLOCKS = 50


def age(created: datetime, now: datetime) -> str:
    """How long ago, in one short word: "just now", "12 min ago", "3 h ago", "2 d ago"."""
    seconds = max(0.0, (now - created).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86_400)} d ago"


def destination(view: RequestView) -> str:
    params = view.params
    target = params.image_name if params.target_type is TargetType.IMAGE else params.instance_id
    return f"{TARGET_TYPE_LABELS[params.target_type]} `{target or '?'}` in `{params.region_id}`"


def job_line(job: JobView | None) -> str:
    """`Running · Syncing ▓▓▓░░ 42%` — nothing when there is no SMC job yet."""
    if job is None:
        return ""
    status = job.status.value + (f" · {job.business_status.value}" if job.business_status else "")
    return f"{status} {progress_bar(job.progress, width=10)}"


def _row(view: RequestView, now: datetime) -> str:
    first = f"`{view.id}` · `{view.params.source_id}` → {destination(view)}"
    second = [f"*{STATE_WORDS[view.state]}*"]
    progress = job_line(view.job)
    if progress:
        second.append(progress)
    second += [age(view.created_at, now), f"<@{view.requester}>"]
    return f"{first}\n{' · '.join(second)}"


def request_list(listing: RequestListing, now: datetime) -> Message:
    """One section per request, a header and a footer; never more than 50 blocks."""
    words = SCOPE_WORDS[listing.scope]
    if not listing.rows:
        hint = (
            "`/smc list all` shows finished ones too; "
            if listing.scope is not ListScope.ALL
            else "`/smc migrate` starts one; "
        )
        text = f"No {words} in this channel. {hint}`/smc import` brings in source servers."
        return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]
    rows = listing.rows[: MAX_BLOCKS - 2]
    hidden = listing.more + (len(listing.rows) - len(rows))
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*{words.capitalize()} in this channel*, newest first:"))
    ]
    blocks += [SectionBlock(text=MarkdownTextObject(text=_row(v, now)[:2900])) for v in rows]
    footer = "`/smc status <id>` shows one request and links its thread."
    if hidden:
        more = f"{hidden}+" if listing.more_is_lower_bound else str(hidden)
        footer = f"…and {more} more (older). " + footer
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    text = f"{len(rows) + hidden} {words} in this channel" + (f", {len(rows)} shown" if hidden else "")
    return text, [b.to_dict() for b in blocks]


def _link(permalink: str | None) -> str:
    if permalink:
        return f"<{permalink}|Open the thread>"
    return "The thread has not been posted yet; it appears in the channel in a moment."


def request_status(view: RequestView, permalink: str | None, now: datetime) -> Message:
    """A request's digest, state and job progress, with a link to its thread."""
    asked = f"asked by <@{view.requester}> {age(view.created_at, now)}"
    headline = f"*`{view.id}`* — {STATE_WORDS[view.state]} · {asked}"
    digest = "\n".join(f"*{label}:* {value}" for label, value in view.params.digest())
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=headline)),
        SectionBlock(text=MarkdownTextObject(text=digest[:2900])),
    ]
    job = view.job
    if job is not None:
        line = f"SMC job `{job.job_id}`: {job_line(job)}"
        if job.eta is not None and job.speed_bps:
            line += f" · about {human_duration(job.eta)} left"
        if job.error_code:
            line += f"\n:x: `{job.error_code}` {job.status_info or ''}".rstrip()
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line[:2900])))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_link(permalink))]))
    text = f"{view.id}: {STATE_WORDS[view.state]}" + (
        f", SMC job {job.job_id} {job.status.value}" if job else ""
    )
    return text, [b.to_dict() for b in blocks]


def import_status(batch: ImportBatchView, permalink: str | None) -> Message:
    """An import batch: the same lines as its thread's parent, and a link to the thread."""
    summary = import_summary_message(batch)
    blocks = [dict(b) for b in summary.blocks or []][: MAX_BLOCKS - 1]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_link(permalink))]).to_dict())
    return f"{batch.id}: {BATCH_WORDS[batch.state]} ({counts(batch)})", blocks


def not_found(problem: str) -> Message:
    text = (
        f"{problem} `/smc list` shows the request ids of this channel (`/smc list all` includes finished "
        "ones); type `/smc status r-…`, the SMC job id `j-…`, or an import batch `imp-…`."
    )
    return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]
