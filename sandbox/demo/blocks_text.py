"""Block Kit flattened to terminal lines: headers, sections, fields, context, buttons as `[ Approve ]`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.demo import mrkdwn
from sandbox.demo.mrkdwn import Break, Code, Link, Mention, Names, Node, Pre, Quote, Styled, Text

Json = dict[str, Any]

RESET = "\x1b[0m"
BOLD, DIM, ITALIC, STRIKE = "1", "2", "3", "9"
RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN = "31", "32", "33", "34", "35", "36"
_BAR = re.compile(r"[▓░]+")
_FIELD_PAIR_WIDTH = 38


@dataclass(frozen=True)
class Paint:
    """ANSI styling that is a no-op when disabled, so one code path renders both plain and coloured text."""

    enabled: bool = False

    def __call__(self, text: str, *codes: str) -> str:
        if not self.enabled or not codes or not text:
            return text
        start = f"\x1b[{';'.join(codes)}m"
        return start + text.replace(RESET, RESET + start) + RESET


PLAIN = Paint(False)


def visible_len(text: str) -> int:
    """Length without ANSI escapes."""
    return len(re.sub(r"\x1b\[[0-9;]*m", "", text))


def inline(nodes: Sequence[Node], paint: Paint) -> str:
    """Nodes as terminal text: markers dropped (or turned into ANSI), links as `label (url)`."""
    out: list[str] = []
    for node in nodes:
        match node:
            case Text(text):
                out.append(_bars(text, paint))
            case Styled("bold", children):
                out.append(paint(inline(children, paint), BOLD))
            case Styled("italic", children):
                out.append(paint(inline(children, paint), ITALIC))
            case Styled(_, children):
                inner = inline(children, paint)
                out.append(paint(inner, STRIKE) if paint.enabled else f"~{inner}~")
            case Code(text):
                out.append(paint(_bars(text, paint), CYAN))
            case Pre(text):
                out.append("\n" + "\n".join("    " + paint(line, CYAN) for line in text.split("\n")) + "\n")
            case Link(url, children):
                label = inline(children, paint)
                shown = mrkdwn.plain_text_of(children)
                same = url is None or shown in (url, url.removeprefix("mailto:"))
                out.append(paint(label, BLUE) if same else f"{paint(label, BLUE)} ({url})")
            case Mention(label):
                out.append(paint(label, BLUE, BOLD))
            case Break():
                out.append("\n")
            case Quote(children):
                quoted = inline(children, paint).split("\n")
                out.append("\n" + "\n".join(paint("▎ ", DIM) + line for line in quoted) + "\n")
    return "".join(out)


def _bars(text: str, paint: Paint) -> str:
    if not paint.enabled:
        return text
    return _BAR.sub(
        lambda m: paint(m.group(0).replace("░", ""), GREEN) + paint(m.group(0).replace("▓", ""), DIM), text
    )


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").split("\n")]


def text_object(obj: object, names: Names, paint: Paint) -> str:
    """A `plain_text` or `mrkdwn` text object as terminal text."""
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return inline(mrkdwn.parse(raw, names), paint)
    return inline(mrkdwn.plain(raw, emoji=obj.get("emoji", True) is not False), paint)


def message_lines(
    text: str, blocks: Sequence[Json], names: Names, paint: Paint = PLAIN, *, pair_fields: bool = True
) -> list[str]:
    """What a message shows: its blocks, or its text (mrkdwn) when it has none."""
    if blocks:
        return block_lines(blocks, names, paint, pair_fields=pair_fields)
    return _lines(inline(mrkdwn.parse(text, names), paint)) if text else []


def block_lines(
    blocks: Sequence[Json], names: Names, paint: Paint = PLAIN, *, pair_fields: bool = True
) -> list[str]:
    """Every block as one or more lines; `pair_fields` puts two short fields on a line, as Slack does."""
    out: list[str] = []
    for block in blocks:
        out += _block(block, names, paint, pair_fields)
    return out


def _block(block: Json, names: Names, paint: Paint, pair_fields: bool) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [paint(text_object(block.get("text"), names, paint), BOLD)]
    if kind == "section":
        lines = _lines(text_object(block.get("text"), names, paint)) if block.get("text") else []
        lines += _fields(block.get("fields"), names, paint, pair_fields)
        if isinstance(block.get("accessory"), dict):
            accessory = element_label(block["accessory"], names, paint)
            if lines and visible_len(lines[0]) + visible_len(accessory) < 90:
                lines[0] += "   " + accessory
            else:
                lines.append(accessory)
        return lines
    if kind == "context":
        parts = [_context_part(e, names, paint) for e in block.get("elements") or [] if isinstance(e, dict)]
        return [paint(line, DIM) for line in _lines(" · ".join(p for p in parts if p))]
    if kind == "divider":
        return [paint("─" * 40, DIM)]
    if kind == "actions":
        return ["  ".join(element_label(e, names, paint) for e in block.get("elements") or [])]
    if kind == "image":
        return [f"🖼  {_image_caption(block, names, paint)}"]
    if kind == "input":
        label = text_object(block.get("label"), names, paint)
        element = block.get("element") if isinstance(block.get("element"), dict) else {}
        return [f"{label}: {element_label(element or {}, names, paint)}"]
    if kind == "rich_text":
        return _lines(inline(mrkdwn.rich_text(block, names), paint))
    if kind == "markdown":
        return _lines(str(block.get("text", "")))
    if kind == "file":
        return [f"📎 {block.get('external_id') or block.get('file_id') or 'file'}"]
    if kind == "video":
        return [f"▶  {text_object(block.get('title'), names, paint)}"]
    if kind == "table":
        return [" | ".join(_cell(c, names, paint) for c in row) for row in block.get("rows") or []]
    return [paint(f"[{kind} block]", DIM)]


def _cell(cell: object, names: Names, paint: Paint) -> str:
    if not isinstance(cell, dict):
        return ""
    if cell.get("type") == "rich_text":
        return inline(mrkdwn.rich_text(cell, names), paint).replace("\n", " ")
    return str(cell.get("text", ""))


def _fields(fields: object, names: Names, paint: Paint, pair: bool) -> list[str]:
    if not isinstance(fields, list):
        return []
    shown = [field_text(f, names, paint) for f in fields if isinstance(f, dict)]
    if not pair:
        return shown
    out: list[str] = []
    i = 0
    while i < len(shown):
        first = shown[i]
        second = shown[i + 1] if i + 1 < len(shown) else None
        if second is not None and max(visible_len(first), visible_len(second)) < _FIELD_PAIR_WIDTH:
            out.append(first + " " * (_FIELD_PAIR_WIDTH - visible_len(first)) + second)
            i += 2
        else:
            out.append(first)
            i += 1
    return out


def field_text(obj: Json, names: Names, paint: Paint) -> str:
    """A field on one line: `*State*\\nRunning` becomes `State: Running`."""
    if obj.get("type") != "mrkdwn":
        return text_object(obj, names, paint).replace("\n", " ")
    nodes = mrkdwn.parse(str(obj.get("text", "")), names)
    if len(nodes) > 2 and isinstance(nodes[0], Styled) and nodes[0].style == "bold" and nodes[1] == Break():
        label = mrkdwn.plain_text_of(nodes[0].children).strip()
        colon = "" if label.endswith(":") else ":"
        rest = inline(nodes[2:], paint).replace("\n", " ")
        return f"{paint(label + colon, BOLD)} {rest}"
    return inline(nodes, paint).replace("\n", " ")


def _context_part(element: Json, names: Names, paint: Paint) -> str:
    if element.get("type") == "image":
        return f"🖼 {element.get('alt_text', '')}".strip()
    return text_object(element, names, paint)


def _image_caption(block: Json, names: Names, paint: Paint) -> str:
    title = text_object(block.get("title"), names, paint) if block.get("title") else ""
    alt = str(block.get("alt_text", ""))
    return title or alt or "image"


def option_text(option: object, names: Names, paint: Paint = PLAIN) -> str:
    """An option's visible text."""
    return text_object(option.get("text"), names, paint) if isinstance(option, dict) else ""


