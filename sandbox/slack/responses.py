"""What Slack does with a message the bot sends back through a response_url or in a command's ack body."""

from __future__ import annotations

from typing import Any

from sandbox.slack.blockkit import MAX_MESSAGE_TEXT, message_block_problems, with_generated_ids
from sandbox.slack.errors import ApiError
from sandbox.slack.state import SlackState, StoredMessage

Json = dict[str, Any]


def message_problem(payload: Json) -> str | None:
    """Slack's error code for an unusable response message, or None."""
    if payload.get("delete_original"):
        return None
    blocks = payload.get("blocks")
    if blocks is not None and (not isinstance(blocks, list) or message_block_problems(blocks)):
        return "invalid_blocks"
    text = payload.get("text")
    if not text and not blocks and not payload.get("attachments"):
        return "no_text"
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    return None


def apply_message(
    state: SlackState, payload: Json, *, user: str, channel: str, message_ts: str | None, source: str
) -> str:
    """Show, replace or delete as the payload asks; returns what happened (for records and transcripts)."""
    with state.lock:
        text = str(payload.get("text") or "")
        blocks = with_generated_ids(list(payload.get("blocks") or []), state.rng)
        original = _original(state, channel, message_ts)
        ephemeral = state.find_ephemeral(message_ts) if message_ts else None
        if payload.get("delete_original"):
            if original is not None:
                state.delete_message(original, source=source)
                return "deleted_original"
            return "nothing_to_delete"
        if payload.get("replace_original"):
            if original is not None:
                state.update_message(
                    original, text=text, blocks=blocks, metadata=payload.get("metadata"), source=source
                )
                return "replaced_original"
            if ephemeral is not None:
                state.replace_ephemeral(ephemeral, text=text, blocks=blocks, source=source)
                return "replaced_ephemeral"
        thread_ts = payload.get("thread_ts")
        if payload.get("response_type") == "in_channel":
            state.post_message(
                channel,
                text=text,
                blocks=blocks,
                thread_ts=str(thread_ts) if thread_ts else None,
                metadata=payload.get("metadata"),
                source=source,
            )
            return "posted_in_channel"
        state.post_ephemeral(
            channel,
            user,
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            source=source,
        )
        return "posted_ephemeral"


def _original(state: SlackState, channel: str, message_ts: str | None) -> StoredMessage | None:
    if message_ts is None:
        return None
    try:
        return state.find_message(channel, message_ts)
    except ApiError:
        return None
