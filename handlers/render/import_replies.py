"""Replies in an import thread: failed instances (code, meaning, fix, output), cloud errors, retries, the end.

Each reply is rendered from its own payload, recorded when it happened; the summary message above shows
the present. Failures carry a **Retry import** button (value: the batch id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.delivery import OutboxItem, SlackMessage
from bot.domain.notifications import Event
from bot.domain.smc_errors import ErrorInfo, Service, explain
from bot.services import Services
from handlers.ids import ActionId, BlockId
from handlers.notify import renders

SECTION_TEXT = 2900
TAIL_CHARS = 2400

STEP_WORDS: Mapping[str, str] = {
    "check": "checking the instances' Cloud Assistant agents",
    "token": "creating the activation code in SMC",
    "command": "sending the install command through Cloud Assistant",
    "poll": "checking on the install commands and the new sources",
}

REFUSALS: Mapping[str, str] = {
    "not_allowed": "Only whoever asked for this import, the channel's approvers or its admins can retry it.",
    "nothing": "Nothing to retry: every server of this import is online, or still being imported.",
    "not_found": "This import no longer exists.",
}


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so names and cloud messages cannot format or mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _service(value: object) -> Service | None:
    try:
        return Service(str(value))
    except ValueError:
        return None


def _who(entry: Mapping[str, Any]) -> str:
    instance_id = escape(str(entry.get("instance_id") or "?"))
    name = entry.get("name")
    return f"*{escape(str(name))}* `{instance_id}`" if name else f"`{instance_id}`"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:SECTION_TEXT]))


def _advice(info: ErrorInfo) -> list[Block]:
    return [
        _section(f"*What it means:* {escape(info.meaning)}"),
        _section(f"*What to do:* {escape(info.fix)}"),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"<{info.doc_url}|More about `{escape(info.code)}`>")]
        ),
    ]


def retry_actions(batch_id: str) -> ActionsBlock:
    """The Retry import button (shared with the summary message)."""
    return ActionsBlock(
        block_id=BlockId.IMPORT_ACTIONS.value,
        elements=[
            ButtonElement(
                text="Retry import",
                action_id=ActionId.IMPORT_RETRY.value,
                value=batch_id,
                style="primary",
            )
        ],
    )


def _tail_block(tail: str) -> str:
    shown = tail[-TAIL_CHARS:].replace("```", "` ` `")
    return f"```\n{shown}\n```"


def failures_message(payload: Mapping[str, Any]) -> SlackMessage:
    """Instances that failed with one error code: what it means, what to do, each one's output tail."""
    batch_id = str(payload.get("batch_id") or "")
    code = str(payload.get("code") or "")
    items: Sequence[Mapping[str, Any]] = [i for i in payload.get("items") or [] if isinstance(i, Mapping)]
    more = int(payload.get("more") or 0)
    count = len(items) + more
    info = explain(code, None, service=_service(payload.get("service")))
    offline = payload.get("state") == "agent_offline"
    verb = "cannot be imported" if offline else "failed to import"
    if count == 1 and items:
        headline = f":x: {_who(items[0])} {verb}: `{escape(info.code)}`"
    else:
        headline = f":x: *{count} servers {verb}*: `{escape(info.code)}`"
    blocks: list[Block] = [_section(headline), *_advice(info)]
    for entry in items:
        message = str(entry.get("message") or "")
        tail = str(entry.get("output_tail") or "")
        said = message and message not in (info.meaning, info.fix)
        if not said and not tail and count == 1:
            continue
        line = _who(entry) + (f": {escape(message)}" if said else "")
        if tail:
            line += f"\nThe command's output ended with:\n{_tail_block(tail)}"
        blocks.append(_section(line))
    if more:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"…and {more} more with the same error.")])
        )
    blocks.append(retry_actions(batch_id))
    names = ", ".join(str(i.get("name") or i.get("instance_id")) for i in items)
    servers = f"{count} server{'' if count == 1 else 's'}"
    text = f"{servers} {verb} ({info.code}): {names}. {info.fix}"
    return SlackMessage(text=text, blocks=[b.to_dict() for b in blocks])