def element_label(element: Json, names: Names, paint: Paint = PLAIN) -> str:
    """An interactive element as it would read on screen: `[ Approve ]`, `[ Pick a region ▾ ]`."""
    kind = str(element.get("type", ""))
    if kind in ("button", "workflow_button"):
        text = text_object(element.get("text"), names, PLAIN)
        if element.get("url"):
            text += " ↗"
        style = {"primary": (GREEN, BOLD), "danger": (RED, BOLD)}.get(str(element.get("style")), (BOLD,))
        return paint(f"[ {text} ]", *style)
    if kind == "overflow":
        return "[ ⋯ ]"
    if kind == "image":
        return f"🖼 {element.get('alt_text', '')}".strip()
    if kind in ("checkboxes", "radio_buttons"):
        chosen = element.get("initial_options") or [element.get("initial_option")]
        on, off = ("☑", "☐") if kind == "checkboxes" else ("◉", "○")
        return "  ".join(
            f"{on if o in chosen else off} {option_text(o, names)}" for o in element.get("options") or []
        )
    shown = _initial(element, names) or text_object(element.get("placeholder"), names, PLAIN)
    if kind.endswith("select"):
        return f"[ {shown or 'Select an item'} ▾ ]"
    if kind == "datepicker":
        return f"[ 📅 {shown or 'Select a date'} ]"
    if kind == "timepicker":
        return f"[ 🕒 {shown or 'Select time'} ]"
    if kind == "datetimepicker":
        return f"[ 📅 {shown or 'Select date and time'} ]"
    return f"[ {shown or ' ' * 12} ]"


def _initial(element: Json, names: Names) -> str:
    if isinstance(element.get("initial_option"), dict):
        return option_text(element["initial_option"], names)
    if isinstance(element.get("initial_options"), list):
        return ", ".join(option_text(o, names) for o in element["initial_options"])
    for key, prefix, lookup in (
        ("initial_user", "@", names.user),
        ("initial_conversation", "#", names.channel),
        ("initial_channel", "#", names.channel),
    ):
        if element.get(key):
            return prefix + lookup(str(element[key]))
    for key in ("initial_value", "initial_date", "initial_time"):
        if element.get(key) not in (None, ""):
            return str(element[key])
    return ""


def title_of(text: str, blocks: Sequence[Json], names: Names, *, limit: int = 60) -> str:
    """A short name for a message: its header, else its first line of text."""
    for block in blocks:
        if block.get("type") == "header":
            return _clip(text_object(block.get("text"), names, PLAIN), limit)
    lines = [line.strip() for line in message_lines(text, blocks, names) if line.strip()]
    if not lines and text:
        lines = [line.strip() for line in _lines(inline(mrkdwn.parse(text, names), PLAIN)) if line.strip()]
    return _clip(lines[0], limit) if lines else "message"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
