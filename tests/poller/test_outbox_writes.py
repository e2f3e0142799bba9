"""The poller's bulk outbox writes: replies recorded once by key, summary edits coalesced and scheduled."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient

from bot.delivery import Delivery, OutboxItem, SlackMessage
from bot.domain import notifications
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import OutboxKind, OutboxState
from storage.types import utcnow

C = MIGRATIONS_CHANNEL


def test_replies_recorded_twice_by_key_are_kept_once_in_their_order(any_db: Database) -> None:
    items = [
        {
            "key": f"req:r-1:job:j-1:{name}",
            "kind": OutboxKind.SLACK_POST,
            "payload": {"n": n},
            "thread_key": "p",
        }
        for n, name in enumerate(["status:Running:1", "business:1:Preparing", "business:1:Syncing"])
    ]
    with any_db.unit_of_work() as s:
        assert repo.enqueue_many(s, items[:2]) == {items[0]["key"], items[1]["key"]}
    with any_db.unit_of_work() as s:
        assert repo.enqueue_many(s, items) == {items[2]["key"]}
        rows = [repo.get_outbox(s, str(item["key"])) for item in items]
    assert all(row is not None for row in rows)
    ids = [row.id for row in rows if row is not None and row.id is not None]
    assert ids == sorted(ids)


def test_a_waiting_summary_edit_is_left_alone_and_new_edits_are_spaced_after_the_last(
    any_db: Database,
) -> None:
    spacing = timedelta(seconds=1.25)
    with any_db.unit_of_work() as s:
        notifications.refresh_request_summaries(s, [("r-1", C), ("r-2", C)], spacing=spacing)
    with any_db.unit_of_work() as s:
        first = repo.get_outbox(s, notifications.summary_edit_key("r-1"))
        second = repo.get_outbox(s, notifications.summary_edit_key("r-2"))
        assert first is not None and second is not None
        assert second.next_attempt_at - first.next_attempt_at == spacing
        due_before = first.next_attempt_at
    with any_db.unit_of_work() as s:
        notifications.refresh_request_summaries(s, [("r-1", C), ("r-3", C)], spacing=spacing)
    with any_db.unit_of_work() as s:
        first = repo.get_outbox(s, notifications.summary_edit_key("r-1"))
        third = repo.get_outbox(s, notifications.summary_edit_key("r-3"))
        assert first is not None and third is not None and second is not None
        assert first.next_attempt_at == due_before  # already waiting: not moved, not duplicated
        assert third.next_attempt_at == second.next_attempt_at + spacing


def test_an_edit_being_sent_when_the_state_changes_again_is_sent_again_fresh(
    db: Database, slack: SlackStandIn
) -> None:
    versions = iter(["v1", "v2", "v3"])
    with db.unit_of_work() as s:
        repo.enqueue(s, "summary", OutboxKind.SLACK_POST, {"text": "v0"}, channel_id=C)

    def render(item: OutboxItem) -> SlackMessage:
        if item.kind is OutboxKind.SLACK_UPDATE and item.payload.get("race"):
            # The poller records a newer state while this edit is on its way to Slack.
            with db.unit_of_work() as s:
                repo.mark_dirty_many(
                    s,
                    [
                        {
                            "key": "summary:edit",
                            "kind": OutboxKind.SLACK_UPDATE,
                            "payload": {},
                            "target_key": "summary",
                        }
                    ],
                    in_flight_delay=timedelta(0),
                )
        return SlackMessage(text=next(versions) if item.kind is OutboxKind.SLACK_UPDATE else "v0")

    delivery = Delivery(
        db, WebClient(token=slack.bot_token, base_url=slack.api_url), render, owner="d", post_interval=0
    )
    delivery.run_once()
    with db.unit_of_work() as s:
        repo.mark_dirty(
            s, "summary:edit", OutboxKind.SLACK_UPDATE, {"race": True}, channel_id=C, target_key="summary"
        )
    delivery.run_once()
    with db.unit_of_work() as s:
        edit = repo.get_outbox(s, "summary:edit")
        assert edit is not None and edit.state is OutboxState.PENDING and edit.lease_owner is None
    later = Delivery(
        db,
        WebClient(token=slack.bot_token, base_url=slack.api_url),
        render,
        owner="d",
        post_interval=0,
        clock=lambda: utcnow() + timedelta(seconds=1),
    )
    later.run_once()
    (message,) = slack.channel_messages(C)
    assert message.text == "v2" and len(message.edits) == 2
    with db.unit_of_work() as s:
        edit = repo.get_outbox(s, "summary:edit")
        assert edit is not None and edit.state is OutboxState.SENT
