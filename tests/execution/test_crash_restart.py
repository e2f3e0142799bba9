"""A worker killed between CreateReplicationJob and recording its job id: the restart finds the same job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.execution import CRASH_ENV
from sandbox.cloud import CloudSimulator
from sandbox.slack import SlackStandIn
from storage.db import Database
from storage.enums import RequestState
from tests.execution.helpers import (
    WEB_SOURCE,
    cloud_jobs,
    insert_request,
    job_row,
    replies,
    request_row,
    web_params,
)
from tests.harness import DEST_ACCESS_KEY_ID, DEST_ACCESS_KEY_SECRET, BotUnderTest, running_bot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_bot(
    request: pytest.FixtureRequest, slack: SlackStandIn, cloud: CloudSimulator
) -> Iterator[BotUnderTest]:
    """The bot on a database a separate worker process can open too (a SQLite file, or PostgreSQL)."""
    db: Database = request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")
    cloud.set_time_scale(0)
    with running_bot(db, slack, cloud) as bot:
        yield bot


def run_worker(bot: BotUnderTest, *, crash_at: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """A real worker process on the bot's database and the simulator, until no intent is pending."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "ALIBABA_", "SMC_BOT_", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": bot.services.db.url,
            "SLACK_BOT_TOKEN": bot.slack.bot_token,
            "SLACK_SIGNING_SECRET": bot.slack.signing_secret,
            "SLACK_API_URL": bot.slack.api_url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEST_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEST_ACCESS_KEY_SECRET,
            "SMC_BOT_CLOUD_ENDPOINT": bot.cloud.url,
            "SMC_BOT_LOG_LEVEL": "WARNING",
        }
    )
    if crash_at is not None:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "tests.execution.worker_process", "--lease-seconds", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_a_worker_killed_after_the_create_call_finds_the_same_job_on_restart(
    shared_bot: BotUnderTest,
) -> None:
    bot = shared_bot
    request_id = insert_request(bot, web_params())

    crashed = run_worker(bot, crash_at="after_create")

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.client_token == request_id
    assert job.status.value == "Ready"
    assert request_row(bot, request_id).state is RequestState.EXECUTING
    assert job_row(bot, request_id) is None

    restarted = run_worker(bot)

    assert restarted.returncode == 0, restarted.stderr.decode()[-2000:]
    [same] = cloud_jobs(bot, WEB_SOURCE)
    assert same.job_id == job.job_id
    assert same.status.value == "Running"
    stored = job_row(bot, request_id)
    assert stored is not None and stored.job_id == job.job_id
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    creates = bot.cloud.calls("CreateReplicationJob")
    assert [c.params["ClientToken"] for c in creates] == [request_id, request_id]
    assert len(bot.cloud.calls("StartReplicationJob")) == 1
    bot.settle()
    assert len(replies(bot, request_id, "job-created")) == 1
