"""The App Home tab: what waits for my approval, my requests, the workspace's active migrations.

One section per row with a link button to the request's thread (the approval card is in it); bounded by
the read model's row limits to about 60 blocks, well under Slack's 100 for a Home view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.approvals import WaitingApproval
from bot.domain.home import HomeView, Shown
from bot.domain.progress import human_duration
from bot.domain.requests import STATE_WORDS
from bot.domain.views import RequestView
from handlers.ids import ActionId
from handlers.render.approval import slack_date
from handlers.render.listing import age, destination, job_line
from handlers.render.summary import STATE_ICONS

MAX_HOME_BLOCKS = 100
SECTION_TEXT = 2900


def thread_link(workspace_url: str | None, channel_id: str, ts: str | None) -> str | None:
    """Slack's message permalink format, `https://<workspace>.slack.com/archives/<channel>/p<ts digits>`."""
    if not workspace_url or not ts:
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"


def _row(text: str, request_id: str, link: str | None, label: str) -> SectionBlock:
    button = (
        ButtonElement(text=label, url=link, value=request_id, action_id=ActionId.HOME_OPEN_THREAD.value)
        if link is not None
        else None
    )
    return SectionBlock(text=MarkdownTextObject(text=text[:SECTION_TEXT]), accessory=button)


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _waiting_row(item: WaitingApproval, workspace_url: str | None) -> SectionBlock:
    expires = f" · expires {slack_date(item.expires_at)}" if item.expires_at else ""
    text = (
        f"*`{item.request_id}`* in <#{item.channel_id}> — {item.action_label}\n"
        f"asked by <@{item.requester}> · {item.tally}{expires}"
    )
    link = thread_link(workspace_url, item.channel_id, item.thread_ts)
    return _row(text, item.request_id, link, "Open the card")


def _progress(view: RequestView) -> str:
    line = f"{STATE_ICONS[view.state]} *{STATE_WORDS[view.state]}*"
    job = view.job
    if job is not None:
        line += f" · {job_line(job)}"
        left = job.eta
        if left is not None and job.speed_bps:
            line += f" · about {human_duration(left)} left"
    return line


def _mine_row(view: RequestView, now: datetime, workspace_url: str | None) -> SectionBlock:
    text = (
        f"*`{view.id}`* in <#{view.channel_id}> · `{view.params.source_id}` → {destination(view)}\n"
        f"{_progress(view)} · {age(view.created_at, now)}"
    )
    link = thread_link(workspace_url, view.channel_id, view.thread_ts)
    return _row(text, view.id, link, "Open the thread")


def _active_row(view: RequestView, now: datetime, workspace_url: str | None) -> SectionBlock:
    text = (
        f"*`{view.id}`* in <#{view.channel_id}> by <@{view.requester}> · `{view.params.source_id}` → "
        f"{destination(view)}\n{_progress(view)} · {age(view.created_at, now)}"
    )
    link = thread_link(workspace_url, view.channel_id, view.thread_ts)
    return _row(text, view.id, link, "Open the thread")


def _part(title: str, rows: Sequence[Block], shown: Shown[Any], empty: str, more: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=title))]
    if not rows:
        blocks.append(_note(empty))
    blocks += rows
    if shown.more:
        blocks.append(_note(f"…and {shown.more} more. {more}"))
    return blocks


def home_view(home: HomeView, now: datetime, workspace_url: str | None) -> dict[str, Any]:
    """The Home tab as `views.publish` takes it."""
    waiting = [_waiting_row(w, workspace_url) for w in home.waiting.rows]
    mine = [_mine_row(r, now, workspace_url) for r in home.mine.rows]
    active = [_active_row(r, now, workspace_url) for r in home.active.rows]
    blocks: list[Block] = [
        HeaderBlock(text="SMC migrations"),
        _note(f"As of {slack_date(now)}; reopen the tab to refresh. `/smc help` lists the commands."),
        DividerBlock(),
        *_part(
            f":ballot_box_with_check: *Waiting for your approval* ({len(waiting) + home.waiting.more})",
            waiting,
            home.waiting,
            "Nothing waits for your decision.",
            "`/smc approvals` lists them all.",
        ),
        DividerBlock(),
        *_part(
            ":bust_in_silhouette: *Your requests*, newest first",
            mine,
            home.mine,
            "You have not asked for a migration yet: `/smc migrate` in a channel starts one.",
            "`/smc list mine` in a channel shows that channel's.",
        ),
        DividerBlock(),
        *_part(
            ":arrows_counterclockwise: *Active migrations in this workspace*, newest first",
            active,
            home.active,
            "No migration is active right now.",
            "`/smc list active` in a channel shows that channel's.",
        ),
    ]
    # The read model's row limits keep this near 60; the cut only guards Slack's hard limit.
    return View(type="home", blocks=blocks[:MAX_HOME_BLOCKS]).to_dict()
