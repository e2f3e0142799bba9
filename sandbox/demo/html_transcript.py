"""The transcript as one self-contained HTML page that looks like a Slack channel (no scripts, no assets)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from importlib import resources

from sandbox.demo.blocks_html import BlockHtml, bars_html, esc
from sandbox.demo.blocks_text import message_lines
from sandbox.demo.model import (
    Click,
    Command,
    EphemeralShown,
    FileShared,
    Item,
    Message,
    ModalStep,
    Posted,
    Transcript,
    as_transcript,
)
from sandbox.demo.text_transcript import digest
from sandbox.slack.records import TimelineEvent
from sandbox.slack.server import SlackStandIn

AVATAR_COLOURS = 8


def render_html(
    source: Transcript | SlackStandIn | Iterable[TimelineEvent],
    *,
    title: str | None = None,
    intro: Sequence[str] = (),
) -> str:
    """A Slack-like channel page: final messages with edit history and threads, modals as side cards.

    `intro` paragraphs (plain text) open the page above the channel, e.g. what a demo shows and how.
    """
    transcript = as_transcript(source)
    return _Page(transcript, title or f"{transcript.title} — smc-bot transcript", intro).render()


def stylesheet() -> str:
    """The page's CSS (inlined into every page)."""
    return resources.files("sandbox.demo").joinpath("transcript.css").read_text(encoding="utf-8")


def initials(name: str) -> str:
    """`Riley Requester` -> `RR`, `smc-bot` -> `S`."""
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def avatar_class(user_id: str) -> str:
    """A stable colour per person."""
    return f"av{sum(map(ord, user_id)) % AVATAR_COLOURS}"


def anchor(message: Message) -> str:
    """The element id of a message."""
    return "m-" + message.ts.replace(".", "-")


