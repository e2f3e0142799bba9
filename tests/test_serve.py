"""`smc-bot serve` in operation: /healthz says which part is unwell (503), SIGTERM gives the poller's job
leases back before the process exits 0, and what keeps acks fast under load holds (batched command audit,
reads beside writers)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.domain.command_log import CommandLog
from bot.health import POLL_GRACE, Health, poll_verdict
from bot.metrics import Metrics
from bot.transport import ops_app
from sandbox.cloud import CloudSimulator
from sandbox.slack import SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import ExecutionMethod, JobStatus, RequestState, TargetType
from storage.models import AuditEvent, MigrationRequest, SmcJob
from tests.harness import (
    BotUnderTest,
    free_port,
    process_env,
    running_bot,
    sandbox_env,
    serve_http,
)

START_TIMEOUT = 60.0
STOP_BOUND = 30.0
"""SIGTERM to exit: well inside Docker's 10 s + the grace the test machine needs under load."""
INTERVAL = timedelta(seconds=5)


class Clock:
    """Wall time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def idle_bot(db: Database, slack: SlackStandIn, cloud: CloudSimulator) -> Iterator[BotUnderTest]:
    """The whole bot wired as serve wires it, with its scheduler not started."""
    with running_bot(db, slack, cloud) as running:
        yield running


def test_an_unreachable_database_makes_healthz_503_and_says_so() -> None:
    down = Database("postgresql+psycopg://postgres@127.0.0.1:1/smc")
    app = ops_app(Health(down, None, interval=INTERVAL).check, Metrics().export)
    with serve_http(app, free_port()) as url:
        status, body = get(f"{url}/healthz")
    assert status == 503
    assert body["ok"] is False and "cannot reach the database" in body["database"]
    down.dispose()


def test_healthz_follows_the_scheduler_and_the_age_of_the_last_successful_poll(
    idle_bot: BotUnderTest,
) -> None:
    poller = idle_bot.runtime.poller
    assert poller is not None
    clock = Clock()
    health = Health(idle_bot.services.db, poller, interval=INTERVAL, clock=clock)
    with serve_http(ops_app(health.check, Metrics().export), free_port()) as url:
        status, body = get(f"{url}/healthz")
        assert status == 503 and body["scheduler"].startswith("stopped") and body["database"] == "ok"

        poller.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while poller.last_success_at is None and time.monotonic() < deadline:
                time.sleep(0.05)
            status, body = get(f"{url}/healthz")
            assert status == 200, body
            assert body == {
                "ok": True,
                "database": "ok",
                "scheduler": "running",
                "last_poll_age_seconds": body["last_poll_age_seconds"],
                "poll": "ok",
            }

            clock.offset = 3 * INTERVAL + POLL_GRACE + timedelta(seconds=30)
            status, body = get(f"{url}/healthz")
        finally:
            poller.stop()
    assert status == 503 and body["database"] == "ok" and body["scheduler"] == "running"
    assert body["poll"].startswith("the last successful poll was") and body["last_poll_age_seconds"] >= 105


def test_before_the_first_successful_poll_the_limit_counts_from_start() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    limit = 3 * INTERVAL + POLL_GRACE
    assert poll_verdict(None, started, started + limit, INTERVAL).ok
    late = poll_verdict(None, started, started + limit + timedelta(seconds=1), INTERVAL)
    assert not late.ok and late.age_seconds is None
    assert late.problem is not None and late.problem.startswith("no poll has succeeded since start")


def _insert_leased_job(db: Database, owner: str) -> str:
    """A running migration whose job `owner` holds the poll lease of (as mid-tick)."""
    request_id = repo.new_id("r")
    with db.unit_of_work() as s:
        repo.add(
            s,
            MigrationRequest(
                id=request_id,
                team_id="T0SANDBOX",
                channel_id="C0MIGRATE",
                requester="U0REQUESTER",
                source_id="s-bp1dtyvdak02x846kq4p",
                target_type=TargetType.IMAGE,
                region_id="cn-hangzhou",
                execution_method=ExecutionMethod.MIGRATE_NOW,
                params={},
                params_hash="0" * 64,
                state=RequestState.IN_PROGRESS,
            ),
        )
        repo.add(
            s,
            SmcJob(
                job_id=f"j-{request_id}",
                request_id=request_id,
                region_id="cn-hangzhou",
                status=JobStatus.RUNNING,
                lease_owner=owner,
                lease_expires_at=datetime.now(UTC) + timedelta(hours=1),
            ),
        )
    return f"j-{request_id}"


def test_sigterm_gives_the_pollers_job_leases_back_and_exits_0(
    tmp_path: Path, db: Database, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    port = free_port()
    env = process_env(tmp_path, **sandbox_env(slack, cloud, db.url), PORT=str(port))
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "serve did not start"
            try:
                if get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        job_id = _insert_leased_job(db, f"{socket.gethostname()}:{process.pid}")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_BOUND)
    output = log_path.read_text()
    assert code == 0, output
    with db.unit_of_work() as s:
        job = repo.get_job(s, job_id)
        assert job is not None
        assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert "poller stopped released_leases=1" in output
    order = [output.index(m) for m in ("stopping signal=SIGTERM", "poller stopped", "transport stopped")]
    assert order == sorted(order)


def test_command_audit_queued_while_serving_is_written_by_the_shutdown(db: Database) -> None:
    log = CommandLog(db, clock=lambda: datetime.now(UTC), interval=timedelta(hours=1))
    log.start()
    log.record(actor="U0REQUESTER", team_id="T0SANDBOX", channel_id="C0MIGRATE", subcommand="list", args="")
    assert _commands(db) == []
    log.stop()
    assert _commands(db) == [("U0REQUESTER", "list")]
    log.record(actor="U0APPROVER1", team_id="T0SANDBOX", channel_id="C0MIGRATE", subcommand="help", args="")
    assert _commands(db) == [("U0REQUESTER", "list"), ("U0APPROVER1", "help")], "stopped: written at once"


def _commands(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        rows = s.scalars(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        return [(r.actor, str(r.detail["subcommand"])) for r in rows if r.action == "command"]


def test_a_read_in_the_ack_path_does_not_queue_behind_a_writer(db: Database) -> None:
    """SQLite units begin IMMEDIATE (the write lock); `Database.read()` units read a snapshot beside them.

    Were the read to need the lock, it would fail after SQLite's 30 s busy timeout and find nothing."""
    holding, release = threading.Event(), threading.Event()
    counted: list[int] = []

    def writer() -> None:
        with db.unit_of_work() as s:
            s.execute(text("SELECT 1"))
            holding.set()
            release.wait()

    def reader() -> None:
        with db.read() as s:
            counted.append(s.execute(text("SELECT count(*) FROM migration_request")).scalar_one())

    locking = threading.Thread(target=writer)
    locking.start()
    try:
        assert holding.wait(START_TIMEOUT)
        reading = threading.Thread(target=reader)
        reading.start()
        reading.join(START_TIMEOUT)
        assert counted == [0], "the read waited for the writer's lock"
    finally:
        release.set()
        locking.join()
