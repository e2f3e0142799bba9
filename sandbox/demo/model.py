"""What the Slack stand-in saw, regrouped for a transcript: messages with their versions and replies, and
the chronological items (commands, clicks, posts, edits, ephemerals, modal steps) both renderers walk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sandbox.demo import mrkdwn
from sandbox.demo.blocks_text import PLAIN, option_text, text_object, title_of
from sandbox.demo.directory import UTC, Directory
from sandbox.slack.records import TimelineEvent
from sandbox.slack.server import SlackStandIn

Json = dict[str, Any]


@dataclass(frozen=True)
class Version:
    """One state of a message (the first post, or after an edit)."""

    text: str
    blocks: list[Json]
    at: float


@dataclass(frozen=True)
class Message:
    """A channel message or thread reply with every version it had; `replies` are reply timestamps."""

    channel: str
    ts: str
    user: str
    thread_ts: str | None
    broadcast: bool
    versions: tuple[Version, ...]
    files: tuple[Json, ...] = ()
    replies: tuple[str, ...] = ()
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        """True for a thread reply."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def current(self) -> Version:
        """The final version (edits applied)."""
        return self.versions[-1]

    @property
    def first(self) -> Version:
        """The version as first posted."""
        return self.versions[0]

    @property
    def edited(self) -> bool:
        """Whether it was edited after posting."""
        return len(self.versions) > 1


@dataclass(frozen=True)
class Command:
    """Someone typed a slash command."""

    seq: int
    at: float
    user: str
    channel: str | None
    text: str


@dataclass(frozen=True)
class Click:
    """Someone clicked or picked an element: `verb` is e.g. `clicked`, `label` what they clicked or picked."""

    seq: int
    at: float
    user: str
    verb: str
    label: str
    element: str
    target: str
    style: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    view_id: str | None = None


@dataclass(frozen=True)
class Posted:
    """A message or reply appeared."""

    seq: int
    at: float
    channel: str
    ts: str


@dataclass(frozen=True)
class Edited:
    """A message was edited; `version` indexes `Message.versions`; `final` marks its last edit."""

    seq: int
    at: float
    channel: str
    ts: str
    version: int
    final: bool = False


@dataclass(frozen=True)
class Deleted:
    """A message was deleted."""

    seq: int
    at: float
    channel: str
    ts: str


@dataclass(frozen=True)
class EphemeralShown:
    """A message only `user` saw (`replaced` when it replaced an earlier ephemeral in place)."""

    seq: int
    at: float
    user: str
    channel: str | None
    ts: str | None
    thread_ts: str | None
    text: str
    blocks: list[Json]
    replaced: bool = False


ModalKind = Literal["opened", "pushed", "updated", "submitted", "errors", "closed"]