class _Page:
    def __init__(self, transcript: Transcript, title: str, intro: Sequence[str] = ()) -> None:
        self.t = transcript
        self.names = transcript.directory
        self.title = title
        self.intro = tuple(intro)
        self.bk = BlockHtml(self.names)
        self.last_ephemeral: dict[str, EphemeralShown] = {}
        for item in transcript.items:
            if isinstance(item, EphemeralShown) and item.ts:
                self.last_ephemeral[item.ts] = item

    def render(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(self.title)}</title>\n<style>\n{stylesheet()}</style>\n</head>\n<body>\n"
            f'<div class="app">\n{self.sidebar()}\n<main class="channel">\n{self.header()}\n'
            f'{self.introduction()}<div class="feed">\n{self.feed()}</div>\n'
            "</main>\n</div>\n</body>\n</html>\n"
        )

    # -- frame --------------------------------------------------------------------------------------

    def sidebar(self) -> str:
        channels = []
        for cid, name in sorted(self.names.channels.items(), key=lambda kv: kv[1]):
            if cid.startswith("D"):
                continue
            active = " active" if cid == self.t.channel else ""
            channels.append(f'<div class="chan{active}"><span class="hash">#</span>{esc(name)}</div>')
        bots = [p for p in self.names.people.values() if p.is_bot]
        apps = "".join(f'<div class="chan"><span class="dot"></span>{esc(p.name)}</div>' for p in bots)
        return (
            '<nav class="sidebar"><div class="workspace">SMC Sandbox'
            '<span class="ws-sub">smc-bot demo</span></div>'
            f'<div class="side-label">Channels</div>{"".join(channels)}'
            f'<div class="side-label">Apps</div>{apps}</nav>'
        )

    def header(self) -> str:
        messages = sum(1 for m in self.t.messages.values() if not m.is_reply and not m.deleted)
        replies = sum(1 for m in self.t.messages.values() if m.is_reply and not m.deleted)
        zone = self.when(self.t.items[0].at).strftime("%Z") if self.t.items else "UTC"
        topic = f"{messages} messages · {replies} thread replies · times in {zone}"
        return (
            f'<header class="channel-header"><h1>{esc(self.t.title)}</h1>'
            f'<span class="topic">{esc(topic)}</span></header>'
        )

    def introduction(self) -> str:
        if not self.intro:
            return ""
        paragraphs = "".join(f"<p>{esc(p)}</p>" for p in self.intro)
        return f'<section class="intro">{paragraphs}</section>\n'

    def when(self, at: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(at, self.names.tz)

    def clock(self, at: float, *, seconds: bool = False) -> str:
        shown = self.when(at).strftime("%H:%M:%S" if seconds else "%H:%M")
        full = self.when(at).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f'<time title="{esc(full)}">{esc(shown)}</time>'

    # -- feed ---------------------------------------------------------------------------------------

    def feed(self) -> str:
        out: list[str] = []
        day = ""
        for item in self.t.items:
            html = self.item(item)
            if not html:
                continue
            today = self.when(item.at).strftime("%A, %B %d")
            if today != day:
                out.append(f'<div class="day"><span>{esc(today)}</span></div>\n')
                day = today
            out.append(html + "\n")
        if not out:
            out.append('<div class="empty">Nothing happened in this conversation.</div>\n')
        return "".join(out)

    def item(self, item: Item) -> str:
        match item:
            case Posted():
                message = self.t.message(item.channel, item.ts)
                if not message.is_reply:
                    return self.parent(message)
                orphan = self.t.parent_of(message) is None
                return self.message(message, in_channel=True) if message.broadcast or orphan else ""
            case Command():
                who = self.names.person(item.user)
                return self.system(
                    "/",
                    item.at,
                    f'<b>{esc(who.name)}</b> typed <code class="cmd">{esc(item.text)}</code>'
                    + self.where(item.channel),
                    user=item.user,
                )
            case Click():
                return self.system("👆", item.at, self.click(item), user=item.user)
            case EphemeralShown():
                return self.ephemeral(item)
            case ModalStep():
                return self.modal(item)
            case FileShared():
                return self.system("📎", item.at, f"<b>{esc(item.name)}</b> was uploaded")
        return ""

    def where(self, channel: str | None) -> str:
        if self.t.channel is not None or channel is None:
            return ""
        return f' <span class="muted">in #{esc(self.names.channel(channel))}</span>'

    def system(self, icon: str, at: float, html: str, *, user: str | None = None) -> str:
        avatar = self.mini_avatar(user) if user else ""
        return (
            f'<div class="sys"><span class="sys-icon">{esc(icon)}</span>{avatar}'
            f'<span class="sys-text">{html}</span>{self.clock(at, seconds=True)}</div>'
        )

    def click(self, item: Click) -> str:
        who = self.names.person(item.user)
        if item.element in ("button", "workflow_button"):
            style = {"primary": " bk-btn-primary", "danger": " bk-btn-danger"}.get(item.style or "", "")
            label = f'<span class="bk-btn mini{style}">{esc(item.label)}</span>'
        else:
            label = f"<b>“{esc(item.label)}”</b>"
        target = f' <span class="muted">{esc(item.target)}</span>' if item.target else ""
        return f"<b>{esc(who.name)}</b> {esc(item.verb)} {label}{target}{self.where(item.channel)}"

    # -- messages -----------------------------------------------------------------------------------

    def head(self, user: str, at: float) -> str:
        who = self.names.person(user)
        badge = '<span class="badge">APP</span>' if who.is_bot else ""
        return (
            f'<div class="msg-head"><span class="author">{esc(who.name)}</span>{badge}{self.clock(at)}</div>'
        )

    def mini_avatar(self, user: str) -> str:
        who = self.names.person(user)
        bot = " bot" if who.is_bot else ""
        return f'<span class="mini-avatar {avatar_class(user)}{bot}">{esc(initials(who.name))}</span>'

    def avatar(self, user: str) -> str:
        who = self.names.person(user)
        bot = " bot" if who.is_bot else ""
        return f'<div class="avatar {avatar_class(user)}{bot}">{esc(initials(who.name))}</div>'

    def content(self, message: Message, version: int = -1) -> str:
        shown = message.versions[version]
        files = "".join(self.file_card(f) for f in message.files)
        return f'<div class="msg-content">{self.bk.message(shown.text, shown.blocks)}{files}</div>'

    def file_card(self, f: dict[str, object]) -> str:
        name = str(f.get("name") or f.get("title") or "file")
        kind = name.rsplit(".", 1)[-1].upper()[:4] if "." in name else "FILE"
        title = str(f.get("title") or "")
        sub = f'<span class="file-sub">{esc(title)}</span>' if title and title != name else ""
        return (
            f'<div class="file-card"><span class="file-icon">{esc(kind)}</span>'
            f"<span><b>{esc(name)}</b>{sub}</span></div>"
        )

    def parent(self, message: Message) -> str:
        replies = self.t.replies_of(message)
        if message.deleted and not replies:
            return ""
        return self.message(message, thread=replies)

    def message(
        self, message: Message, *, in_channel: bool = False, thread: list[Message] | None = None
    ) -> str:
        note = ""
        parent = self.t.parent_of(message)
        if parent is not None and in_channel:
            note = (
                f'<div class="broadcast-note">replied to a thread: '
                f'<a href="#{anchor(parent)}">{esc(self.t.title_of(parent))}</a></div>'
            )
        elif parent is not None and message.broadcast:
            note = (
                f'<div class="broadcast-note">Also sent to #{esc(self.names.channel(message.channel))}</div>'
            )
        if message.deleted:
            body = '<div class="msg-content deleted">This message was deleted.</div>'
        else:
            body = self.content(message)
        edited = '<span class="edited">(edited)</span>' if message.edited and not message.deleted else ""
        history = self.history(message) if message.edited and not message.deleted else ""
        threads = self.thread(message, thread) if thread else ""
        ident = "" if in_channel else f' id="{anchor(message)}"'
        cls = "msg reply" if parent is not None and not in_channel else "msg"
        return (
            f'<div class="{cls}"{ident}>{self.avatar(message.user)}<div class="msg-main">'
            f"{self.head(message.user, message.first.at)}{note}{body}{edited}{history}{threads}</div></div>"
        )

    def history(self, message: Message) -> str:
        rows = []
        last = len(message.versions) - 1
        for i, version in enumerate(message.versions):
            what = "posted" if i == 0 else "edited"
            change = ""
            if i:
                previous = message.versions[i - 1]
                before = message_lines(previous.text, previous.blocks, self.names, pair_fields=False)
                after = message_lines(version.text, version.blocks, self.names, pair_fields=False)
                change = f'<span class="v-digest">{bars_html(esc(digest(before, after)))}</span>'
            full = (
                '<span class="v-current">shown above</span>'
                if i == last
                else f'<details class="v-full"><summary>show version {i + 1}</summary>'
                f"{self.content(message, i)}</details>"
            )
            rows.append(
                f'<li><div class="v-head"><b>v{i + 1}</b> · {what} {self.clock(version.at, seconds=True)}'
                f"{change}</div>{full}</li>"
            )
        return (
            f'<details class="history"><summary>Edit history · {len(message.versions)} versions</summary>'
            f'<ol class="versions">{"".join(rows)}</ol></details>'
        )

    def thread(self, parent: Message, replies: list[Message]) -> str:
        people = list(dict.fromkeys(r.user for r in replies))[:4]
        avatars = "".join(self.mini_avatar(u) for u in people)
        count = f"{len(replies)} {'reply' if len(replies) == 1 else 'replies'}"
        last = self.when(replies[-1].first.at).strftime("%H:%M")
        body = "".join(self.message(r) for r in replies)
        return (
            f'<details class="thread" open><summary>{avatars}<span class="reply-count">{count}</span>'
            f'<span class="reply-last">Last reply {esc(last)}</span></summary>'
            f'<div class="replies">{body}</div></details>'
        )

    def ephemeral(self, item: EphemeralShown) -> str:
        if item.replaced:
            return ""
        shown = self.last_ephemeral.get(item.ts or "", item)
        bot = self.names.bot_id
        who = "@" + self.names.user(item.user)
        replaced = '<span class="edited">(updated)</span>' if shown is not item else ""
        thread = ""
        if item.thread_ts and item.channel and (item.channel, item.thread_ts) in self.t.messages:
            parent = self.t.message(item.channel, item.thread_ts)
            thread = f' · in thread <a href="#{anchor(parent)}">{esc(self.t.title_of(parent))}</a>'
        return (
            f'<div class="msg ephemeral">{self.avatar(bot)}<div class="msg-main">{self.head(bot, item.at)}'
            f'<div class="msg-content">{self.bk.message(shown.text, shown.blocks)}</div>{replaced}'
            f'<div class="only-you">👁 Only visible to you ({esc(who)}){thread}</div></div></div>'
        )

    # -- modals -------------------------------------------------------------------------------------

    def modal(self, item: ModalStep) -> str:
        who = self.names.person(item.user)
        name = f"<b>{esc(who.name)}</b>"
        if item.kind == "closed":
            return self.system("✕", item.at, f"{name} closed <b>{esc(item.title)}</b> without submitting")
        if item.kind == "submitted":
            rows = "".join(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in item.values)
            body = f'<dl class="values">{rows}</dl>' if rows else '<div class="muted">No inputs.</div>'
            note, foot = (
                f"{name} submitted",
                f'<span class="submitted-mark">✓ Submitted by {esc(who.name)}</span>',
            )
        elif item.kind == "errors":
            rows = "".join(f"<li><b>{esc(label)}</b> {esc(message)}</li>" for label, message in item.errors)
            body = f'<ul class="errors">{rows}</ul>'
            note, foot = (
                f"the bot refused {name}'s input",
                '<span class="error-mark">⚠ Fix the fields and submit again</span>',
            )
        else:
            verb = {"opened": "opened", "pushed": "was shown (pushed)", "updated": "saw an update of"}[
                item.kind
            ]
            times = f"updated {item.updates} times while open"
            updated = f' <span class="muted">· {times}</span>' if item.updates else ""
            note = f"{name} {verb} a modal{updated}"
            body = self.bk.blocks(item.blocks) or '<div class="muted">Loading…</div>'
            # Slack shows a submit button only on a modal with inputs; a notice has just its close button.
            if any(b.get("type") == "input" for b in item.blocks):
                foot = '<span class="bk-btn">Cancel</span><span class="bk-btn bk-btn-primary">Submit</span>'
            else:
                foot = '<span class="bk-btn">Close</span>'
        app = esc(initials(self.names.person(self.names.bot_id).name))
        return (
            f'<div class="side-row"><div class="side-note">{note}<br>{self.clock(item.at, seconds=True)}'
            f'</div><div class="modal-card {item.kind}"><div class="modal-title">'
            f'<span class="modal-app">{app}</span>'
            f'<span class="modal-name">{esc(item.title)}</span><span class="modal-x">✕</span></div>'
            f'<div class="modal-body">{body}</div><div class="modal-foot">{foot}</div></div></div>'
        )
