"""The transcript of a realistic stand-in session: posts, edits, threads, an ephemeral, a modal, a file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from slack_sdk import WebClient

from sandbox.demo.transcript import Transcript, render_html, render_text
from sandbox.slack import (
    APPROVER_1,
    APPROVERS_GROUP,
    MIGRATIONS_CHANNEL,
    OUTSIDER,
    REQUESTER,
    SlackDriver,
    SlackStandIn,
)
from tests.harness import acking_server

Json = dict[str, Any]
TITLE = "Migration req-7: web-01 → image"


def plain(text: str) -> Json:
    return {"type": "plain_text", "text": text}


def md(text: str) -> Json:
    return {"type": "mrkdwn", "text": text}


def button(label: str, action_id: str, style: str | None = None) -> Json:
    b: Json = {"type": "button", "text": plain(label), "action_id": action_id, "value": action_id}
    if style:
        b["style"] = style
    return b


def summary(state: str, percent: int, buttons: list[Json]) -> list[Json]:
    bar = "▓" * (percent // 5) + "░" * (20 - percent // 5)
    return [
        {"type": "header", "text": plain(f":rocket: {TITLE}")},
        {
            "type": "section",
            "text": md(
                f"Requested by <@{REQUESTER}> for <!subteam^{APPROVERS_GROUP}>. "
                "*Test and Migrate* to `cn-hangzhou`"
            ),
        },
        {
            "type": "section",
            "fields": [md(f"*State*\n{state}"), md("*Source*\n`s-0001` web-01"), md("*ETA*\n14 min")],
        },
        {"type": "section", "text": md(f"`{bar} {percent}%`")},
        {"type": "context", "elements": [md("req-7 · <https://smc.console.aliyun.com/|SMC console>")]},
        {"type": "actions", "elements": buttons},
    ]


MIGRATE_MODAL: Json = {
    "type": "modal",
    "callback_id": "migrate",
    "title": plain("Migrate a server"),
    "submit": plain("Start"),
    "blocks": [
        {
            "type": "input",
            "block_id": "source",
            "label": plain("Source server"),
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": plain("Pick a source"),
                "options": [{"text": plain("web-01 (s-0001)"), "value": "s-0001"}],
            },
        },
        {
            "type": "input",
            "block_id": "speed",
            "optional": True,
            "label": plain("Speed limit (Mbit/s)"),
            "element": {"type": "number_input", "action_id": "mbps", "is_decimal_allowed": False},
        },
    ],
}


@dataclass
class Session:
    slack: SlackStandIn
    summary_ts: str = ""
    evil_ts: str = ""
    text: str = ""
    verbose: str = ""
    html: str = ""
    tree: Element = field(default_factory=lambda: Element("root", {}))


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """One migration as the bot would post it, driven through the real Web API and the driver."""
    with acking_server() as bot_url, SlackStandIn() as slack:
        driver = SlackDriver(slack, bot_url)
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        s = Session(slack)

        assert driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="migrate s-0001").acked_in_time
        opened = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=MIGRATE_MODAL)
        submitted = driver.submit_view(
            REQUESTER, opened["view"]["id"], {"source": {"pick": "s-0001"}, "speed": {"mbps": "100"}}
        )
        assert submitted.acked_in_time
        approve = [button("Approve", "approve", "primary"), button("Reject", "reject", "danger")]
        posted = client.chat_postMessage(
            channel=MIGRATIONS_CHANNEL, text=TITLE, blocks=summary("Waiting for approval", 0, approve)
        )
        s.summary_ts = str(posted["ts"])
        client.chat_postEphemeral(
            channel=MIGRATIONS_CHANNEL, user=OUTSIDER, text="Only *smc-approvers* can approve req-7."
        )
        [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
        assert driver.block_action(APPROVER_1, "approve", message=message).acked_in_time
        client.chat_postMessage(
            channel=MIGRATIONS_CHANNEL,
            thread_ts=s.summary_ts,
            text=f":white_check_mark: Approved by <@{APPROVER_1}> (1 of 1)",
        )
        running = [button("Pause", "pause"), button("Cancel", "cancel", "danger")]
        for percent in (25, 50, 75):
            client.chat_update(
                channel=MIGRATIONS_CHANNEL,
                ts=s.summary_ts,
                text=TITLE,
                blocks=summary("Running", percent, running),
            )
            client.chat_postMessage(
                channel=MIGRATIONS_CHANNEL, thread_ts=s.summary_ts, text=f"{percent}% transferred"
            )
        evil = client.chat_postMessage(
            channel=MIGRATIONS_CHANNEL,
            text="evil",
            blocks=[
                {"type": "section", "text": md("<script>alert(1)</script> <javascript:alert(2)|click me>")}
            ],
        )
        s.evil_ts = str(evil["ts"])
        client.chat_update(
            channel=MIGRATIONS_CHANNEL,
            ts=s.summary_ts,
            text=TITLE,
            blocks=summary("Finished", 100, [button("Verify", "verify", "primary")]),
        )
        client.chat_postMessage(
            channel=MIGRATIONS_CHANNEL,
            thread_ts=s.summary_ts,
            reply_broadcast=True,
            text=f":tada: *Finished* in 42 min: image `m-abc123`. <@{REQUESTER}>, verify and clean up.",
        )
        client.files_upload_v2(
            channel=MIGRATIONS_CHANNEL,
            thread_ts=s.summary_ts,
            content="when,who,what\n",
            filename="audit.csv",
            title="Audit log",
        )

        transcript = Transcript.from_stand_in(slack, channel="#migrations")
        s.text = render_text(transcript)
        s.verbose = render_text(transcript, verbose=True)
        s.html = render_html(transcript)
        s.tree = parse_html(s.html)
        yield s


# -- a strict little DOM, so tests can ask what is nested in what ---------------------------------------

VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes()):
                    found.append(child)
                found += child.find_all(tag, cls)
        return found

    def by_id(self, ident: str) -> Element:
        [found] = [e for e in self.find_all() if e.attrs.get("id") == ident]
        return found


class _Strict(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.stack = [self.root]
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.stack[-1].tag != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(page: str) -> Element:
    parser = _Strict()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert [e.tag for e in parser.stack] == ["root"], "unclosed elements"
    return parser.root


def line_index(text: str, pattern: str) -> int:
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines) if pattern in line)


# -- text -------------------------------------------------------------------------------------------------


def test_text_tells_the_story_in_the_order_it_happened(session: Session) -> None:
    steps = [
        "@riley typed /smc migrate s-0001",
        "modal “Migrate a server” opened for @riley",
        "@riley submitted “Migrate a server”",
        "Requested by @riley for @smc-approvers",
        "(only visible to @otto)",
        "@alex clicked Approve on “🚀 Migration req-7",
        "✅ Approved by @alex (1 of 1)",
        "25% transferred",
        "final version:",
        "🎉 Finished in 42 min",
        "📎 audit.csv",
    ]
    positions = [line_index(session.text, step) for step in steps]
    assert positions == sorted(positions)


def test_text_names_people_instead_of_user_ids(session: Session) -> None:
    assert "U0" not in session.text
    assert "S0SMC" not in session.text
    assert "SMC Bot APP" in session.text


def test_text_indents_thread_replies_under_a_bar(session: Session) -> None:
    lines = session.text.splitlines()
    head = line_index(session.text, "in thread “🚀 Migration req-7")
    assert re.match(r"^\d\d:\d\d:\d\d    ┃ SMC Bot APP · in thread", lines[head])
    assert lines[head + 1] == " " * 10 + "  ┃   ✅ Approved by @alex (1 of 1)"
    top = line_index(session.text, "Requested by @riley")
    assert not lines[top].lstrip().startswith("┃")


def test_text_flattens_blocks_to_readable_lines(session: Session) -> None:
    text = session.text
    assert "[ Approve ]  [ Reject ]" in text
    assert "State: Waiting for approval" in text
    assert "Source: s-0001 web-01" in text
    assert "░░░░░░░░░░░░░░░░░░░░ 0%" in text
    assert "SMC console (https://smc.console.aliyun.com/)" in text
    assert "Test and Migrate to cn-hangzhou" in text  # *bold* and `code` markers dropped


def test_text_shows_first_and_final_versions_in_full_and_one_line_per_edit_between(session: Session) -> None:
    text = session.text
    assert text.count("  🚀 Migration req-7: web-01 → image\n") == 2
    assert "↻ “🚀 Migration req-7: web-01 → image” updated: State: Running · " in text
    assert "updated: ▓▓▓▓▓▓▓▓▓▓░░░░░░░░░░ 50%\n" in text
    final = line_index(text, "final version:")
    assert "State: Finished" in "\n".join(text.splitlines()[final : final + 6])


def test_verbose_text_shows_every_version_in_full(session: Session) -> None:
    assert session.verbose.count("  🚀 Migration req-7: web-01 → image\n") == 5
    assert "version 3:" in session.verbose


def test_text_shows_the_modal_submission_as_label_and_value(session: Session) -> None:
    text = session.text
    assert "Source server · Speed limit (Mbit/s) (optional)" in text
    assert "Source server: web-01 (s-0001)" in text
    assert "Speed limit (Mbit/s): 100" in text


def test_text_marks_the_broadcast_reply_and_the_file(session: Session) -> None:
    assert "· also sent to #migrations" in session.text
    assert "📎 audit.csv — Audit log" in session.text


def test_text_is_colored_only_when_asked(session: Session) -> None:
    assert "\x1b[" not in session.text
    colored = render_text(Transcript.from_stand_in(session.slack, channel=MIGRATIONS_CHANNEL), color=True)
    assert "\x1b[1m" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == session.text


# -- HTML -------------------------------------------------------------------------------------------------


def test_html_is_one_well_formed_page_without_scripts_or_external_assets(session: Session) -> None:
    page = session.html
    assert page.startswith("<!DOCTYPE html>")
    assert len(session.tree.find_all("style")) == 1
    assert session.tree.find_all("script") == []
    assert session.tree.find_all("link") == []
    for element in session.tree.find_all():
        assert not element.attrs.get("src", "").startswith(("http:", "https:", "//"))
    assert "url(" not in page


def test_html_shows_message_content_as_text_never_as_markup(session: Session) -> None:
    assert "<script>alert(1)</script>" not in session.html
    evil = session.tree.by_id("m-" + session.evil_ts.replace(".", "-"))
    assert "<script>alert(1)</script>" in evil.text()
    assert all("javascript" not in a.attrs.get("href", "") for a in session.tree.find_all("a"))
    assert "click me" in evil.text()


def test_html_nests_thread_replies_under_their_parent(session: Session) -> None:
    parent = session.tree.by_id("m-" + session.summary_ts.replace(".", "-"))
    [thread] = parent.find_all("details", "thread")
    assert "open" in thread.attrs
    assert "6 replies" in thread.find_all("summary")[0].text()
    replies = [m.text() for m in thread.find_all("div", "reply")]
    assert len(replies) == 6
    assert "✅ Approved by @alex (1 of 1)" in replies[0]
    assert "audit.csv" in replies[-1]


def test_html_shows_the_final_state_with_an_edit_history(session: Session) -> None:
    parent = session.tree.by_id("m-" + session.summary_ts.replace(".", "-"))
    current = parent.find_all("div", "msg-content")[0].text()
    assert "Finished" in current
    assert "Waiting for approval" not in current
    assert [b.text() for b in parent.find_all("span", "bk-btn")][:1] == ["Verify"]
    assert parent.find_all("span", "edited")
    [history] = parent.find_all("details", "history")
    assert "5 versions" in history.text()
    assert len(history.find_all("li")) == 5
    assert "Waiting for approval" in history.text()
    assert "State: Running" in history.text()


def test_html_shows_the_broadcast_reply_in_the_channel_too(session: Session) -> None:
    feed = session.tree.find_all("div", "feed")[0]
    top_level = [c for c in feed.children if isinstance(c, Element) and "msg" in c.classes()]
    broadcast = [m for m in top_level if "replied to a thread" in m.text()]
    assert len(broadcast) == 1
    assert "🎉 Finished in 42 min" in broadcast[0].text()
    parent = session.tree.by_id("m-" + session.summary_ts.replace(".", "-"))
    assert "Also sent to #migrations" in parent.text()


def test_html_renders_block_kit_like_slack(session: Session) -> None:
    message = session.tree.by_id("m-" + session.summary_ts.replace(".", "-"))
    parent = message.find_all("div", "msg-content")[0]
    [header] = parent.find_all("div", "bk-header")
    assert header.text() == "🚀 Migration req-7: web-01 → image"
    fields = [f.text() for f in parent.find_all("div", "bk-field")]
    assert fields[0] == "StateFinished"
    assert [b.text() for b in parent.find_all("b")][:2] == ["Test and Migrate", "State"]
    assert any(a.attrs["href"] == "https://smc.console.aliyun.com/" for a in parent.find_all("a"))
    assert [m.text() for m in parent.find_all("span", "mention")][:2] == ["@riley", "@smc-approvers"]
    bar = parent.find_all("span", "bar")[0]
    assert [c.text() for c in bar.find_all("span")] == ["▓" * 20]
    assert "APP" in message.find_all("span", "badge")[0].text()


def test_html_marks_ephemerals_as_only_visible_to_their_user(session: Session) -> None:
    [ephemeral] = session.tree.find_all("div", "ephemeral")
    assert "Only visible to you (@otto)" in ephemeral.text()
    assert "Only smc-approvers can approve req-7." in ephemeral.text()


def test_html_shows_modals_as_cards_with_labels_and_submitted_values(session: Session) -> None:
    cards = session.tree.find_all("div", "modal-card")
    assert [sorted(c.classes() - {"modal-card"}) for c in cards] == [["opened"], ["submitted"]]
    opened, submitted = cards
    assert "Migrate a server" in opened.text()
    assert [label.text() for label in opened.find_all("div", "bk-label")] == [
        "Source server",
        "Speed limit (Mbit/s) (optional)",
    ]
    assert "Pick a source" in opened.text()
    pairs = dict(
        zip(
            [d.text() for d in submitted.find_all("dt")],
            [d.text() for d in submitted.find_all("dd")],
            strict=True,
        )
    )
    assert pairs == {"Source server": "web-01 (s-0001)", "Speed limit (Mbit/s)": "100"}


def test_html_shows_commands_and_clicks_with_names(session: Session) -> None:
    lines = [s.text() for s in session.tree.find_all("div", "sys")]
    assert any("Riley Requester typed /smc migrate s-0001" in line for line in lines)
    assert any("Alex Approver clicked Approve on “🚀 Migration req-7" in line for line in lines)
    visible = session.tree.find_all("body")[0].text()
    assert "U0APPROVER1" not in visible
    assert "U0REQUESTER" not in visible


def test_a_stand_in_or_its_timeline_renders_directly_as_every_conversation(session: Session) -> None:
    from_stand_in = render_text(session.slack)
    assert from_stand_in.startswith("All conversations")
    assert "@riley typed /smc migrate s-0001 · #migrations" in from_stand_in
    assert render_text(session.slack.timeline()) == from_stand_in
    assert "<h1>All conversations</h1>" in render_html(session.slack)
