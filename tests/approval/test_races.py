"""Atomic decisions (issue 5 item 6): concurrent approvers, two replicas, and Slack retries start one job."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sandbox.cloud import CloudSimulator
from sandbox.slack import (
    APPROVER_1,
    APPROVER_2,
    APPROVERS_HANDLE,
    BotResponse,
    SlackDriver,
    SlackStandIn,
    User,
)
from storage.db import Database
from storage.enums import AuditOutcome, RequestState
from tests.approval.conftest import add_request, ask, audit, card, configure, intents, request, votes
from tests.harness import BotUnderTest, running_bot

EXTRA_APPROVERS = ("U0APPROVER3", "U0APPROVER4", "U0APPROVER5")


def _together(calls: list[Callable[[], BotResponse]]) -> list[BotResponse]:
    """Run every call at the same instant on its own thread; return the answers in call order."""
    barrier = threading.Barrier(len(calls))
    answers: list[BotResponse | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


@pytest.fixture
def five_approvers(slack: SlackStandIn) -> list[str]:
    for index, user_id in enumerate(EXTRA_APPROVERS, start=3):
        slack.add_user(User(user_id, f"approver{index}", f"Approver {index}"))
    members = [APPROVER_1, APPROVER_2, *EXTRA_APPROVERS]
    slack.set_usergroup(APPROVERS_HANDLE, members)
    return members


def _twenty_approvers_click_at_once(bot: BotUnderTest, members: list[str]) -> None:
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    shown = card(bot.slack, rid)
    clickers = [members[i % len(members)] for i in range(20)]
    answers = _together(
        [lambda who=who: bot.driver.block_action(who, "approve", message=shown) for who in clickers]  # type: ignore[misc]
    )
    assert all(a.acked_in_time and not a.problems for a in answers)

    assert request(bot.services.db, rid).state is RequestState.APPROVED
    decisions = [e for e in audit(bot.services.db, rid) if e.action == "approval.approved"]
    assert len(decisions) == 1, "exactly one APPROVED transition"
    assert len(intents(bot.services.db, rid)) == 1, "exactly one execution intent"
    assert len(votes(bot.services.db, rid)) == 2, "votes after the decision are refused, not stored"
    refused = [e for e in audit(bot.services.db, rid) if e.outcome is AuditOutcome.REFUSED]
    assert len(refused) == 18


def test_twenty_concurrent_clicks_by_five_approvers_with_quorum_two_approve_once_on_postgresql(
    pg_db: Database, slack: SlackStandIn, cloud: CloudSimulator, five_approvers: list[str]
) -> None:
    with running_bot(pg_db, slack, cloud, process_before_response=True) as bot:
        _twenty_approvers_click_at_once(bot, five_approvers)


def test_twenty_concurrent_clicks_by_five_approvers_with_quorum_two_approve_once_on_sqlite(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, five_approvers: list[str]
) -> None:
    with running_bot(db, slack, cloud, process_before_response=True) as bot:
        _twenty_approvers_click_at_once(bot, five_approvers)


class _Capture(BaseHTTPRequestHandler):
    """Stands where a load balancer would: takes Slack's request and answers 200 without a bot."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def capture_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_two_replicas_receiving_the_same_signed_click_at_once_record_one_intent(
    pg_db: Database, pg_url: str, slack: SlackStandIn, cloud: CloudSimulator, capture_url: str
) -> None:
    second_db = Database(pg_url)
    try:
        with (
            running_bot(pg_db, slack, cloud, process_before_response=True) as replica_a,
            running_bot(second_db, slack, cloud, process_before_response=True) as replica_b,
        ):
            configure(pg_db)
            rid = add_request(pg_db)
            ask(replica_a, rid)
            click = SlackDriver(slack, capture_url).block_action(
                APPROVER_1, "approve", message=card(slack, rid)
            )
            body = click.request_body
            answers = _together(
                [
                    lambda: replica_a.driver.post_raw(body, replica_a.driver.signed_headers(body)),
                    lambda: replica_b.driver.post_raw(body, replica_b.driver.signed_headers(body)),
                ]
            )
            assert [a.status for a in answers] == [200, 200]
            assert request(pg_db, rid).state is RequestState.APPROVED
            assert len(intents(pg_db, rid)) == 1
            assert len(votes(pg_db, rid)) == 1
            replica_a.settle()
            replica_b.settle()
            assert len(slack.ephemerals(APPROVER_1)) == 1, "one answer to one click"
    finally:
        second_db.dispose()


def test_a_replayed_click_is_not_a_second_vote(
    pg_db: Database, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    with running_bot(pg_db, slack, cloud, process_before_response=True) as bot:
        configure(pg_db, quorum=2)
        rid = add_request(pg_db)
        ask(bot, rid)
        first = bot.driver.block_action(APPROVER_1, "approve", message=card(slack, rid))
        retry = bot.driver.replay(first)
        again = bot.driver.replay(first, retry_num=2)
        assert retry.status == 200 and again.status == 200
        bot.settle()
        assert len(votes(pg_db, rid)) == 1
        assert request(pg_db, rid).state is RequestState.AWAITING_APPROVAL
        assert "1 of 2" in str(card(slack, rid).blocks)
        assert len(slack.ephemerals(APPROVER_1)) == 1
        assert intents(pg_db, rid) == []
