"""Outbox delivery against the Slack stand-in: order per thread, 429 deferral, no duplicates after crashes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.delivery import METADATA_EVENT, Delivery, OutboxItem, SlackMessage
from bot.inflight import InFlight
from sandbox.slack import GENERAL_CHANNEL, MIGRATIONS_CHANNEL, Channel, SlackStandIn
from sandbox.slack.webapi import DEFAULT_SCOPES
from storage import repository as repo
from storage.db import Database
from storage.enums import OutboxKind, OutboxState
from storage.models import Outbox
from storage.types import utcnow

C = MIGRATIONS_CHANNEL
WAIT = 10.0


def render(item: OutboxItem) -> SlackMessage:
    return SlackMessage(text=str(item.payload["text"]), broadcast=bool(item.payload.get("broadcast")))


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    # No RateLimitErrorRetryHandler: delivery defers on 429 itself instead of sleeping.
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.fixture
def delivery(db: Database, client: WebClient) -> Iterator[Delivery]:
    yield Delivery(db, client, render, owner="test", post_interval=0.0)


def post(db: Database, key: str, text: str, *, thread: str | None = None, broadcast: bool = False) -> None:
    with db.unit_of_work() as s:
        payload = {"text": text, "broadcast": broadcast}
        repo.enqueue(s, key, OutboxKind.SLACK_POST, payload, channel_id=C, thread_key=thread)


def drain(delivery: Delivery, rounds: int = 10) -> None:
    for _ in range(rounds):
        delivery.run_once()


def test_a_thread_reply_waits_for_its_parent_and_replies_keep_their_order(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "reply-1", "first reply", thread="parent")
    post(db, "reply-2", "second reply", thread="parent")
    assert delivery.run_once().sent == 0
    post(db, "parent", "the summary")
    drain(delivery)
    (parent,) = slack.channel_messages(C)
    assert parent.text == "the summary"
    assert [r.text for r in parent.replies] == ["first reply", "second reply"]
    with db.unit_of_work() as s:
        item = repo.get_outbox(s, "parent")
        assert item is not None and item.state is OutboxState.SENT and item.result_ts == parent.ts


def test_an_update_edits_the_message_its_target_key_produced(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "summary", "v1")
    drain(delivery)
    with db.unit_of_work() as s:
        repo.mark_dirty(
            s, "summary:edit", OutboxKind.SLACK_UPDATE, {"text": "v2"}, channel_id=C, target_key="summary"
        )
    drain(delivery)
    with db.unit_of_work() as s:
        repo.mark_dirty(
            s, "summary:edit", OutboxKind.SLACK_UPDATE, {"text": "v3"}, channel_id=C, target_key="summary"
        )
    drain(delivery)
    (message,) = slack.channel_messages(C)
    assert message.text == "v3"
    assert len(slack.calls("chat.update")) == 2


def test_a_429_defers_the_item_by_retry_after_without_sleeping_and_it_is_sent_once_later(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "summary", "hello")
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    stats = delivery.run_once()
    assert (stats.sent, stats.rate_limited) == (0, 1)
    with db.unit_of_work() as s:
        item = repo.get_outbox(s, "summary")
        assert item is not None and item.state is OutboxState.PENDING and item.attempts == 0
        assert item.next_attempt_at > utcnow() + timedelta(seconds=25)
    assert delivery.run_once().sent == 0  # not due yet
    later = Delivery(
        db,
        WebClient(token=slack.bot_token, base_url=slack.api_url),
        render,
        owner="test",
        clock=lambda: utcnow() + timedelta(seconds=31),
        post_interval=0.0,
    )
    assert later.run_once().sent == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]


def test_a_post_whose_answer_was_lost_is_adopted_not_posted_twice(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "summary", "hello")
    slack.fail_next("chat.postMessage", status=500, after_effect=True)
    first = delivery.run_once()
    assert first.sent == 0 and first.deferred == 1
    retry = Delivery(
        db,
        WebClient(token=slack.bot_token, base_url=slack.api_url),
        render,
        owner="test",
        clock=lambda: utcnow() + timedelta(seconds=10),
        post_interval=0.0,
    )
    assert retry.run_once().adopted == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]


def test_an_item_abandoned_by_a_dead_process_after_posting_is_adopted(
    db: Database, client: WebClient, slack: SlackStandIn
) -> None:
    post(db, "summary", "hello")
    now = utcnow()
    with db.unit_of_work() as s:
        ((_row, abandoned),) = repo.claim_outbox(
            s, owner="dead", now=now, lease=timedelta(seconds=5), kinds=repo.SLACK_KINDS, limit=10
        )
        assert not abandoned
    # The dead process got as far as posting, then died before recording it.
    client.chat_postMessage(
        channel=C,
        text="hello",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_key": "summary"}},
    )
    survivor = Delivery(
        db, client, render, owner="alive", clock=lambda: now + timedelta(seconds=6), post_interval=0.0
    )
    assert survivor.run_once().adopted == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]
    with db.unit_of_work() as s:
        item = repo.get_outbox(s, "summary")
        assert item is not None and item.state is OutboxState.SENT


def test_a_permanent_slack_error_parks_the_item_as_dead(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    with db.unit_of_work() as s:
        repo.enqueue(s, "lost", OutboxKind.SLACK_POST, {"text": "x"}, channel_id="C0NOSUCHCHANNEL")
    assert delivery.run_once().dead == 1
    with db.unit_of_work() as s:
        item = repo.get_outbox(s, "lost")
        assert item is not None and item.state is OutboxState.DEAD and item.last_error == "channel_not_found"


def test_the_final_reply_is_broadcast_to_the_channel(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "summary", "summary")
    post(db, "finished", "done!", thread="summary", broadcast=True)
    drain(delivery)
    (call,) = [c for c in slack.calls("chat.postMessage") if "done!" in str(c.params)]
    assert str(call.params.get("reply_broadcast")).lower() == "true"


def test_posts_in_one_channel_are_paced_to_one_per_second(
    db: Database, client: WebClient, slack: SlackStandIn
) -> None:
    slack.enable_rate_limits(post_message_per_second=1.0, post_message_burst=1)
    paced = Delivery(db, client, render, owner="test")  # default pacing: a little over 1 s
    for n in range(3):
        post(db, f"m{n}", f"message {n}")
    stats = paced.run_once()
    assert (stats.sent, stats.rate_limited) == (3, 0)
    assert [m.text for m in slack.channel_messages(C)] == ["message 0", "message 1", "message 2"]


def test_sends_wait_behind_the_slack_requests_in_flight(
    db: Database, client: WebClient, slack: SlackStandIn
) -> None:
    in_flight = InFlight(limit_s=WAIT)
    polite = Delivery(db, client, render, owner="test", post_interval=0.0, turn=in_flight.turn)
    post(db, "m0", "message 0")
    with in_flight.serving():
        batch = threading.Thread(target=polite.run_once, daemon=True)
        batch.start()
        batch.join(0.3)
        assert slack.channel_messages(C) == [], "posted while a request was being answered"
    batch.join(WAIT)
    assert [m.text for m in slack.channel_messages(C)] == ["message 0"]


def test_the_one_per_second_pacing_sleeps_outside_the_turn(db: Database, client: WebClient) -> None:
    held: list[float] = []

    @contextmanager
    def turn(since: float) -> Iterator[None]:
        entered = time.monotonic()
        yield
        held.append(time.monotonic() - entered)

    paced = Delivery(db, client, render, owner="test", turn=turn)  # default pacing: a little over 1 s
    for n in range(3):
        post(db, f"m{n}", f"message {n}")
    started = time.monotonic()
    assert paced.run_once().sent == 3
    assert time.monotonic() - started >= 2.0 and len(held) == 3
    assert max(held) < 1.0, "a turn (which holds back other after-ack work under load) slept for pacing"


# --- the look-up before a re-post ------------------------------------------------------------------------


def crash_after_claiming(db: Database, key: str, *, channel: str = C) -> datetime:
    """A process claims the item and dies; a survivor may take it over once the lease ran out (returned)."""
    with db.unit_of_work() as s:
        repo.enqueue(s, key, OutboxKind.SLACK_POST, {"text": "hello"}, channel_id=channel)
    now = utcnow()
    with db.unit_of_work() as s:
        ((_row, abandoned),) = repo.claim_outbox(
            s, owner="dead", now=now, lease=timedelta(seconds=5), kinds=repo.SLACK_KINDS, limit=10
        )
        assert not abandoned
    return now + timedelta(seconds=6)


def post_as_the_dead_process(client: WebClient, key: str, *, channel: str = C) -> None:
    client.chat_postMessage(
        channel=channel,
        text="hello",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_key": key}},
    )


def survivor(db: Database, slack: SlackStandIn, at: datetime) -> Delivery:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    return Delivery(db, client, render, owner="alive", clock=lambda: at, post_interval=0.0)


def item_of(db: Database, key: str) -> Outbox:
    with db.unit_of_work() as s:
        item = repo.get_outbox(s, key)
        assert item is not None
        return item


def test_a_429_on_the_look_up_defers_the_item_unposted_and_the_look_up_runs_again_later(
    db: Database, client: WebClient, slack: SlackStandIn
) -> None:
    due = crash_after_claiming(db, "summary")
    post_as_the_dead_process(client, "summary")
    slack.fail_next("conversations.history", status=429, retry_after=30)

    stats = survivor(db, slack, due).run_once()

    assert (stats.sent, stats.adopted, stats.rate_limited) == (0, 0, 1)
    assert len(slack.calls("chat.postMessage")) == 1, "only the dead process posted"
    deferred = item_of(db, "summary")
    assert deferred.state is OutboxState.PENDING and deferred.attempts == 1
    assert deferred.next_attempt_at >= due + timedelta(seconds=30)
    assert survivor(db, slack, due + timedelta(seconds=10)).run_once().adopted == 0  # not due yet

    assert survivor(db, slack, due + timedelta(seconds=31)).run_once().adopted == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]
    assert len(slack.calls("conversations.history")) == 2
    assert item_of(db, "summary").state is OutboxState.SENT


def test_repeated_429s_on_the_look_up_do_not_use_up_the_retry_budget(
    db: Database, slack: SlackStandIn
) -> None:
    due = crash_after_claiming(db, "summary")
    for n in range(3):
        slack.fail_next("conversations.history", status=429, retry_after=1)
        assert survivor(db, slack, due + timedelta(seconds=2 * n)).run_once().rate_limited == 1
    assert item_of(db, "summary").attempts == 1
    assert survivor(db, slack, due + timedelta(seconds=10)).run_once().sent == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_on_the_look_up_retries_it_with_backoff_without_posting(
    db: Database, client: WebClient, slack: SlackStandIn, status: int
) -> None:
    due = crash_after_claiming(db, "summary")
    post_as_the_dead_process(client, "summary")
    slack.fail_next("conversations.history", status=status)

    stats = survivor(db, slack, due).run_once()

    assert (stats.sent, stats.adopted, stats.deferred) == (0, 0, 1)
    assert len(slack.calls("chat.postMessage")) == 1
    deferred = item_of(db, "summary")
    assert deferred.attempts == 1 and deferred.last_error is not None
    assert deferred.last_error.startswith("lookup:")
    assert survivor(db, slack, due + timedelta(seconds=5)).run_once().adopted == 1
    assert [m.text for m in slack.channel_messages(C)] == ["hello"]


def test_a_reply_whose_thread_look_up_is_rate_limited_waits_too(
    db: Database, delivery: Delivery, slack: SlackStandIn
) -> None:
    post(db, "parent", "the summary")
    drain(delivery)
    post(db, "reply", "a reply", thread="parent")
    slack.fail_next("chat.postMessage", status=500, after_effect=True)
    assert delivery.run_once().deferred == 1
    slack.fail_next("conversations.replies", status=429, retry_after=20)

    later = survivor(db, slack, utcnow() + timedelta(seconds=10))
    assert later.run_once().rate_limited == 1
    assert survivor(db, slack, utcnow() + timedelta(seconds=40)).run_once().adopted == 1
    (parent,) = slack.channel_messages(C)
    assert [r.text for r in parent.replies] == ["a reply"]


def test_not_in_channel_on_the_look_up_joins_the_channel_and_finds_the_earlier_post(
    db: Database, client: WebClient, slack: SlackStandIn
) -> None:
    # chat:write.public: the bot posts in #general without being a member, but cannot read it.
    due = crash_after_claiming(db, "general-post", channel=GENERAL_CHANNEL)
    post_as_the_dead_process(client, "general-post", channel=GENERAL_CHANNEL)
    assert client.conversations_info(channel=GENERAL_CHANNEL)["channel"]["is_member"] is False

    stats = survivor(db, slack, due).run_once()

    assert (stats.adopted, stats.unverified) == (1, 0)
    assert len(slack.calls("chat.postMessage")) == 1, "only the dead process posted"
    assert [m.text for m in slack.channel_messages(GENERAL_CHANNEL)] == ["hello"]
    assert [c.params.get("channel") for c in slack.calls("conversations.join")] == [GENERAL_CHANNEL]
    assert [c.status for c in slack.calls("conversations.history")] == [200, 200]
    assert client.conversations_info(channel=GENERAL_CHANNEL)["channel"]["is_member"] is True


def test_not_in_channel_then_nothing_found_after_joining_posts_once(
    db: Database, slack: SlackStandIn
) -> None:
    due = crash_after_claiming(db, "general-post", channel=GENERAL_CHANNEL)
    stats = survivor(db, slack, due).run_once()
    assert (stats.adopted, stats.sent, stats.unverified) == (0, 1, 0)
    assert [m.text for m in slack.channel_messages(GENERAL_CHANNEL)] == ["hello"]


def test_a_429_on_the_join_defers_the_item_unposted(db: Database, slack: SlackStandIn) -> None:
    due = crash_after_claiming(db, "general-post", channel=GENERAL_CHANNEL)
    slack.fail_next("conversations.join", status=429, retry_after=15)
    assert survivor(db, slack, due).run_once().rate_limited == 1
    assert slack.channel_messages(GENERAL_CHANNEL) == []
    assert survivor(db, slack, due + timedelta(seconds=16)).run_once().sent == 1
    assert [m.text for m in slack.channel_messages(GENERAL_CHANNEL)] == ["hello"]


PRIVATE = "C0PRIVATE"


@pytest.mark.parametrize(
    ("channel", "missing", "error"),
    [
        (GENERAL_CHANNEL, "channels:join", "missing_scope"),  # cannot join, so cannot read
        (PRIVATE, "groups:history", "missing_scope"),  # a private channel the bot cannot read
    ],
)
def test_a_look_up_that_is_impossible_for_good_posts_with_a_warning(
    db: Database, caplog: pytest.LogCaptureFixture, channel: str, missing: str, error: str
) -> None:
    with SlackStandIn(scopes=DEFAULT_SCOPES - {missing}) as slack:
        slack.add_channel(Channel(PRIVATE, "secret-ops", is_private=True))
        due = crash_after_claiming(db, "the-post", channel=channel)
        with caplog.at_level(logging.WARNING, logger="bot.delivery"):
            stats = survivor(db, slack, due).run_once()

        assert (stats.sent, stats.unverified) == (1, 1)
        assert [m.text for m in slack.channel_messages(channel)] == ["hello"]
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "a duplicate cannot be ruled out" in warning and f"error={error}" in warning
        assert item_of(db, "the-post").state is OutboxState.SENT
