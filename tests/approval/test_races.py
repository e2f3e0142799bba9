"""Atomic decisions (issue 5 item 6): concurrent approvers, two replicas (in one process, and as two
`smc-bot serve` processes), and Slack retries start one job."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bot.domain.approvals import EXECUTE_TASK
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
from tests.execution.helpers import WEB_SOURCE, web_params
from tests.harness import (
    BotUnderTest,
    free_port,
    process_env,
    running_bot,
    sandbox_env,
)

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
    with running_bot(pg_db, slack, cloud) as bot:
        _twenty_approvers_click_at_once(bot, five_approvers)


def test_twenty_concurrent_clicks_by_five_approvers_with_quorum_two_approve_once_on_sqlite(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, five_approvers: list[str]
) -> None:
    with running_bot(db, slack, cloud) as bot:
        _twenty_approvers_click_at_once(bot, five_approvers)


def test_two_replicas_receiving_the_same_signed_click_at_once_record_one_intent(
    pg_db: Database, pg_url: str, slack: SlackStandIn, cloud: CloudSimulator, capture_url: str
) -> None:
    second_db = Database(pg_url)
    try:
        with (
            running_bot(pg_db, slack, cloud) as replica_a,
            running_bot(second_db, slack, cloud) as replica_b,
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
            replica_a.wait_for_background()
            replica_b.wait_for_background()
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
    with running_bot(pg_db, slack, cloud) as bot:
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


# --- two `smc-bot serve` processes ------------------------------------------------------------------------

PROCESS_DEADLINE = 60.0
"""Generous bound for a process to start or to finish handling a click (a hang fails, a slow box passes)."""


@contextmanager
def serve_process(tmp_path: Path, name: str, env: dict[str, str]) -> Iterator[str]:
    """`smc-bot serve` in HTTP mode as its own OS process; yields its base URL once /healthz answers."""
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=tmp_path,
            env=process_env(tmp_path, **env, PORT=str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _healthy(process, url, log_path), f"{name} to start")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=PROCESS_DEADLINE)
        assert code == 0, log_path.read_text()


def _healthy(process: subprocess.Popen[str], url: str, log_path: Path) -> bool:
    assert process.poll() is None, f"smc-bot serve exited while starting:\n{log_path.read_text()}"
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def _wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PROCESS_DEADLINE
    while not done():
        assert time.monotonic() < deadline, f"waited {PROCESS_DEADLINE:.0f} s for {what}"
        time.sleep(0.05)


def _post_together(body: bytes, headers: dict[str, str], urls: list[str]) -> list[int]:
    """The same signed request to every URL at the same instant, one thread each; the HTTP statuses."""
    barrier = threading.Barrier(len(urls))
    statuses: list[int] = [0] * len(urls)

    def send(index: int) -> None:
        post = urllib.request.Request(
            f"{urls[index]}/slack/events", data=body, headers=headers, method="POST"
        )
        barrier.wait()
        with urllib.request.urlopen(post, timeout=PROCESS_DEADLINE) as response:
            statuses[index] = response.status

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_two_serve_processes_receiving_the_same_signed_click_at_once_start_one_job(
    tmp_path: Path, pg_db: Database, pg_url: str, slack: SlackStandIn, cloud: CloudSimulator, capture_url: str
) -> None:
    configure(pg_db)
    rid = add_request(pg_db, web_params())
    with running_bot(pg_db, slack, cloud) as setup:
        ask(setup, rid)  # the summary and the approval card are in the channel before the processes start
    shown = card(slack, rid)
    click = SlackDriver(slack, capture_url).block_action(APPROVER_1, "approve", message=shown)
    body = click.request_body
    # Signed once and delivered to both processes, as if the load balancer had duplicated it.
    headers = SlackDriver(slack, capture_url).signed_headers(body)
    env = sandbox_env(slack, cloud, pg_url)

    with ExitStack() as processes:
        urls = [
            processes.enter_context(serve_process(tmp_path, name, env)) for name in ("replica-a", "replica-b")
        ]

        assert _post_together(body, headers, urls) == [200, 200]

        def clicks_handled() -> bool:
            return [e.action for e in audit(pg_db, rid)].count("vote.approve") == 2

        _wait_until(clicks_handled, "both processes to handle the click")
        outcomes = sorted(e.outcome.value for e in audit(pg_db, rid) if e.action == "vote.approve")
        assert outcomes == sorted([AuditOutcome.OK.value, AuditOutcome.REFUSED.value])
        assert len(votes(pg_db, rid)) == 1, "one vote"
        assert [e.action for e in audit(pg_db, rid)].count("approval.approved") == 1, (
            "one APPROVED transition"
        )
        executions = [i for i in intents(pg_db, rid) if i.payload.get("task") == EXECUTE_TASK]
        assert len(executions) == 1, "one execution intent"

        _wait_until(lambda: request(pg_db, rid).state is RequestState.IN_PROGRESS, "the job to start")
        jobs = [j for j in cloud.world.jobs.values() if j.source_id == WEB_SOURCE]
        assert [j.client_token for j in jobs] == [rid], "exactly one SMC job"
        _wait_until(lambda: len(slack.ephemerals(APPROVER_1)) >= 1, "the answer to the click")
    assert len(slack.ephemerals(APPROVER_1)) == 1, "one answer to one click"