def cloud_error_message(payload: Mapping[str, Any]) -> SlackMessage:
    """A cloud call of the import failed: the code, what it means, what to do, and Retry where it helps."""
    batch_id = str(payload.get("batch_id") or "")
    step = str(payload.get("step") or "")
    code = str(payload.get("code") or "")
    message = str(payload.get("message") or "")
    info = explain(code, message, service=_service(payload.get("service")))
    where = " ".join(str(payload.get(k)) for k in ("service", "action") if payload.get(k))
    doing = STEP_WORDS.get(step, "importing")
    headline = f":warning: *The import failed while {doing}*: `{escape(info.code)}`"
    if where:
        headline += f" from {escape(where.upper() if ' ' not in where else where)}"
    blocks: list[Block] = [_section(headline)]
    if message:
        blocks.append(_section(f"*Alibaba Cloud said:* {escape(message)}"))
    blocks += _advice(info)
    instances = [i for i in payload.get("instances") or [] if isinstance(i, Mapping)]
    if instances:
        shown = ", ".join(_who(i) for i in instances[:20])
        extra = f" and {len(instances) - 20} more" if len(instances) > 20 else ""
        blocks.append(_section(f"*Not imported:* {shown}{extra}"))
    elif step == "poll":
        blocks.append(
            _section("The bot keeps checking until each server's deadline; nothing has been marked failed.")
        )
    request_id = payload.get("request_id")
    if request_id:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"Request id `{escape(str(request_id))}`")])
        )
    if payload.get("retry"):
        blocks.append(retry_actions(batch_id))
    text = f"The import failed while {doing}: {info.code}. {info.fix}"
    return SlackMessage(text=text, blocks=[b.to_dict() for b in blocks])


def retry_message(payload: Mapping[str, Any]) -> SlackMessage:
    items = [i for i in payload.get("items") or [] if isinstance(i, Mapping)]
    user = escape(str(payload.get("user") or ""))
    shown = ", ".join(_who(i) for i in items[:20])
    if len(items) > 20:
        shown += f" and {len(items) - 20} more"
    plural = "s" if len(items) != 1 else ""
    text = f":repeat: <@{user}> retried the import of {len(items)} server{plural}: {shown}"
    return SlackMessage(text=text, blocks=[_section(text).to_dict()])


def finished_message(payload: Mapping[str, Any]) -> SlackMessage:
    """The end of a run, broadcast to the channel: how many sources are online, and Retry if any failed."""
    batch_id = str(payload.get("batch_id") or "")
    state = str(payload.get("state") or "")
    online, total = int(payload.get("online") or 0), int(payload.get("total") or 0)
    failed = int(payload.get("failed") or 0)
    if state == "completed":
        headline = f":white_check_mark: *Import finished: {online} of {total} source servers online*"
    elif state == "partial":
        headline = f":warning: *Import finished: {online} of {total} source servers online, {failed} failed*"
    else:
        headline = f":x: *Import failed: none of the {total} source servers came online*"
    blocks: list[Block] = [_section(headline)]
    sources = [s for s in payload.get("sources") or [] if isinstance(s, Mapping)]
    if sources:
        shown = [(s, escape(str(s.get("source_id")))) for s in sources[:30]]
        lines = [f"{_who(s)} is `{source_id}`: `/smc migrate {source_id}`" for s, source_id in shown]
        blocks.append(_section("\n".join(lines)))
    if failed:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="The replies above say why each server failed and what to fix before retrying."
                    )
                ]
            )
        )
    if payload.get("retry"):
        blocks.append(retry_actions(batch_id))
    text = headline.replace("*", "")
    return SlackMessage(
        text=text, blocks=[b.to_dict() for b in blocks], broadcast=bool(payload.get("broadcast"))
    )


def refused_message(payload: Mapping[str, Any]) -> SlackMessage:
    reason = REFUSALS.get(str(payload.get("reason") or ""), "That did not change anything.")
    return SlackMessage(text=f":no_entry_sign: {reason}")


@renders(Event.IMPORT_FAILURES)
def render_import_failures(item: OutboxItem, services: Services) -> SlackMessage | None:
    return failures_message(item.payload)


@renders(Event.IMPORT_CLOUD_ERROR)
def render_import_cloud_error(item: OutboxItem, services: Services) -> SlackMessage | None:
    return cloud_error_message(item.payload)


@renders(Event.IMPORT_RETRY)
def render_import_retry(item: OutboxItem, services: Services) -> SlackMessage | None:
    return retry_message(item.payload)


@renders(Event.IMPORT_FINISHED)
def render_import_finished(item: OutboxItem, services: Services) -> SlackMessage | None:
    return finished_message(item.payload)


@renders(Event.IMPORT_REFUSED)
def render_import_refused(item: OutboxItem, services: Services) -> SlackMessage | None:
    return refused_message(item.payload)
