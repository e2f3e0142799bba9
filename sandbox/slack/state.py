"""What the stand-in remembers: messages and threads, ephemerals, triggers, response URLs, files, calls."""

from __future__ import annotations

import copy
import random
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.slack.clock import Clock
from sandbox.slack.errors import ApiError
from sandbox.slack.records import (
    CallRecord,
    Ephemeral,
    FileRecord,
    MessageVersion,
    PostedMessage,
    ResponseUrlPost,
    TimelineEvent,
)
from sandbox.slack.views import ViewStore
from sandbox.slack.workspace import Workspace

Json = dict[str, Any]

TRIGGER_LIFETIME = 3.0  # Slack: a trigger_id must be exchanged within 3 seconds.
RESPONSE_URL_LIFETIME = 30 * 60.0  # Slack: a response_url works for 30 minutes...
RESPONSE_URL_USES = 5  # ...and at most 5 times.


@dataclass
class StoredMessage:
    """A live channel message."""

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
    source: str
    is_bot: bool = True
    edits: list[MessageVersion] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    deleted: bool = False
    edited_ts: str | None = None


@dataclass
class Trigger:
    """An interaction's trigger_id: one user, one use, three seconds."""

    id: str
    user: str
    issued_at: float
    view_id: str | None
    exchanged: bool = False


@dataclass
class ResponseUrl:
    """A response_url handed to the bot with a command or a message interaction."""

    id: str
    user: str
    channel: str
    issued_at: float
    message_ts: str | None
    uses: int = 0


@dataclass
class StoredFile:
    """A file in any stage of upload."""

    id: str
    name: str
    title: str
    length: int | None
    upload_key: str
    created: float
    via: str
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str = ""
    thread_ts: str | None = None
    completed: bool = False
    shares: dict[str, list[str]] = field(default_factory=dict)


