"""The import thread's parent message: source, region, one line per instance with its state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.import_plan import RETRYABLE_ITEM_STATES
from bot.domain.imports import ImportBatchView, ImportItemView
from bot.domain.notifications import Event
from bot.services import Services
from handlers.notify import renders
from handlers.render.import_replies import escape, retry_actions
from storage.enums import ImportBatchState, ImportItemState

SECTION_TEXT = 2900
"""Slack allows 3,000 characters in a section; lines are packed into as few sections as fit."""
TAIL_LINES = 2
TAIL_LINE_CHARS = 160
"""A failed instance's line ends with the last lines of its command's output (the thread has more)."""

ITEM_WORDS: dict[ImportItemState, tuple[str, str]] = {
    ImportItemState.PENDING: (":white_circle:", "queued"),
    ImportItemState.AGENT_OFFLINE: (":warning:", "Cloud Assistant agent offline"),
    ImportItemState.INSTALLING: (":gear:", "installing the SMC client"),
    ImportItemState.WAITING_ONLINE: (":hourglass_flowing_sand:", "waiting for the source to come online"),
    ImportItemState.ONLINE: (":white_check_mark:", "online"),
    ImportItemState.FAILED: (":x:", "failed"),
    ImportItemState.TIMED_OUT: (":x:", "timed out"),
}

BATCH_WORDS: dict[ImportBatchState, str] = {
    ImportBatchState.PENDING: "queued",
    ImportBatchState.RUNNING: "importing",
    ImportBatchState.COMPLETED: "done: every server is online",
    ImportBatchState.PARTIAL: "done, some servers failed",
    ImportBatchState.FAILED: "failed",
}


def _item_line(item: ImportItemView, tail: str | None = None) -> str:
    icon, words = ITEM_WORDS[item.state]
    who = f"*{escape(item.name)}* `{item.instance_id}`" if item.name else f"`{item.instance_id}`"
    if item.private_ip:
        who += f" ({item.private_ip})"
    line = f"{icon} {who} — {words}"
    if item.state is ImportItemState.ONLINE and item.source_server_id:
        line += f" as `{item.source_server_id}`: `/smc migrate {item.source_server_id}`"
    if item.error_code or item.error_message:
        detail = " ".join(x for x in (item.error_code, item.error_message) if x)
        line += f": {escape(detail[:300])}"
    if tail:
        last = [text[:TAIL_LINE_CHARS] for text in tail.rstrip().splitlines()[-TAIL_LINES:]]
        shown = "\n".join(last).replace("```", "` ` `")
        line += f"\n```{shown}```"
    return line


def _packed(lines: list[str]) -> list[str]:
    sections: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_TEXT and current:
            sections.append(current)
            current = line[:SECTION_TEXT]
        else:
            current = candidate[:SECTION_TEXT]
    if current:
        sections.append(current)
    return sections


def counts(batch: ImportBatchView) -> str:
    by_state = Counter(i.state for i in batch.items)
    parts = [f"{n} {ITEM_WORDS[state][1]}" for state, n in by_state.items()]
    return ", ".join(parts)


def import_summary_message(batch: ImportBatchView, tails: Mapping[str, str] | None = None) -> SlackMessage:
    """Pure: the current summary of a batch (re-rendered on every edit the runner asks for).

    `tails`: the end of the install command's output of failed instances, by instance id.
    """
    tails = tails or {}
    count = len(batch.items)
    servers = f"{count} source server{'' if count == 1 else 's'}"
    source = (
        f"account `{batch.account_id}` through the role `{batch.role_name}`"
        if batch.cross_account
        else "the bot's own account"
    )
    headline = (
        f":inbox_tray: *Import of {servers}* from {source} in `{batch.region_id}` — "
        f"{BATCH_WORDS[batch.state]}"
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=headline))]
    blocks += [
        SectionBlock(text=MarkdownTextObject(text=text))
        for text in _packed([_item_line(i, tails.get(i.instance_id, "")) for i in batch.items])
    ]
    if any(i.state in RETRYABLE_ITEM_STATES for i in batch.items):
        blocks.append(retry_actions(batch.id))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"`{batch.id}` · asked by <@{batch.requester}> · Cloud Assistant installs the SMC "
                    "client; each server takes 3 to 10 minutes."
                )
            ]
        )
    )
    text = f"Import of {servers} from {source} in {batch.region_id}: {counts(batch)}"
    return SlackMessage(text=text, blocks=[b.to_dict() for b in blocks])


@renders(Event.IMPORT_SUMMARY)
def render_import_summary(item: OutboxItem, services: Services) -> SlackMessage | None:
    batch = services.imports.summary(str(item.payload.get("batch_id") or ""))
    if batch is None:
        return None
    tails = {d.instance_id: d.output_tail for d in services.import_retries.failure_details(batch.id)}
    return import_summary_message(batch, tails)
