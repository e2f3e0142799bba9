"""Block Kit and mrkdwn as escaped HTML that reads like Slack's client (styles in transcript.css)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any

from sandbox.demo import mrkdwn
from sandbox.demo.mrkdwn import Break, Code, Link, Mention, Names, Node, Pre, Quote, Styled, Text

Json = dict[str, Any]

_BAR_RUN = re.compile(r"[▓░]+")
_CELL_RUN = re.compile(r"▓+|░+")
_TAGS = {"bold": "b", "italic": "i", "strike": "s"}


def esc(text: object) -> str:
    """HTML-escape anything (quotes too, so it is safe in attributes)."""
    return escape(str(text), quote=True)


def bars_html(escaped: str) -> str:
    """Progress-bar runs in a monospace span, filled and empty cells coloured apart."""

    def cells(match: re.Match[str]) -> str:
        parts = (
            f'<span class="bar-{"on" if m.group(0)[0] == "▓" else "off"}">{m.group(0)}</span>'
            for m in _CELL_RUN.finditer(match.group(0))
        )
        return f'<span class="bar">{"".join(parts)}</span>'

    return _BAR_RUN.sub(cells, escaped)


def nodes_html(nodes: Sequence[Node]) -> str:
    """Parsed mrkdwn as HTML; every piece of text is escaped."""
    out: list[str] = []
    for node in nodes:
        match node:
            case Text(text):
                out.append(bars_html(esc(text)))
            case Styled(style, children):
                tag = _TAGS[style]
                out.append(f"<{tag}>{nodes_html(children)}</{tag}>")
            case Code(text):
                cls = ' class="has-bar"' if _BAR_RUN.search(text) else ""
                out.append(f"<code{cls}>{bars_html(esc(text))}</code>")
            case Pre(text):
                out.append(f"<pre>{bars_html(esc(text))}</pre>")
            case Link(url, children) if url is not None:
                out.append(f'<a href="{esc(url)}" rel="noopener noreferrer">{nodes_html(children)}</a>')
            case Link(_, children):
                out.append(f'<span class="link-unsafe">{nodes_html(children)}</span>')
            case Mention(label):
                out.append(f'<span class="mention">{esc(label)}</span>')
            case Break():
                out.append("<br>")
            case Quote(children):
                out.append(f"<blockquote>{nodes_html(children)}</blockquote>")
    return "".join(out)


class BlockHtml:
    """Renders blocks, text objects and elements with one workspace for mentions."""

    def __init__(self, names: Names) -> None:
        self.names = names

    # -- text ---------------------------------------------------------------------------------------

    def mrkdwn(self, text: str) -> str:
        return nodes_html(mrkdwn.parse(text, self.names))

    def text(self, obj: object) -> str:
        """A plain_text or mrkdwn object."""
        if not isinstance(obj, dict):
            return ""
        raw = str(obj.get("text", ""))
        if obj.get("type") == "mrkdwn":
            return self.mrkdwn(raw)
        return nodes_html(mrkdwn.plain(raw, emoji=obj.get("emoji", True) is not False))

    def message(self, text: str, blocks: Sequence[Json]) -> str:
        """What a message shows: its blocks, else its text as mrkdwn."""
        if blocks:
            return self.blocks(blocks)
        if text:
            return f'<div class="bk-section"><div class="bk-text">{self.mrkdwn(text)}</div></div>'
        return ""

    # -- blocks -------------------------------------------------------------------------------------

    def blocks(self, blocks: Sequence[Json]) -> str:
        return "".join(self.block(b) for b in blocks if isinstance(b, dict))

    def block(self, block: Json) -> str:
        kind = str(block.get("type", ""))
        if kind == "header":
            return f'<div class="bk-header">{self.text(block.get("text"))}</div>'
        if kind == "section":
            return self.section(block)
        if kind == "context":
            parts = [self.context_part(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            return f'<div class="bk-context">{"".join(parts)}</div>'
        if kind == "divider":
            return '<hr class="bk-divider">'
        if kind == "actions":
            els = "".join(self.element(e) for e in block.get("elements") or [] if isinstance(e, dict))
            return f'<div class="bk-actions">{els}</div>'
        if kind == "image":
            title = f"<figcaption>{self.text(block.get('title'))}</figcaption>" if block.get("title") else ""
            return f'<figure class="bk-image">{self.image(block, large=True)}{title}</figure>'
        if kind == "input":
            return self.input(block)
        if kind == "rich_text":
            return f'<div class="bk-rich">{nodes_html(mrkdwn.rich_text(block, self.names))}</div>'
        if kind == "markdown":
            return f'<div class="bk-markdown">{esc(block.get("text", "")).replace(chr(10), "<br>")}</div>'
        if kind == "file":
            name = esc(block.get("external_id") or "file")
            return f'<div class="file-card"><span class="file-icon">FILE</span><b>{name}</b></div>'
        if kind == "video":
            return f'<div class="bk-image-ph">▶ {self.text(block.get("title"))}</div>'
        if kind == "table":
            return self.table(block)
        return f'<div class="bk-unknown">[{esc(kind or "unknown")} block]</div>'

    def section(self, block: Json) -> str:
        main = f'<div class="bk-text">{self.text(block["text"])}</div>' if block.get("text") else ""
        fields = [f for f in block.get("fields") or [] if isinstance(f, dict)]
        if fields:
            cells = "".join(f'<div class="bk-field">{self.text(f)}</div>' for f in fields)
            main += f'<div class="bk-fields">{cells}</div>'
        accessory = block.get("accessory")
        side = (
            f'<div class="bk-accessory">{self.element(accessory)}</div>'
            if isinstance(accessory, dict)
            else ""
        )
        return f'<div class="bk-section"><div class="bk-section-main">{main}</div>{side}</div>'

    def context_part(self, element: Json) -> str:
        if element.get("type") == "image":
            return self.image(element, large=False)
        return f"<span>{self.text(element)}</span>"

    def image(self, element: Json, *, large: bool) -> str:
        """Images stay offline: data: URLs are shown, anything else becomes a labelled placeholder."""
        alt = esc(element.get("alt_text", ""))
        url = str(element.get("image_url") or "")
        cls = "bk-image-ph" if large else "bk-thumb"
        if url.startswith("data:image/"):
            return f'<img class="{cls}" src="{esc(url)}" alt="{alt}">'
        return f'<span class="{cls}" title="{alt}">🖼{" " + alt if large else ""}</span>'

    def table(self, block: Json) -> str:
        rows = []
        for row in block.get("rows") or []:
            cells = "".join(f"<td>{self.cell(c)}</td>" for c in row) if isinstance(row, list) else ""
            rows.append(f"<tr>{cells}</tr>")
        return f'<table class="bk-table">{"".join(rows)}</table>'

    def cell(self, cell: object) -> str:
        if not isinstance(cell, dict):
            return ""
        if cell.get("type") == "rich_text":
            return nodes_html(mrkdwn.rich_text(cell, self.names))
        return esc(cell.get("text", ""))

    def input(self, block: Json) -> str:
        optional = ' <span class="optional">(optional)</span>' if block.get("optional") else ""
        element = block.get("element") if isinstance(block.get("element"), dict) else {}
        hint = f'<div class="bk-hint">{self.text(block.get("hint"))}</div>' if block.get("hint") else ""
        return (
            f'<div class="bk-input"><div class="bk-label">{self.text(block.get("label"))}{optional}</div>'
            f"{self.element(element or {}, in_input=True)}{hint}</div>"
        )

    # -- elements -----------------------------------------------------------------------------------

    def element(self, element: Json, *, in_input: bool = False) -> str:
        kind = str(element.get("type", ""))
        if kind in ("button", "workflow_button"):
            style = {"primary": " bk-btn-primary", "danger": " bk-btn-danger"}.get(
                str(element.get("style")), ""
            )
            link = ' <span class="ext">↗</span>' if element.get("url") else ""
            return f'<span class="bk-btn{style}">{self.text(element.get("text"))}{link}</span>'
        if kind == "overflow":
            return '<span class="bk-btn bk-overflow" title="More actions">⋯</span>'
        if kind == "image":
            return self.image(element, large=False)
        if kind in ("checkboxes", "radio_buttons"):
            return self.choices(element, radio=kind == "radio_buttons")
        shown, is_value = self.initial(element)
        value = f'<span class="{"value" if is_value else "ph"}">{shown}</span>'
        if kind.endswith("select"):
            return f'<span class="bk-select">{value}<span class="caret">▾</span></span>'
        if kind in ("datepicker", "datetimepicker", "timepicker"):
            icon = "🕒" if kind == "timepicker" else "📅"
            return f'<span class="bk-select"><span class="icon">{icon}</span>{value}</span>'
        tall = " tall" if element.get("multiline") else ""
        return f'<div class="bk-textbox{tall}">{value}</div>'

    def initial(self, element: Json) -> tuple[str, bool]:
        """The element's initial value (escaped), else its placeholder; True when it is a value."""
        kind = str(element.get("type", ""))
        if isinstance(element.get("initial_option"), dict):
            return self.text(element["initial_option"].get("text")), True
        if isinstance(element.get("initial_options"), list):
            return ", ".join(
                self.text(o.get("text")) for o in element["initial_options"] if isinstance(o, dict)
            ), True
        for key, prefix, lookup in (
            ("initial_user", "@", self.names.user),
            ("initial_conversation", "#", self.names.channel),
            ("initial_channel", "#", self.names.channel),
        ):
            if element.get(key):
                return esc(prefix + lookup(str(element[key]))), True
        for key in ("initial_value", "initial_date", "initial_time", "initial_date_time"):
            if element.get(key) not in (None, ""):
                return esc(element[key]), True
        if element.get("placeholder"):
            return self.text(element["placeholder"]), False
        default = {"datepicker": "Select a date", "timepicker": "Select time"}.get(kind, "")
        return esc(default or ("Select an item" if kind.endswith("select") else "")), False

    def choices(self, element: Json, *, radio: bool) -> str:
        chosen = element.get("initial_options") or [element.get("initial_option")]
        rows = []
        for option in element.get("options") or []:
            if not isinstance(option, dict):
                continue
            on = " on" if option in chosen else ""
            mark = "●" if radio and on else "✓" if on else ""
            desc = (
                f'<div class="desc">{self.text(option["description"])}</div>'
                if option.get("description")
                else ""
            )
            rows.append(
                f'<div class="bk-choice"><span class="box{" radio" if radio else ""}{on}">{mark}</span>'
                f"<div>{self.text(option.get('text'))}{desc}</div></div>"
            )
        return f'<div class="bk-choices">{"".join(rows)}</div>'
