"""Slack mrkdwn and plain_text parsed into a small tree that the text and HTML transcripts both render."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from sandbox.demo.emoji import EMOJI


class Names(Protocol):
    """Resolves the ids Slack embeds in text (`<@U…>`, `<#C…>`, `<!subteam^S…>`) and the viewer's timezone."""

    @property
    def tz(self) -> dt.tzinfo: ...

    def user(self, user_id: str) -> str: ...

    def channel(self, channel_id: str) -> str: ...

    def usergroup(self, group_id: str) -> str: ...


@dataclass(frozen=True)
class Text:
    """Literal text (entities already decoded, emoji shortcodes already Unicode)."""

    text: str


@dataclass(frozen=True)
class Styled:
    """`*bold*`, `_italic_` or `~strike~` around more nodes."""

    style: Literal["bold", "italic", "strike"]
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Code:
    """`` `inline code` ``."""

    text: str


@dataclass(frozen=True)
class Pre:
    """```` ```preformatted``` ```` (may span lines)."""

    text: str


@dataclass(frozen=True)
class Link:
    """`<url|label>`; `url` is None when the scheme is not safe to link (e.g. `javascript:`)."""

    url: str | None
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Mention:
    """`@alex`, `#migrations`, `@smc-approvers`, `@here`."""

    label: str


@dataclass(frozen=True)
class Break:
    """A newline."""


@dataclass(frozen=True)
class Quote:
    """Consecutive `>` lines."""

    children: tuple[Node, ...]


Node = Text | Styled | Code | Pre | Link | Mention | Break | Quote

_PRE = re.compile(r"```(.*?)```", re.S)
_EMOJI = re.compile(r":([a-z0-9_+'-]+):")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_STYLES: dict[str, Literal["bold", "italic", "strike"]] = {"*": "bold", "_": "italic", "~": "strike"}
_DATE_TOKENS = {
    "{date_num}": "%Y-%m-%d",
    "{date}": "%B %d, %Y",
    "{date_short}": "%b %d, %Y",
    "{date_long}": "%A, %B %d, %Y",
    "{date_pretty}": "%B %d, %Y",
    "{date_short_pretty}": "%b %d, %Y",
    "{date_long_pretty}": "%A, %B %d, %Y",
    "{time}": "%H:%M",
    "{time_secs}": "%H:%M:%S",
}


def unescape(text: str) -> str:
    """Slack's three entities back to characters (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emojize(text: str) -> str:
    """`:rocket:` -> 🚀 for the shortcodes we know; unknown ones stay as typed."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def plain(text: str, *, emoji: bool = True) -> list[Node]:
    """A plain_text object: no formatting, newlines kept, shortcodes converted unless `emoji` is false."""
    out: list[Node] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            out.append(Break())
        if line:
            out.append(Text(emojize(line) if emoji else line))
    return out


def parse(text: str, names: Names) -> list[Node]:
    """A mrkdwn string as nodes: pre blocks, quotes, line breaks, then inline markup per line."""
    out: list[Node] = []
    pos = 0
    for match in _PRE.finditer(text):
        out += _lines(text[pos : match.start()].removesuffix("\n"), names)
        out.append(Pre(unescape(match.group(1).strip("\n"))))
        pos = match.end()
        if text.startswith("\n", pos):
            pos += 1
    out += _lines(text[pos:], names)
    return out


def _lines(text: str, names: Names) -> list[Node]:
    out: list[Node] = []
    quoted: list[Node] = []
    for i, line in enumerate(text.split("\n")):
        quote = re.match(r"^(?:>|&gt;) ?", line)
        if quote:
            if quoted:
                quoted.append(Break())
            quoted += _inline(line[quote.end() :], names)
            continue
        if quoted:
            out.append(Quote(tuple(quoted)))
            quoted = []
        elif i:
            out.append(Break())
        out += _inline(line, names)
    if quoted:
        out.append(Quote(tuple(quoted)))
    return out


def _inline(s: str, names: Names) -> list[Node]:
    out: list[Node] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(Text(unescape("".join(buf))))
            buf.clear()

    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "`":
            j = s.find("`", i + 1)
            if j > i + 1:
                flush()
                out.append(Code(unescape(s[i + 1 : j])))
                i = j + 1
                continue
        elif c == "<":
            j = s.find(">", i + 1)
            token = _angle(s[i + 1 : j], names) if j > i else None
            if token is not None:
                flush()
                out.append(token)
                i = j + 1
                continue
        elif c == ":":
            m = _EMOJI.match(s, i)
            if m and m.group(1) in EMOJI:
                buf.append(EMOJI[m.group(1)])
                i = m.end()
                continue
        elif c in _STYLES and _opens(s, i):
            end = _closer(s, i)
            if end is not None:
                flush()
                out.append(Styled(_STYLES[c], tuple(_inline(s[i + 1 : end], names))))
                i = end + 1
                continue
        buf.append(c)
        i += 1
    flush()
    return out


def _opens(s: str, i: int) -> bool:
    before_ok = i == 0 or not s[i - 1].isalnum()
    return before_ok and i + 1 < len(s) and not s[i + 1].isspace() and s[i + 1] != s[i]


