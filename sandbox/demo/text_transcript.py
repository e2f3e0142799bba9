"""The transcript as terminal text, in the order things happened; thread replies indented under a bar."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from typing import IO

from sandbox.demo.blocks_text import (
    BLUE,
    BOLD,
    CYAN,
    DIM,
    GREEN,
    MAGENTA,
    RED,
    YELLOW,
    Paint,
    message_lines,
    text_object,
)
from sandbox.demo.model import (
    Click,
    Command,
    Deleted,
    Edited,
    EphemeralShown,
    FileShared,
    Item,
    Message,
    ModalStep,
    Posted,
    Transcript,
    Version,
    as_transcript,
)
from sandbox.slack.records import TimelineEvent
from sandbox.slack.server import SlackStandIn

TIME_WIDTH = 10  # "10:42:01  "
DIGEST_LIMIT = 150
LABELS_LIMIT = 100
NO_CHANGE = "no visible change"
EMPTY = "—"
"""How a submitted input left empty reads (`model.state_value` of nothing)."""


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def render_text(
    source: Transcript | SlackStandIn | Iterable[TimelineEvent], *, color: bool = False, verbose: bool = False
) -> str:
    """Who typed what, which modals opened and what was submitted, what the bot posted, edits as digests.

    A message edited several times shows its first and final versions in full and one line per edit in
    between; `verbose` prints every version in full.
    """
    transcript = as_transcript(source)
    return _TextRenderer(transcript, Paint(color), verbose).render()


def digest(before: Sequence[str], after: Sequence[str], *, limit: int = DIGEST_LIMIT) -> str:
    """One line saying what an edit changed: the lines it added, else the lines it removed."""
    old = [" ".join(line.split()) for line in before]
    new = [" ".join(line.split()) for line in after]
    added = [line for line in new if line and line not in set(old)]
    removed = [line for line in old if line and line not in set(new)]
    if added:
        text = " · ".join(added)
    elif removed:
        text = "removed " + " · ".join(removed)
    else:
        return NO_CHANGE
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _TextRenderer:
    def __init__(self, transcript: Transcript, paint: Paint, verbose: bool) -> None:
        self.t = transcript
        self.names = transcript.directory
        self.paint = paint
        self.verbose = verbose

    def render(self) -> str:
        out = self.heading()
        previous_multi = True
        for item in self.t.items:
            lines = self.item(item)
            if not lines:
                continue
            multi = len(lines) > 1
            if (multi or previous_multi) and out[-1] != "":
                out.append("")
            out += lines
            previous_multi = multi
        return "\n".join(out).rstrip() + "\n"

    def heading(self) -> list[str]:
        items = self.t.items
        day = self.when(items[0].at).strftime("%A %d %B %Y") if items else ""
        zone = self.when(items[0].at).strftime("%Z") if items else ""
        title = self.paint(self.t.title, BOLD)
        meta = " · ".join(x for x in (day, f"times in {zone}" if zone else "") if x)
        return [f"{title}  {self.paint(meta, DIM)}".rstrip(), self.paint("─" * 72, DIM), ""]

    # -- helpers --------------------------------------------------------------------------------------

    def when(self, at: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(at, self.names.tz)

    def entry(self, at: float, head: str, body: Iterable[str] = (), *, thread: bool = False) -> list[str]:
        bar = self.paint("  ┃ ", MAGENTA) if thread else ""
        clock = self.paint(self.when(at).strftime("%H:%M:%S"), DIM)
        lines = [f"{clock}  {bar}{head}"]
        pad = " " * TIME_WIDTH + bar
        lines += [f"{pad}  {line}" if line.strip() else pad.rstrip() for line in body]
        return lines

    def who(self, user_id: str) -> str:
        return self.paint("@" + self.names.user(user_id), BLUE, BOLD)

    def author(self, user_id: str) -> str:
        person = self.names.person(user_id)
        name = self.paint(person.name, BOLD)
        return f"{name} {self.paint('APP', DIM)}" if person.is_bot else name

    def where(self, channel: str | None) -> str:
        if self.t.channel is not None or channel is None:
            return ""
        return self.paint(f" · #{self.names.channel(channel)}", DIM)

    def body(self, version: Version, message: Message | None = None) -> list[str]:
        lines = message_lines(version.text, version.blocks, self.names, self.paint)
        for f in message.files if message else ():
            name = str(f.get("name") or f.get("title") or "file")
            title = str(f.get("title") or "")
            lines.append(f"📎 {self.paint(name, BOLD)}" + (f" — {title}" if title and title != name else ""))
        return lines or [self.paint("(empty message)", DIM)]

    def plain(self, version: Version) -> list[str]:
        return message_lines(version.text, version.blocks, self.names, pair_fields=False)

    # -- items ----------------------------------------------------------------------------------------

    def item(self, item: Item) -> list[str]:
        match item:
            case Command():
                typed = self.paint(item.text, CYAN, BOLD)
                return self.entry(item.at, f"{self.who(item.user)} typed {typed}{self.where(item.channel)}")
            case Click():
                return self.entry(item.at, self.click(item))
            case Posted():
                return self.posted(item)
            case Edited():
                return self.edited(item)
            case Deleted():
                message = self.t.message(item.channel, item.ts)
                head = self.paint(f"🗑  “{self.t.title_of(message)}” was deleted", DIM)
                return self.entry(item.at, head, thread=message.is_reply)
            case EphemeralShown():
                return self.ephemeral(item)
            case ModalStep():
                return self.modal(item)
            case FileShared():
                return self.entry(
                    item.at, f"📎 {self.paint(item.name, BOLD)} shared{self.where(item.channel)}"
                )
        return []

    def click(self, item: Click) -> str:
        colour = {"primary": GREEN, "danger": RED}.get(item.style or "", BLUE)
        label = self.paint(item.label, colour, BOLD) if item.element == "button" else f"“{item.label}”"
        target = f" {item.target}" if item.target else ""
        return f"{self.who(item.user)} {item.verb} {label}{target}{self.where(item.channel)}"

    def posted(self, item: Posted) -> list[str]:
        message = self.t.message(item.channel, item.ts)
        head = self.author(message.user) + self.where(message.channel)
        parent = self.t.parent_of(message)
        if parent is not None:
            head += self.paint(f" · in thread “{self.t.title_of(parent)}”", DIM)
            if message.broadcast:
                head += self.paint(f" · also sent to #{self.names.channel(message.channel)}", YELLOW)
        return self.entry(item.at, head, self.body(message.first, message), thread=message.is_reply)

    def edited(self, item: Edited) -> list[str]:
        message = self.t.message(item.channel, item.ts)
        version = message.versions[item.version]
        name = f"“{self.t.title_of(message)}”"
        mark = self.paint("↻", YELLOW, BOLD)
        change = digest(self.plain(message.versions[item.version - 1]), self.plain(version))
        if change == NO_CHANGE and not (item.final or self.verbose):
            return []  # an edit nobody could see: only the verbose transcript lists it
        if item.final and not self.verbose and len(message.versions) == 2 and _short(change):
            # Edited once, a line or two changed (a vote, a decision): the first version is just above.
            return self.entry(item.at, f"{mark} {name} final version: {change}", thread=message.is_reply)
        if item.final or self.verbose:
            label = "final version" if item.final else f"version {item.version + 1}"
            head = f"{mark} {name} {label}:"
            return self.entry(item.at, head, self.body(version, message), thread=message.is_reply)
        return self.entry(item.at, f"{mark} {name} updated: {change}", thread=message.is_reply)

    def ephemeral(self, item: EphemeralShown) -> list[str]:
        note = f"(only visible to @{self.names.user(item.user)}{', replaced' if item.replaced else ''})"
        head = f"{self.author(self.names.bot_id)} {self.paint(note, YELLOW)}{self.where(item.channel)}"
        body = message_lines(item.text, item.blocks, self.names, self.paint)
        return self.entry(item.at, head, body, thread=item.thread_ts is not None)

    def modal(self, item: ModalStep) -> list[str]:
        title = self.paint(f"“{item.title}”", BOLD)
        icon = self.paint("▣", MAGENTA, BOLD)
        user = self.who(item.user)
        if item.kind == "submitted":
            body = [
                f"{self.paint(label + ':', BOLD)} {value}" for label, value in item.values if value != EMPTY
            ]
            empty = [label for label, value in item.values if value == EMPTY]
            if empty:
                prefix = "left empty: "
                lines = _wrap(empty, LABELS_LIMIT - len(prefix))
                pad = " " * len(prefix)
                body += [self.paint((pad if i else prefix) + line, DIM) for i, line in enumerate(lines)]
            return self.entry(item.at, f"{icon} {user} submitted {title}", body)
        if item.kind == "errors":
            body = [f"{self.paint(label + ':', BOLD)} {self.paint(msg, RED)}" for label, msg in item.errors]
            return self.entry(item.at, f"{self.paint('⚠', RED, BOLD)} {title} refused {user}'s input", body)
        if item.kind == "closed":
            return self.entry(item.at, f"{icon} {user} closed {title} without submitting")
        verb = {"opened": "opened", "pushed": "pushed on top", "updated": "updated"}[item.kind]
        head = f"{icon} modal {title} {verb} for {user}"
        if item.updates:
            head += self.paint(f" (then updated {item.updates} times)", DIM)
        if self.verbose:
            return self.entry(item.at, head, message_lines("", item.blocks, self.names, self.paint))
        labels = _input_labels(item.blocks, self)
        return self.entry(item.at, head, _wrap(labels, LABELS_LIMIT) if labels else ())


def _input_labels(blocks: Sequence[dict[str, object]], renderer: _TextRenderer) -> list[str]:
    return [
        text_object(b.get("label"), renderer.names, renderer.paint)
        + ("" if not b.get("optional") else " (optional)")
        for b in blocks
        if b.get("type") == "input"
    ]


def _short(change: str) -> bool:
    """A digest that fits on one line unclipped and names at most two changed lines."""
    return not change.endswith("…") and change.count(" · ") <= 1 and change != NO_CHANGE


def _wrap(parts: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} · {part}" if current else part
        if current and len(candidate) > width:
            lines.append(current)
            current = part
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines
