"""What keeps a long transcript readable: empty fields folded, small final edits on one line, notices
without a submit button, and an introduction above the channel."""

from __future__ import annotations

from typing import Any

from sandbox.demo.transcript import Transcript, render_html, render_text
from sandbox.slack import TimelineEvent

Json = dict[str, Any]


def event(seq: int, kind: str, **fields: Any) -> TimelineEvent:
    return TimelineEvent(seq=seq, at=1_700_000_000.0 + seq, kind=kind, **fields)


def text_input(block_id: str, label: str) -> Json:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": block_id},
    }


def section(text: str) -> Json:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_submission_lists_what_was_entered_and_names_the_empty_fields_on_one_line() -> None:
    form = [text_input("name", "Job name"), text_input("speed", "Speed limit"), text_input("tags", "Tags")]
    values = {
        "name": {"name": {"type": "plain_text_input", "value": None}},
        "speed": {"speed": {"type": "plain_text_input", "value": "800"}},
        "tags": {"tags": {"type": "plain_text_input", "value": ""}},
    }
    events = [
        event(1, "view_opened", user="U0REQUESTER", view_id="V1", text="Start migration", blocks=form),
        event(2, "view_submitted", user="U0REQUESTER", view_id="V1", detail={"values": values}),
    ]
    text = render_text(Transcript.from_timeline(events))
    assert "Speed limit: 800\n" in text
    assert "left empty: Job name · Tags\n" in text
    assert "Tags: —" not in text
    html = render_html(Transcript.from_timeline(events))
    assert "<dt>Tags</dt><dd>—</dd>" in html  # the page keeps the whole form


def test_a_card_edited_once_shows_its_final_change_on_one_line_and_unseen_edits_are_left_out() -> None:
    card = [section("*Approval needed*"), section("Votes: 0 of 1")]
    voted = [
        section("*Approval needed*"),
        section("Votes: 1 of 1 — @alex"),
        section(":white_check_mark: Approved"),
    ]
    summary = [section("State: waiting")]
    events = [
        event(1, "message", user="U0SMCBOT", channel="C0MIGRATE", ts="1.1", text="s", blocks=summary),
        event(2, "edit", channel="C0MIGRATE", ts="1.1", text="s", blocks=summary),
        event(
            3, "reply", user="U0SMCBOT", channel="C0MIGRATE", ts="1.2", thread_ts="1.1", text="c", blocks=card
        ),
        event(4, "edit", channel="C0MIGRATE", ts="1.2", text="c", blocks=voted),
        event(5, "edit", channel="C0MIGRATE", ts="1.1", text="s", blocks=[section("State: running")]),
    ]
    text = render_text(Transcript.from_timeline(events))
    assert "“Approval needed” final version: Votes: 1 of 1 — @alex · ✅ Approved\n" in text
    assert text.count("Approval needed") == 2  # the card once in full, then one line
    assert "no visible change" not in text
    assert "↻ “State: waiting” version 2:" in render_text(Transcript.from_timeline(events), verbose=True)


def test_a_notice_modal_shows_only_a_close_button_and_a_form_shows_submit() -> None:
    events = [
        event(
            1, "view_opened", user="U0REQUESTER", view_id="V1", text="Import", blocks=[text_input("a", "A")]
        ),
        event(2, "view_submitted", user="U0REQUESTER", view_id="V1", detail={"values": {}}),
        event(
            3, "view_updated", user="U0REQUESTER", view_id="V1", text="Import", blocks=[section("Started")]
        ),
    ]
    html = render_html(Transcript.from_timeline(events))
    form, notice = html.split('class="modal-card opened"')[1], html.split('class="modal-card updated"')[1]
    assert '<span class="bk-btn bk-btn-primary">Submit</span>' in form.split("modal-card")[0]
    assert '<div class="modal-foot"><span class="bk-btn">Close</span></div>' in notice


def test_an_introduction_opens_the_page_as_escaped_paragraphs() -> None:
    events = [event(1, "command", user="U0REQUESTER", channel="C0MIGRATE", text="/smc help")]
    html = render_html(
        Transcript.from_timeline(events), intro=["What this is.", "Ada <b>names</b> approvers."]
    )
    assert (
        '<section class="intro"><p>What this is.</p><p>Ada &lt;b&gt;names&lt;/b&gt; approvers.</p></section>'
        in html
    )
    assert html.index('class="intro"') < html.index('class="feed"')
    assert 'class="intro"' not in render_html(Transcript.from_timeline(events))
