"""200 jobs through throttling, 5xx and Slack 429s: every transition reaches the thread once, in order."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from sandbox.cloud import CloudSimulator
from sandbox.slack import GENERAL_CHANNEL, MIGRATIONS_CHANNEL, Channel, SlackStandIn
from storage.db import Database
from tests.poller import support
from tests.poller.conftest import Bot

CHANNELS = (MIGRATIONS_CHANNEL, GENERAL_CHANNEL, "C0WAVE0003", "C0WAVE0004")


def sim_states(sim: CloudSimulator, job_ids: set[str]) -> dict[str, tuple[str, str | None, float]]:
    """Each job's (status, business status, progress) as the simulator holds it right now."""
    return {
        job.job_id: (job.status.value, job.phase.value if job.phase else None, job.progress)
        for job in sim.world.jobs.values()
        if job.job_id in job_ids
    }


def wait_for_outbox(db: Database, timeout: float = 120.0) -> None:
    """Delivery runs in the background and defers 429s by Retry-After: wait until nothing is pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM outbox WHERE state = 'pending'")).scalar_one()
        if pending == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{pending} outbox items still pending")


@pytest.mark.slow
def test_two_hundred_jobs_with_faults_post_every_transition_exactly_once_in_order(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    for channel in CHANNELS[2:]:
        slack.add_channel(Channel(channel, channel.lower()))
    sim = simulator(support.world(100, accounts=2, used_gib=(2, 3, 4, 5, 6)))
    bot = make_bot(sim)
    migrations = support.start_migrations(
        db, bot.cloud, count=200, channels=CHANNELS, accounts=2, used_gib=(2, 3, 4, 5, 6)
    )
    job_ids = {m.job_id for m in migrations}
    groups = Counter((m.credential_ref, m.region_id) for m in migrations)
    assert len(groups) == 4
    sim.faults.update({"seed": 7})
    sim.faults.throttle("*", rate=0.10, retry_after_ms=20)
    sim.faults.set_error_rate("*", 0.05)
    slack.inject_faults(rate_429=0.10, methods=["chat.postMessage", "chat.update"], retry_after=1)
    sim.reset_calls()
    bot.runtime.delivery.start(idle_seconds=0.05)
    expected = support.Expectation()
    reports = []
    try:
        for _ in range(120):
            sim.advance(30)
            states = sim_states(sim, job_ids)
            expected.sample(states)
            reports.append(bot.tracker.tick())
            if all(status == "Finished" for status, _, _ in states.values()):
                break
        wait_for_outbox(db)
    finally:
        bot.runtime.delivery.stop()

    messages = [m for channel in CHANNELS for m in slack.channel_messages(channel)]
    keys = support.thread_keys(messages)
    assert len(keys) == len(set(keys)), "a reply was posted twice"
    actual = support.thread_labels(messages)
    assert set(actual) == job_ids
    for job_id in job_ids:
        assert actual[job_id] == expected.labels[job_id], job_id
        assert actual[job_id][-1] == "Finished"
    with db.engine.connect() as conn:
        states_by_kind: dict[str, int] = dict(
            conn.execute(
                text("SELECT state, count(*) FROM outbox WHERE thread_key IS NOT NULL GROUP BY state")
            ).all()
        )
        completed = conn.execute(
            text("SELECT count(*) FROM migration_request WHERE state = 'completed'")
        ).scalar_one()
    assert states_by_kind == {"sent": len(keys)}
    assert completed == 200
    finals = [r for m in messages for r in m.replies if r.reply_broadcast]
    assert len(finals) == 200

    # Polling cost: one DescribeReplicationJobs per ≤ 50 jobs of one credential and region, never per job.
    for report in reports:
        minimum = sum(math.ceil(n / 50) for n in report.groups.values())
        assert report.describe_calls == minimum
    calls = sim.calls("DescribeReplicationJobs")
    assert all(len([k for k in c.params if k.startswith("JobId.")]) <= 50 for c in calls)
    # The faults really happened, and were survived.
    assert any(c.code.startswith("Throttling") for c in calls)
    assert any(c.status >= 500 for c in calls)
    assert any(c.status == 429 for c in slack.calls())
