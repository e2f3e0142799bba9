"""mrkdwn and Block Kit in the transcript: HTML that reads like Slack, text that reads in a terminal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sandbox.demo.blocks_html import BlockHtml
from sandbox.demo.blocks_text import Paint, block_lines, element_label, message_lines
from sandbox.demo.directory import Directory
from sandbox.demo.model import ModalStep, Posted, Transcript
from sandbox.demo.transcript import digest, render_html, render_text
from sandbox.slack import TimelineEvent

Json = dict[str, Any]
NAMES = Directory.sandbox_defaults()
HTML = BlockHtml(NAMES)


def section(text: str) -> Json:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def html_of(mrkdwn: str) -> str:
    return HTML.mrkdwn(mrkdwn)


def text_of(mrkdwn: str) -> str:
    return "\n".join(message_lines(mrkdwn, [], NAMES))


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("*bold* _italic_ ~gone~", "<b>bold</b> <i>italic</i> <s>gone</s>"),
        ("*State:* Running", "<b>State:</b> Running"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("`a < b` and ```x = 1\ny = 2```", "<code>a &lt; b</code> and <pre>x = 1\ny = 2</pre>"),
        ("<https://example.com/a?b=1&amp;c=2|the docs>", '<a href="https://example.com/a?b=1&amp;c=2" rel='),
        (
            "<@U0APPROVER1> and <#C0MIGRATE>",
            '<span class="mention">@alex</span> and <span class="mention">#migrations',
        ),
        (
            "<!subteam^S0SMCAPPROVERS> <!here>",
            '<span class="mention">@smc-approvers</span> <span class="mention">@here',
        ),
        (":warning: :white_check_mark: :x: :hourglass: :rocket: :lock:", "⚠️ ✅ ❌ ⌛ 🚀 🔒"),
        (":not_an_emoji: at 10:42:01", ":not_an_emoji: at 10:42:01"),
        ("line one\n• bullet\n&gt; quoted", "line one<br>• bullet<blockquote>quoted</blockquote>"),
        ("a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c"),
        ("<!date^0^{date_num} {time}|some day>", "1970-01-01 00:00"),
        ("<!date^0^{weird}|the fallback>", "the fallback"),
    ],
)
def test_mrkdwn_becomes_slack_like_html(source: str, html: str) -> None:
    assert html in html_of(source)


def test_markup_inside_messages_is_escaped_not_interpreted() -> None:
    html = html_of('<script>alert("x")</script> <javascript:alert(1)|click> <img src=x onerror=y>')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "href" not in html
    assert '<span class="link-unsafe">click</span>' in html


def test_mrkdwn_in_the_terminal_drops_markers_and_shows_names() -> None:
    assert text_of("*Approved* by <@U0APPROVER1> in `cn-hangzhou`") == "Approved by @alex in cn-hangzhou"
    assert (
        text_of("<https://example.com|docs> <https://example.com>")
        == "docs (https://example.com) https://example.com"
    )
    assert text_of("~old~ _new_") == "~old~ new"


def test_progress_bars_render_in_monospace_spans() -> None:
    html = html_of("`▓▓▓░░ 60%` and ▓░")
    bar = '<span class="bar"><span class="bar-on">▓▓▓</span><span class="bar-off">░░</span></span>'
    assert f'<code class="has-bar">{bar} 60%</code>' in html
    assert '<span class="bar"><span class="bar-on">▓</span><span class="bar-off">░</span></span>' in html


SUMMARY: list[Json] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Migration :rocket:"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Source *web-01*"},
        "fields": [
            {"type": "mrkdwn", "text": "*State*\nRunning"},
            {"type": "mrkdwn", "text": "*ETA:*\n5 min"},
        ],
        "accessory": {
            "type": "overflow",
            "action_id": "more",
            "options": [{"text": {"type": "plain_text", "text": "Details"}, "value": "d"}],
        },
    },
    {"type": "divider"},
    {
        "type": "context",
        "elements": [
            {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "aliyun"},
            {"type": "mrkdwn", "text": "req-7"},
        ],
    },
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "action_id": "a",
                "style": "primary",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "action_id": "r",
                "style": "danger",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Console"},
                "action_id": "c",
                "url": "https://x.example",
            },
            {
                "type": "static_select",
                "action_id": "s",
                "placeholder": {"type": "plain_text", "text": "Speed"},
            },
        ],
    },
    {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "speed chart"},
    {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [{"type": "text", "text": "Checklist", "style": {"bold": True}}],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "delete the job"}]},
                    {"type": "rich_text_section", "elements": [{"type": "user", "user_id": "U0REQUESTER"}]},
                ],
            },
        ],
    },
    {"type": "mystery"},
]


def test_blocks_become_slack_like_html() -> None:
    html = HTML.blocks(SUMMARY)
    assert '<div class="bk-header">Migration 🚀</div>' in html
    assert '<div class="bk-field"><b>State</b><br>Running</div>' in html
    assert '<div class="bk-accessory"><span class="bk-btn bk-overflow"' in html
    assert '<hr class="bk-divider">' in html
    assert '<span class="bk-btn bk-btn-primary">Approve</span>' in html
    assert '<span class="bk-btn bk-btn-danger">Reject</span>' in html
    assert 'Console <span class="ext">↗</span>' in html
    assert '<span class="bk-select"><span class="ph">Speed</span><span class="caret">▾</span></span>' in html
    assert "https://example.com" not in html  # images stay offline: placeholders with their alt text
    assert "🖼 speed chart" in html
    assert "<b>Checklist</b><br>• delete the job<br>• " in html
    assert '<span class="mention">@riley</span>' in html
    assert "[mystery block]" in html


def test_blocks_become_terminal_lines() -> None:
    assert block_lines(SUMMARY, NAMES) == [
        "Migration 🚀",
        "Source web-01   [ ⋯ ]",
        "State: Running                        ETA: 5 min",
        "─" * 40,
        "🖼 aliyun · req-7",
        "[ Approve ]  [ Reject ]  [ Console ↗ ]  [ Speed ▾ ]",
        "🖼  speed chart",
        "Checklist",
        "• delete the job",
        "• @riley",
        "[mystery block]",
    ]


def test_elements_read_like_the_screen() -> None:
    def label(element: Json) -> str:
        return element_label(element, NAMES)

    option = {"text": {"type": "plain_text", "text": "Image"}, "value": "image"}
    assert label({"type": "static_select", "initial_option": option}) == "[ Image ▾ ]"
    assert label({"type": "users_select", "initial_user": "U0APPROVER2"}) == "[ @sam ▾ ]"
    assert label({"type": "datepicker", "initial_date": "2025-01-31"}) == "[ 📅 2025-01-31 ]"
    assert label({"type": "checkboxes", "options": [option], "initial_options": [option]}) == "☑ Image"
    assert label({"type": "radio_buttons", "options": [option]}) == "○ Image"
    primary = {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "style": "primary"}
    assert element_label(primary, NAMES, Paint(True)) == "\x1b[32;1m[ Go ]\x1b[0m"


def test_an_edit_digest_says_what_changed() -> None:
    assert digest(["State: Queued", "░░ 0%"], ["State: Running", "▓░ 50%"]) == "State: Running · ▓░ 50%"
    assert digest(["a", "[ Approve ]"], ["a"]) == "removed [ Approve ]"
    assert digest(["same"], ["same"]) == "no visible change"
    assert digest([], ["x" * 400]).endswith("…")


def event(seq: int, kind: str, **fields: Any) -> TimelineEvent:
    return TimelineEvent(seq=seq, at=1_700_000_000.0 + seq, kind=kind, **fields)


def test_a_bare_timeline_renders_with_the_sandbox_names_and_keeps_other_channels_out() -> None:
    events = [
        event(1, "command", user="U0REQUESTER", channel="C0MIGRATE", text="/smc help"),
        event(
            2, "ephemeral", user="U0REQUESTER", channel="C0MIGRATE", ts="1.1", text="*/smc* runs migrations"
        ),
        event(3, "message", user="U0SMCBOT", channel="C0GENERAL", ts="2.1", text="elsewhere"),
        event(4, "message", user="U0ADMIN", channel="C0MIGRATE", ts="3.1", text="hello <@U0SMCBOT>"),
    ]
    text = render_text(Transcript.from_timeline(events, channel="#migrations"))
    assert "@riley typed /smc help" in text
    assert "SMC Bot APP (only visible to @riley)" in text
    assert "/smc runs migrations" in text
    assert "elsewhere" not in text
    assert "Ada Admin\n" in text  # a person's message: no APP badge
    assert "hello @SMC Bot" in text
    assert "Tuesday 14 November 2023 · times in UTC" in text


def test_times_follow_the_chosen_timezone() -> None:
    events = [event(1, "command", user="U0REQUESTER", channel="C0MIGRATE", text="/smc list")]
    shanghai = dt.timezone(dt.timedelta(hours=8), "CST")
    directory = Directory.sandbox_defaults(tz=shanghai)
    assert "06:13:21  @riley typed /smc list" in render_text(
        Transcript.from_timeline(events, directory=directory)
    )


def test_modal_updates_fold_into_the_card_of_the_opening_until_it_is_submitted() -> None:
    first = [
        {
            "type": "input",
            "block_id": "a",
            "label": {"type": "plain_text", "text": "A"},
            "element": {"type": "plain_text_input", "action_id": "x"},
        }
    ]
    more = [
        *first,
        {
            "type": "input",
            "block_id": "b",
            "label": {"type": "plain_text", "text": "B"},
            "element": {"type": "plain_text_input", "action_id": "y"},
        },
    ]
    events = [
        event(1, "view_opened", user="U0REQUESTER", view_id="V1", text="Migrate", blocks=[]),
        event(2, "view_updated", user="U0REQUESTER", view_id="V1", text="Migrate", blocks=first),
        event(3, "view_updated", user="U0REQUESTER", view_id="V1", text="Migrate", blocks=more),
        event(4, "view_errors", user="U0REQUESTER", view_id="V1", detail={"errors": {"b": "too small"}}),
        event(5, "view_updated", user="U0REQUESTER", view_id="V1", text="Migrate", blocks=more),
        event(
            6,
            "view_submitted",
            user="U0REQUESTER",
            view_id="V1",
            detail={
                "values": {
                    "a": {"x": {"type": "plain_text_input", "value": "1"}},
                    "b": {"y": {"type": "plain_text_input", "value": "2"}},
                }
            },
        ),
    ]
    transcript = Transcript.from_timeline(events)
    steps = [i for i in transcript.items if isinstance(i, ModalStep)]
    assert [(s.kind, s.updates) for s in steps] == [
        ("opened", 2),
        ("errors", 0),
        ("updated", 0),
        ("submitted", 0),
    ]
    assert steps[0].blocks == more
    assert steps[1].errors == (("B", "too small"),)
    assert steps[3].values == (("A", "1"), ("B", "2"))
    text = render_text(transcript)
    assert "▣ modal “Migrate” opened for @riley (then updated 2 times)" in text
    assert "⚠ “Migrate” refused @riley's input" in text
    html = render_html(transcript)
    assert '<ul class="errors"><li><b>B</b> too small</li></ul>' in html


def test_a_deleted_parent_with_replies_leaves_a_tombstone() -> None:
    events = [
        event(1, "message", user="U0SMCBOT", channel="C0MIGRATE", ts="1.1", text="parent"),
        event(2, "reply", user="U0SMCBOT", channel="C0MIGRATE", ts="1.2", thread_ts="1.1", text="child"),
        event(3, "delete", channel="C0MIGRATE", ts="1.1"),
        event(4, "message", user="U0SMCBOT", channel="C0MIGRATE", ts="1.3", text="gone"),
        event(5, "delete", channel="C0MIGRATE", ts="1.3"),
    ]
    transcript = Transcript.from_timeline(events)
    assert [type(i) for i in transcript.items].count(Posted) == 3
    html = render_html(transcript)
    assert "This message was deleted." in html
    assert "child" in html
    assert "gone" not in html
    assert "🗑  “gone” was deleted" in render_text(transcript)