@dataclass(frozen=True)
class ModalStep:
    """A modal opened (with the form as the user finally saw it), submitted (with values), refused, closed."""

    seq: int
    at: float
    kind: ModalKind
    user: str
    view_id: str
    title: str
    blocks: list[Json] = field(default_factory=list)
    values: tuple[tuple[str, str], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    updates: int = 0


@dataclass(frozen=True)
class FileShared:
    """A file that was uploaded without a message showing it."""

    seq: int
    at: float
    channel: str | None
    name: str
    title: str


Item = Command | Click | Posted | Edited | Deleted | EphemeralShown | ModalStep | FileShared


@dataclass(frozen=True)
class Transcript:
    """A conversation ready to render: chronological items plus messages by (channel, ts)."""

    items: tuple[Item, ...]
    messages: Mapping[tuple[str, str], Message]
    directory: Directory
    channel: str | None = None

    @classmethod
    def from_stand_in(
        cls, stand_in: SlackStandIn, *, channel: str | None = None, tz: dt.tzinfo = UTC
    ) -> Transcript:
        """Everything the stand-in saw in `channel` (id or #name; None = every conversation)."""
        titles = {v.id: v.title for v in stand_in.views(include_closed=True)}
        directory = Directory.from_stand_in(stand_in, tz=tz)
        channel_id = directory.channel_id(channel) if channel else None
        return _Builder(directory, channel_id, titles).build(stand_in.timeline())

    @classmethod
    def from_timeline(
        cls,
        events: Iterable[TimelineEvent],
        *,
        channel: str | None = None,
        directory: Directory | None = None,
    ) -> Transcript:
        """A transcript from timeline events (names from `directory`, else the sandbox's defaults)."""
        names = directory or Directory.sandbox_defaults()
        channel_id = names.channel_id(channel) if channel else None
        return _Builder(names, channel_id).build(events)

    @property
    def title(self) -> str:
        """`#migrations`, or a generic title for a transcript of several conversations."""
        return f"#{self.directory.channel(self.channel)}" if self.channel else "All conversations"

    def message(self, channel: str, ts: str) -> Message:
        """A message by channel and ts."""
        return self.messages[(channel, ts)]

    def parent_of(self, message: Message) -> Message | None:
        """The thread parent of a reply."""
        if not message.is_reply or message.thread_ts is None:
            return None
        return self.messages.get((message.channel, message.thread_ts))

    def replies_of(self, message: Message) -> list[Message]:
        """A parent's replies in order, deleted ones left out."""
        found = (self.messages.get((message.channel, ts)) for ts in message.replies)
        return [r for r in found if r is not None and not r.deleted]

    def title_of(self, message: Message, *, version: int = 0) -> str:
        """A short name for a message (from the given version, the first by default)."""
        shown = message.versions[version]
        return title_of(shown.text, shown.blocks, self.directory)


@dataclass
class _Draft:
    channel: str
    ts: str
    user: str
    thread_ts: str | None
    broadcast: bool
    versions: list[Version]
    files: list[Json]
    replies: list[str] = field(default_factory=list)
    deleted: bool = False


@dataclass
class _View:
    title: str = "Modal"
    blocks: list[Json] = field(default_factory=list)


_VIEW_SHOWN: dict[str, ModalKind] = {
    "view_opened": "opened",
    "view_pushed": "pushed",
    "view_updated": "updated",
}


class _Builder:
    """One pass over the timeline; modal updates before a submission fold into the card of the opening."""

    def __init__(
        self, names: Directory, channel: str | None, titles: Mapping[str, str] | None = None
    ) -> None:
        self.names = names
        self.channel = channel
        self.titles = titles or {}
        self.items: list[Item] = []
        self.drafts: dict[tuple[str, str], _Draft] = {}
        self.views: dict[str, _View] = {}
        self.open_cards: dict[str, int] = {}
        self.file_ids: set[str] = set()

    def in_scope(self, channel: str | None) -> bool:
        return self.channel is None or channel is None or channel == self.channel

    def build(self, events: Iterable[TimelineEvent]) -> Transcript:
        for event in events:
            self.add(event)
        last_edit: dict[tuple[str, str], int] = {}
        for i, item in enumerate(self.items):
            if isinstance(item, Edited):
                last_edit[(item.channel, item.ts)] = i
        for i in last_edit.values():
            edited = self.items[i]
            assert isinstance(edited, Edited)
            self.items[i] = replace(edited, final=True)
        messages = {
            key: Message(
                channel=d.channel,
                ts=d.ts,
                user=d.user,
                thread_ts=d.thread_ts,
                broadcast=d.broadcast,
                versions=tuple(d.versions),
                files=tuple(d.files),
                replies=tuple(d.replies),
                deleted=d.deleted,
            )
            for key, d in self.drafts.items()
        }
        return Transcript(tuple(self.items), messages, self.names, self.channel)

    def add(self, e: TimelineEvent) -> None:
        if e.kind in ("message", "reply"):
            self.posted(e)
        elif e.kind in ("edit", "delete"):
            self.changed(e)
        elif e.kind in ("ephemeral", "ephemeral_replaced"):
            if self.in_scope(e.channel):
                self.items.append(
                    EphemeralShown(
                        e.seq,
                        e.at,
                        e.user or "",
                        e.channel,
                        e.ts,
                        e.thread_ts,
                        e.text,
                        list(e.blocks),
                        replaced=e.kind == "ephemeral_replaced",
                    )
                )
        elif e.kind == "command":
            if self.in_scope(e.channel):
                self.items.append(Command(e.seq, e.at, e.user or "", e.channel, e.text))
        elif e.kind == "action":
            if self.in_scope(e.channel) or e.view_id:
                self.items.append(self.click(e))
        elif e.kind in _VIEW_SHOWN:
            self.view_shown(e)
        elif e.kind in ("view_submitted", "view_errors", "view_closed"):
            self.view_done(e)
        elif e.kind == "file":
            self.file(e)

    def posted(self, e: TimelineEvent) -> None:
        if e.channel is None or e.ts is None or not self.in_scope(e.channel):
            return
        files = [f for f in e.detail.get("files") or [] if isinstance(f, dict)]
        self.file_ids.update(str(f.get("id")) for f in files)
        draft = _Draft(
            channel=e.channel,
            ts=e.ts,
            user=e.user or "",
            thread_ts=e.thread_ts,
            broadcast=bool(e.detail.get("reply_broadcast")),
            versions=[Version(e.text, list(e.blocks), e.at)],
            files=files,
        )
        self.drafts[(e.channel, e.ts)] = draft
        parent = self.drafts.get((e.channel, e.thread_ts)) if e.thread_ts and e.thread_ts != e.ts else None
        if parent is not None:
            parent.replies.append(e.ts)
        self.items.append(Posted(e.seq, e.at, e.channel, e.ts))

    def changed(self, e: TimelineEvent) -> None:
        draft = self.drafts.get((e.channel or "", e.ts or ""))
        if draft is None:
            return
        if e.kind == "delete":
            draft.deleted = True
            self.items.append(Deleted(e.seq, e.at, draft.channel, draft.ts))
            return
        draft.versions.append(Version(e.text, list(e.blocks), e.at))
        self.items.append(Edited(e.seq, e.at, draft.channel, draft.ts, len(draft.versions) - 1))

    def click(self, e: TimelineEvent) -> Click:
        action = e.detail.get("action") if isinstance(e.detail.get("action"), dict) else {}
        assert isinstance(action, dict)
        element = str(action.get("type", ""))
        verb = {"button": "clicked", "workflow_button": "clicked", "overflow": "chose"}.get(element, "picked")
        if element in ("datepicker", "timepicker", "datetimepicker", "plain_text_input", "number_input"):
            verb = "entered"
        target = ""
        if e.view_id:
            view = self.views.get(e.view_id)
            where = _block_label(view.blocks, str(action.get("block_id")), self.names) if view else ""
            target = (
                f"for {where} in “{view.title}”" if view and where else f"in “{view.title}”" if view else ""
            )
        elif e.channel and e.ts and (draft := self.drafts.get((e.channel, e.ts))):
            shown = draft.versions[-1]
            target = f"on “{title_of(shown.text, shown.blocks, self.names)}”"
        return Click(
            e.seq,
            e.at,
            e.user or "",
            verb,
            self.action_label(action, e.text),
            element,
            target,
            style=str(action["style"]) if action.get("style") else None,
            channel=e.channel,
            message_ts=e.ts,
            view_id=e.view_id,
        )

    def action_label(self, action: Json, fallback: str) -> str:
        for key, prefix, lookup in (
            ("selected_user", "@", self.names.user),
            ("selected_conversation", "#", self.names.channel),
            ("selected_channel", "#", self.names.channel),
        ):
            if action.get(key):
                return prefix + lookup(str(action[key]))
        if action.get("selected_date_time"):
            return _when(action["selected_date_time"], self.names.tz)
        return fallback

    def view_shown(self, e: TimelineEvent) -> None:
        if e.view_id is None or e.detail.get("type") == "home":
            return
        view = self.views.setdefault(e.view_id, _View(self.titles.get(e.view_id, "Modal")))
        view.title = e.text or view.title
        view.blocks = list(e.blocks)
        kind = _VIEW_SHOWN[e.kind]
        card = self.open_cards.get(e.view_id)
        if kind == "updated" and card is not None:
            step = self.items[card]
            assert isinstance(step, ModalStep)
            self.items[card] = replace(step, title=view.title, blocks=view.blocks, updates=step.updates + 1)
            return
        self.open_cards[e.view_id] = len(self.items)
        self.items.append(ModalStep(e.seq, e.at, kind, e.user or "", e.view_id, view.title, view.blocks))

    def view_done(self, e: TimelineEvent) -> None:
        if e.view_id is None:
            return
        self.open_cards.pop(e.view_id, None)
        view = self.views.get(e.view_id) or _View(self.titles.get(e.view_id, "Modal"))
        user = e.user or ""
        if e.kind == "view_submitted":
            values = _submitted(view.blocks, e.detail.get("values") or {}, self.names)
            self.items.append(ModalStep(e.seq, e.at, "submitted", user, e.view_id, view.title, values=values))
        elif e.kind == "view_errors":
            errors = tuple(
                (_block_label(view.blocks, str(block_id), self.names) or str(block_id), str(message))
                for block_id, message in (e.detail.get("errors") or {}).items()
            )
            self.items.append(ModalStep(e.seq, e.at, "errors", user, e.view_id, view.title, errors=errors))
        elif e.detail.get("reason") == "closed":
            self.items.append(ModalStep(e.seq, e.at, "closed", user, e.view_id, view.title))

    def file(self, e: TimelineEvent) -> None:
        if str(e.detail.get("file_id")) in self.file_ids or not self.in_scope(e.channel):
            return
        name = str(e.detail.get("name") or e.text or "file")
        self.items.append(FileShared(e.seq, e.at, e.channel, name, e.text or name))


def _block_label(blocks: Sequence[Json], block_id: str, names: Directory) -> str:
    for block in blocks:
        if block.get("block_id") != block_id:
            continue
        if block.get("type") == "input":
            return text_object(block.get("label"), names, PLAIN)
        if block.get("type") == "section" and block.get("text"):
            return text_object(block.get("text"), names, PLAIN).split("\n")[0]
    return ""


def _submitted(
    blocks: Sequence[Json], values: Mapping[str, Any], names: Directory
) -> tuple[tuple[str, str], ...]:
    """`(label, value)` per input, in the form's order; blocks the form no longer shows keep their id."""
    order = [str(b.get("block_id")) for b in blocks if b.get("type") == "input"]
    ids = [b for b in order if b in values] + [b for b in values if b not in order]
    out: list[tuple[str, str]] = []
    for block_id in ids:
        by_action = values.get(block_id)
        if not isinstance(by_action, dict):
            continue
        label = _block_label(blocks, block_id, names) or block_id
        shown = [state_value(entry, names) for entry in by_action.values() if isinstance(entry, dict)]
        out.append((label, ", ".join(s for s in shown if s) or "—"))
    return tuple(out)


def state_value(entry: Json, names: Directory) -> str:
    """One `view.state.values` entry as the user would read it."""
    if isinstance(entry.get("selected_option"), dict):
        return option_text(entry["selected_option"], names)
    if isinstance(entry.get("selected_options"), list):
        return ", ".join(option_text(o, names) for o in entry["selected_options"])
    singles = (("selected_user", "@", names.user), ("selected_conversation", "#", names.channel))
    for key, prefix, lookup in (*singles, ("selected_channel", "#", names.channel)):
        if entry.get(key):
            return prefix + lookup(str(entry[key]))
    for key, prefix, lookup in (
        ("selected_users", "@", names.user),
        ("selected_conversations", "#", names.channel),
        ("selected_channels", "#", names.channel),
    ):
        if isinstance(entry.get(key), list):
            return ", ".join(prefix + lookup(str(v)) for v in entry[key])
    if entry.get("selected_date_time") is not None:
        return _when(entry["selected_date_time"], names.tz)
    if isinstance(entry.get("rich_text_value"), dict):
        return mrkdwn.plain_text_of(mrkdwn.rich_text(entry["rich_text_value"], names))
    if isinstance(entry.get("files"), list):
        return ", ".join(str(f.get("name", "file")) for f in entry["files"] if isinstance(f, dict))
    for key in ("value", "selected_date", "selected_time"):
        if entry.get(key) not in (None, ""):
            return str(entry[key])
    rest = {k: v for k, v in entry.items() if k != "type" and v not in (None, "", [])}
    return json.dumps(rest, ensure_ascii=False) if rest else ""


def _when(epoch: object, tz: dt.tzinfo) -> str:
    try:
        return dt.datetime.fromtimestamp(int(str(epoch)), tz).strftime("%Y-%m-%d %H:%M %Z")
    except (ValueError, OverflowError, OSError):
        return str(epoch)


def as_transcript(source: Transcript | SlackStandIn | Iterable[TimelineEvent]) -> Transcript:
    """Accept a ready transcript, a stand-in (every conversation) or bare timeline events."""
    if isinstance(source, Transcript):
        return source
    if isinstance(source, SlackStandIn):
        return Transcript.from_stand_in(source)
    return Transcript.from_timeline(source)
