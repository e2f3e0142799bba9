"""Read-only snapshots the stand-in hands out for assertions and transcripts; copies, never live state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class MessageVersion:
    """What a message looked like before an edit."""

    text: str
    blocks: list[Json]
    metadata: Json | None
    at: float


@dataclass(frozen=True)
class PostedMessage:
    """A channel message as it is now, with its edit history and (for parents) its replies in order."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Json]
    thread_ts: str | None
    reply_broadcast: bool
    metadata: Json | None
    files: list[Json]
    posted_at: float
    edits: tuple[MessageVersion, ...] = ()
    replies: tuple[PostedMessage, ...] = ()
    deleted: bool = False
    source: str = "chat.postMessage"

    @property
    def is_reply(self) -> bool:
        """True for a thread reply."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True)
class Ephemeral:
    """A message only `user` saw; `source` says how it got there (chat.postEphemeral, response_url, ack)."""

    channel: str
    user: str
    text: str
    blocks: list[Json]
    thread_ts: str | None
    message_ts: str
    source: str
    at: float


@dataclass(frozen=True)
class ViewSnapshot:
    """A modal or App Home view: its current definition, hash and the values the user has entered."""

    id: str
    user: str
    type: str
    callback_id: str
    external_id: str
    title: str
    blocks: list[Json]
    private_metadata: str
    hash: str
    state_values: dict[str, dict[str, Json]]
    root_view_id: str
    previous_view_id: str | None
    is_open: bool
    notify_on_close: bool
    definition: Json
    versions: int = 1


@dataclass(frozen=True)
class FileRecord:
    """A file the bot uploaded (v1 or the external-upload flow) and where it was shared."""

    id: str
    name: str
    title: str
    content: bytes
    channels: tuple[str, ...]
    initial_comment: str
    thread_ts: str | None
    created: float
    via: str


@dataclass(frozen=True)
class CallRecord:
    """One Web API call: params without the token, the HTTP status and the JSON answer."""

    method: str
    params: Json
    status: int
    response: Json
    at: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether Slack said `ok: true`."""
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """Slack's error code, if any."""
        err = self.response.get("error")
        return str(err) if err is not None else None


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST the bot made to a `response_url`, and what Slack did with it."""

    url_id: str
    user: str
    channel: str
    body: Json
    status: int
    outcome: str
    at: float


@dataclass(frozen=True)
class TimelineEvent:
    """One visible thing that happened, in order: a post, an edit, an ephemeral, a view change, a file."""

    seq: int
    at: float
    kind: str
    user: str | None = None
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    view_id: str | None = None
    text: str = ""
    blocks: list[Json] = field(default_factory=list)
    detail: Json = field(default_factory=dict)