class SlackState:
    """The stand-in's memory; every public method takes the lock, so HTTP threads can share it."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        clock: Clock,
        rng: random.Random,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
    ) -> None:
        self.lock = threading.RLock()
        self.workspace = workspace
        self.rng = rng
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.base_url = ""
        self.views = ViewStore(rng, team_id=workspace.team_id, app_id=app_id, bot_id=bot_id)
        self._clock = clock
        self._offset = 0.0
        self._last_micros = 0
        self._messages: dict[str, dict[str, StoredMessage]] = {}
        self._history: dict[str, list[str]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._triggers: dict[str, Trigger] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._response_posts: list[ResponseUrlPost] = []
        self._files: dict[str, StoredFile] = {}
        self._scheduled: list[Json] = []
        self._timeline: list[TimelineEvent] = []
        self._calls: list[CallRecord] = []

    # -- time and ids -------------------------------------------------------------------------------

    def now(self) -> float:
        """Epoch seconds as the stand-in sees them (clock plus any `advance`)."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the stand-in's time forward, e.g. to expire trigger ids without sleeping."""
        with self.lock:
            self._offset += seconds

    def new_ts(self) -> str:
        """A strictly increasing message timestamp (`1712345678.000100`)."""
        with self.lock:
            micros = max(int(self.now() * 1_000_000), self._last_micros + 1)
            self._last_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def random_id(self, prefix: str, length: int = 10) -> str:
        """A Slack-looking id."""
        with self.lock:
            return prefix + "".join(
                self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(length)
            )

    # -- timeline and calls -------------------------------------------------------------------------

    def event(self, kind: str, **fields: Any) -> None:
        """Append to the timeline."""
        with self.lock:
            blocks = copy.deepcopy(fields.pop("blocks", None) or [])
            self._timeline.append(
                TimelineEvent(seq=len(self._timeline) + 1, at=self.now(), kind=kind, blocks=blocks, **fields)
            )

    def timeline(self) -> list[TimelineEvent]:
        """Everything visible that happened, in order."""
        with self.lock:
            return list(self._timeline)

    def record_call(self, call: CallRecord) -> None:
        """Remember one Web API call."""
        with self.lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[CallRecord]:
        """Recorded calls, optionally of one method."""
        with self.lock:
            return [c for c in self._calls if method is None or c.method == method]

    def reset_calls(self) -> None:
        """Forget recorded calls."""
        with self.lock:
            self._calls.clear()

    # -- messages -----------------------------------------------------------------------------------

    def post_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[Json],
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        metadata: Json | None = None,
        files: list[Json] | None = None,
        source: str = "chat.postMessage",
        user: str | None = None,
    ) -> StoredMessage:
        """Add a message (or a thread reply) to a channel."""
        with self.lock:
            parent: StoredMessage | None = None
            if thread_ts is not None:
                parent = self.find_message(channel, thread_ts, error="thread_not_found")
                if parent.thread_ts and parent.thread_ts != parent.ts:
                    parent = self.find_message(channel, parent.thread_ts, error="thread_not_found")
            msg = StoredMessage(
                channel=channel,
                ts=self.new_ts(),
                user=user or self.bot_user_id,
                text=text,
                blocks=copy.deepcopy(blocks),
                thread_ts=parent.ts if parent else None,
                reply_broadcast=bool(parent and reply_broadcast),
                metadata=copy.deepcopy(metadata),
                files=copy.deepcopy(files or []),
                posted_at=self.now(),
                source=source,
                is_bot=user is None or user == self.bot_user_id,
            )
            self._messages.setdefault(channel, {})[msg.ts] = msg
            if parent is not None:
                parent.replies.append(msg.ts)
                if parent.thread_ts is None:
                    parent.thread_ts = parent.ts
            if parent is None or msg.reply_broadcast:
                self._history.setdefault(channel, []).append(msg.ts)
            self.event(
                "reply" if parent else "message",
                user=msg.user,
                channel=channel,
                ts=msg.ts,
                thread_ts=msg.thread_ts,
                text=text,
                blocks=blocks,
                detail={
                    "reply_broadcast": msg.reply_broadcast,
                    "source": source,
                    "metadata": copy.deepcopy(metadata),
                    "files": copy.deepcopy(files or []),
                },
            )
            return msg

    def find_message(self, channel: str, ts: str, *, error: str = "message_not_found") -> StoredMessage:
        """A live message by channel and ts."""
        with self.lock:
            msg = self._messages.get(channel, {}).get(ts)
            if msg is None or msg.deleted:
                raise ApiError(error)
            return msg

    def update_message(
        self,
        msg: StoredMessage,
        *,
        text: str | None,
        blocks: list[Json] | None,
        metadata: Json | None,
        source: str = "chat.update",
    ) -> StoredMessage:
        """Edit a message in place, keeping what it was before in `edits`."""
        with self.lock:
            msg.edits.append(
                MessageVersion(msg.text, copy.deepcopy(msg.blocks), copy.deepcopy(msg.metadata), self.now())
            )
            if text is not None:
                msg.text = text
            if blocks is not None:
                msg.blocks = copy.deepcopy(blocks)
            if metadata is not None:
                msg.metadata = copy.deepcopy(metadata)
            msg.edited_ts = self.new_ts()
            self.event(
                "edit",
                user=msg.user,
                channel=msg.channel,
                ts=msg.ts,
                thread_ts=msg.thread_ts,
                text=msg.text,
                blocks=msg.blocks,
                detail={"version": len(msg.edits) + 1, "source": source},
            )
            return msg

    def delete_message(self, msg: StoredMessage, *, source: str = "chat.delete") -> None:
        """Delete a message; a parent with replies leaves a tombstone."""
        with self.lock:
            msg.deleted = True
            self.event(
                "delete", channel=msg.channel, ts=msg.ts, thread_ts=msg.thread_ts, detail={"source": source}
            )

    def history(self, channel: str) -> list[StoredMessage]:
        """Top-level messages (parents and broadcast replies), oldest first, not deleted."""
        with self.lock:
            msgs = self._messages.get(channel, {})
            return [msgs[ts] for ts in self._history.get(channel, []) if not msgs[ts].deleted]

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """A parent and its replies, oldest first."""
        with self.lock:
            parent = self.find_message(channel, ts, error="thread_not_found")
            if parent.thread_ts and parent.thread_ts != parent.ts:
                parent = self.find_message(channel, parent.thread_ts, error="thread_not_found")
            msgs = self._messages[channel]
            return [parent] + [msgs[r] for r in parent.replies if not msgs[r].deleted]

    def message_to_api(self, msg: StoredMessage, *, include_metadata: bool = True) -> Json:
        """Slack's message object."""
        with self.lock:
            data: Json = {
                "type": "message",
                "user": msg.user,
                "text": msg.text,
                "ts": msg.ts,
                "team": self.workspace.team_id,
            }
            if msg.is_bot:
                data.update(bot_id=self.bot_id, app_id=self.app_id)
            if msg.blocks:
                data["blocks"] = copy.deepcopy(msg.blocks)
            if msg.files:
                data["files"] = copy.deepcopy(msg.files)
                data["upload"] = True
            if msg.thread_ts:
                data["thread_ts"] = msg.thread_ts
            if msg.reply_broadcast:
                data["subtype"] = "thread_broadcast"
            live = [r for r in msg.replies if not self._messages[msg.channel][r].deleted]
            if msg.thread_ts == msg.ts:
                data["reply_count"] = len(live)
                users = sorted({self._messages[msg.channel][r].user for r in live})
                data["reply_users"] = users
                data["reply_users_count"] = len(users)
                data["latest_reply"] = live[-1] if live else msg.ts
            if msg.edited_ts:
                data["edited"] = {"user": msg.user, "ts": msg.edited_ts}
            if msg.metadata is not None and include_metadata:
                data["metadata"] = copy.deepcopy(msg.metadata)
            return data

    def channel_messages(self, channel: str) -> list[PostedMessage]:
        """Parents in order with current content, edits and replies; deleted ones only as tombstones."""
        with self.lock:
            msgs = self._messages.get(channel, {})
            out: list[PostedMessage] = []
            for msg in msgs.values():
                if msg.thread_ts not in (None, msg.ts):
                    continue
                replies = tuple(self._snapshot(msgs[r], ()) for r in msg.replies if not msgs[r].deleted)
                if msg.deleted and not replies:
                    continue
                out.append(self._snapshot(msg, replies))
            return out

    def _snapshot(self, msg: StoredMessage, replies: tuple[PostedMessage, ...]) -> PostedMessage:
        return PostedMessage(
            channel=msg.channel,
            ts=msg.ts,
            user=msg.user,
            text="" if msg.deleted else msg.text,
            blocks=[] if msg.deleted else copy.deepcopy(msg.blocks),
            thread_ts=msg.thread_ts,
            reply_broadcast=msg.reply_broadcast,
            metadata=copy.deepcopy(msg.metadata),
            files=copy.deepcopy(msg.files),
            posted_at=msg.posted_at,
            edits=tuple(msg.edits),
            replies=replies,
            deleted=msg.deleted,
            source=msg.source,
        )

    def message_snapshot(self, channel: str, ts: str) -> PostedMessage:
        """One message (a parent with its replies, or a reply)."""
        with self.lock:
            msg = self.find_message(channel, ts)
            msgs = self._messages[channel]
            replies = tuple(self._snapshot(msgs[r], ()) for r in msg.replies if not msgs[r].deleted)
            return self._snapshot(msg, replies)

    def schedule(self, entry: Json) -> None:
        """Remember a scheduled message (the stand-in never delivers it by itself)."""
        with self.lock:
            self._scheduled.append(copy.deepcopy(entry))

    def scheduled(self) -> list[Json]:
        """Scheduled messages."""
        with self.lock:
            return copy.deepcopy(self._scheduled)

    # -- ephemerals ---------------------------------------------------------------------------------

    def post_ephemeral(
        self, channel: str, user: str, *, text: str, blocks: list[Json], thread_ts: str | None, source: str
    ) -> Ephemeral:
        """Show a message to one user only."""
        with self.lock:
            eph = Ephemeral(
                channel=channel,
                user=user,
                text=text,
                blocks=copy.deepcopy(blocks),
                thread_ts=thread_ts,
                message_ts=self.new_ts(),
                source=source,
                at=self.now(),
            )
            self._ephemerals.append(eph)
            self.event(
                "ephemeral",
                user=user,
                channel=channel,
                ts=eph.message_ts,
                thread_ts=thread_ts,
                text=text,
                blocks=blocks,
                detail={"source": source},
            )
            return eph

    def replace_ephemeral(self, old: Ephemeral, *, text: str, blocks: list[Json], source: str) -> Ephemeral:
        """Replace an ephemeral the user is looking at (response_url with replace_original)."""
        with self.lock:
            new = Ephemeral(
                channel=old.channel,
                user=old.user,
                text=text,
                blocks=copy.deepcopy(blocks),
                thread_ts=old.thread_ts,
                message_ts=old.message_ts,
                source=source,
                at=self.now(),
            )
            self._ephemerals[self._ephemerals.index(old)] = new
            self.event(
                "ephemeral_replaced",
                user=old.user,
                channel=old.channel,
                ts=old.message_ts,
                text=text,
                blocks=blocks,
                detail={"source": source},
            )
            return new

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages, optionally for one user."""
        with self.lock:
            return [e for e in self._ephemerals if user is None or e.user == user]

    def find_ephemeral(self, message_ts: str) -> Ephemeral | None:
        """An ephemeral by its message_ts."""
        with self.lock:
            return next((e for e in self._ephemerals if e.message_ts == message_ts), None)

    # -- triggers and response URLs -----------------------------------------------------------------

    def issue_trigger(self, user: str, *, view_id: str | None = None) -> str:
        """A fresh trigger_id for an interaction by `user` (inside `view_id` when it came from a view)."""
        with self.lock:
            trigger_id = (
                f"{int(self.now())}.{self.rng.randrange(10**9, 10**10)}.{self.rng.getrandbits(128):032x}"
            )
            self._triggers[trigger_id] = Trigger(trigger_id, user, self.now(), view_id)
            return trigger_id

    def exchange_trigger(self, trigger_id: str | None) -> Trigger:
        """Use a trigger_id once, within its three seconds."""
        with self.lock:
            trigger = self._triggers.get(trigger_id or "")
            if trigger is None:
                raise ApiError("invalid_trigger_id")
            if trigger.exchanged:
                raise ApiError("exchanged_trigger_id")
            if self.now() - trigger.issued_at > TRIGGER_LIFETIME:
                raise ApiError("expired_trigger_id")
            trigger.exchanged = True
            return trigger

    def issue_response_url(self, user: str, channel: str, *, message_ts: str | None = None) -> str:
        """A response_url served by the stand-in (`<base>/response/<id>`)."""
        with self.lock:
            if not self.base_url:
                raise RuntimeError("start the stand-in before issuing response URLs")
            url_id = self.random_id("R", 16)
            self._response_urls[url_id] = ResponseUrl(url_id, user, channel, self.now(), message_ts)
            return f"{self.base_url}/response/{url_id}"

    def response_url(self, url_id: str) -> ResponseUrl | None:
        """A response URL by id."""
        with self.lock:
            return self._response_urls.get(url_id)

    def record_response_post(self, post: ResponseUrlPost) -> None:
        """Remember one POST to a response_url."""
        with self.lock:
            self._response_posts.append(post)

    def response_posts(self) -> list[ResponseUrlPost]:
        """Every POST to a response_url, in order."""
        with self.lock:
            return list(self._response_posts)

    # -- files --------------------------------------------------------------------------------------

    def new_file(self, *, name: str, title: str, length: int | None, via: str) -> StoredFile:
        """Reserve a file id and an upload key."""
        with self.lock:
            stored = StoredFile(
                id=self.random_id("F"),
                name=name,
                title=title,
                length=length,
                upload_key=self.random_id("", 24).lower(),
                created=self.now(),
                via=via,
            )
            self._files[stored.id] = stored
            return stored

    def file(self, file_id: str) -> StoredFile | None:
        """A file by id."""
        with self.lock:
            return self._files.get(file_id)

    def file_by_upload_key(self, key: str) -> StoredFile | None:
        """The file an upload URL belongs to."""
        with self.lock:
            return next((f for f in self._files.values() if f.upload_key == key), None)

    def file_to_api(self, stored: StoredFile) -> Json:
        """Slack's file object."""
        with self.lock:
            size = len(stored.content or b"")
            return {
                "id": stored.id,
                "created": int(stored.created),
                "timestamp": int(stored.created),
                "name": stored.name,
                "title": stored.title,
                "mimetype": "text/plain",
                "filetype": stored.name.rsplit(".", 1)[-1] if "." in stored.name else "text",
                "user": self.bot_user_id,
                "user_team": self.workspace.team_id,
                "size": size,
                "mode": "hosted",
                "is_external": False,
                "is_public": bool(stored.channels),
                "url_private": f"{self.base_url}/files/{stored.id}/{stored.name}",
                "url_private_download": f"{self.base_url}/files/{stored.id}/{stored.name}",
                "permalink": f"https://{self.workspace.team_id.lower()}.slack.example/files/{stored.id}",
                "channels": list(stored.channels),
                "shares": {
                    "public": {c: [{"ts": ts} for ts in stored.shares.get(c, [])] for c in stored.channels}
                },
            }

    def share_files(
        self, files: list[StoredFile], channels: list[str], *, initial_comment: str, thread_ts: str | None
    ) -> None:
        """Mark files complete and post one file message per channel."""
        with self.lock:
            for stored in files:
                stored.completed = True
                stored.initial_comment = initial_comment
                stored.thread_ts = thread_ts
                stored.channels.extend(c for c in channels if c not in stored.channels)
            for channel in channels:
                summary = [{"id": f.id, "name": f.name, "title": f.title} for f in files]
                msg = self.post_message(
                    channel,
                    text=initial_comment,
                    blocks=[],
                    thread_ts=thread_ts,
                    files=summary,
                    source="files",
                )
                for stored in files:
                    stored.shares.setdefault(channel, []).append(msg.ts)
            for stored in files:
                self.event(
                    "file",
                    channel=channels[0] if channels else None,
                    thread_ts=thread_ts,
                    text=stored.title,
                    detail={
                        "file_id": stored.id,
                        "name": stored.name,
                        "channels": list(channels),
                        "via": stored.via,
                    },
                )

    def files(self) -> list[FileRecord]:
        """Completed uploads, oldest first."""
        with self.lock:
            return [
                FileRecord(
                    id=f.id,
                    name=f.name,
                    title=f.title,
                    content=f.content or b"",
                    channels=tuple(f.channels),
                    initial_comment=f.initial_comment,
                    thread_ts=f.thread_ts,
                    created=f.created,
                    via=f.via,
                )
                for f in self._files.values()
                if f.completed
            ]