def _closer(s: str, i: int) -> int | None:
    marker = s[i]
    k = i + 2
    while k < len(s):
        if s[k] == "`":
            end = s.find("`", k + 1)
            k = end + 1 if end > k else k + 1
            continue
        if s[k] == marker and not s[k - 1].isspace() and (k + 1 == len(s) or not s[k + 1].isalnum()):
            return k
        k += 1
    return None


def _angle(inner: str, names: Names) -> Node | None:
    """`<…>` tokens Slack understands; anything else (`<script>`) is literal text."""
    target, _, label = inner.partition("|")
    if not target or "<" in inner:
        return None
    if target[0] == "@" and target[1:2] in ("U", "W", "B"):
        return Mention("@" + (names.user(target[1:]) if not label else label.lstrip("@")))
    if target[0] == "#" and target[1:2] in ("C", "G", "D"):
        return Mention("#" + (label or names.channel(target[1:])))
    if target.startswith("!subteam^"):
        return Mention(label if label.startswith("@") else "@" + names.usergroup(target[9:]))
    if target in ("!here", "!channel", "!everyone"):
        return Mention("@" + target[1:])
    if target.startswith("!date^"):
        return Text(_date(target, label, names.tz))
    if target.startswith(_SAFE_SCHEMES):
        shown = unescape(label or target.removeprefix("mailto:"))
        return Link(unescape(target), (Text(emojize(shown)),))
    if _SCHEME.match(target) and " " not in target:
        return Link(None, (Text(unescape(label or target)),))
    return None


def _date(target: str, fallback: str, tz: dt.tzinfo) -> str:
    """`<!date^epoch^{date_short} at {time}|fallback>` in the viewer's timezone; fallback when unknown."""
    parts = target.split("^")
    if len(parts) < 3:
        return fallback
    try:
        when = dt.datetime.fromtimestamp(int(parts[1]), tz)
    except (ValueError, OverflowError, OSError):
        return fallback
    shown = parts[2]
    for token, fmt in _DATE_TOKENS.items():
        shown = shown.replace(token, when.strftime(fmt))
    return fallback if "{" in shown else unescape(shown)


def plain_text_of(nodes: list[Node] | tuple[Node, ...]) -> str:
    """The nodes as unformatted text (mentions as labels, links as their labels)."""
    out: list[str] = []
    for node in nodes:
        match node:
            case Text(text) | Code(text) | Pre(text) | Mention(text):
                out.append(text)
            case Styled(_, children) | Link(_, children) | Quote(children):
                out.append(plain_text_of(children))
            case Break():
                out.append("\n")
    return "".join(out)


def rich_text(block: dict[str, object], names: Names) -> list[Node]:
    """A `rich_text` block (sections, lists, preformatted, quotes) as the same nodes mrkdwn produces."""
    out: list[Node] = []
    for element in _dicts(block.get("elements")):
        kind = element.get("type")
        if out and not isinstance(out[-1], (Pre, Quote, Break)):
            out.append(Break())
        if kind == "rich_text_section":
            out += _rich_inline(element.get("elements"), names)
        elif kind == "rich_text_preformatted":
            out.append(Pre(plain_text_of(_rich_inline(element.get("elements"), names))))
        elif kind == "rich_text_quote":
            out.append(Quote(tuple(_rich_inline(element.get("elements"), names))))
        elif kind == "rich_text_list":
            indent = "    " * _int(element.get("indent"))
            ordered = element.get("style") == "ordered"
            for n, item in enumerate(_dicts(element.get("elements")), start=1):
                if n > 1:
                    out.append(Break())
                out.append(Text(f"{indent}{n}. " if ordered else f"{indent}\u2022 "))
                out += _rich_inline(item.get("elements"), names)
    return out


def _rich_inline(elements: object, names: Names) -> list[Node]:
    out: list[Node] = []
    for element in _dicts(elements):
        kind = element.get("type")
        node: Node
        if kind == "text":
            text = str(element.get("text", ""))
            style = element.get("style") if isinstance(element.get("style"), dict) else {}
            assert isinstance(style, dict)
            if style.get("code"):
                out.append(Code(text))
                continue
            nodes: tuple[Node, ...] = tuple(plain(text, emoji=False))
            for flag in _STYLES.values():
                if style.get(flag):
                    nodes = (Styled(flag, nodes),)
            out += nodes
            continue
        elif kind == "link":
            url = str(element.get("url", ""))
            label = str(element.get("text") or url)
            node = Link(url if url.startswith(_SAFE_SCHEMES) else None, (Text(label),))
        elif kind == "user":
            node = Mention("@" + names.user(str(element.get("user_id", ""))))
        elif kind == "channel":
            node = Mention("#" + names.channel(str(element.get("channel_id", ""))))
        elif kind == "usergroup":
            node = Mention("@" + names.usergroup(str(element.get("usergroup_id", ""))))
        elif kind == "broadcast":
            node = Mention("@" + str(element.get("range", "here")))
        elif kind == "emoji":
            name = str(element.get("name", ""))
            node = Text(EMOJI.get(name, f":{name}:"))
        elif kind == "date":
            target = f"!date^{element.get('timestamp')}^{element.get('format', '{date_short}')}"
            node = Text(_date(target, str(element.get("fallback", "")), names.tz))
        else:
            node = Text(str(element.get("text") or element.get("value") or ""))
        out.append(node)
    return out


def _dicts(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
