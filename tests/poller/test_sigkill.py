"""The poller process is SIGKILLed at random points and restarted: no thread post is lost or doubled."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL, Channel, SlackStandIn
from storage.db import Database
from tests.poller import support
from tests.poller.replica import Replica, ReplicaConfig
from tests.poller.test_exactly_once import sim_states, wait_for_outbox

CHANNELS = (MIGRATIONS_CHANNEL, "C0WAVE0002")
"""Channels the bot is a member of: after a crash, delivery looks a post up in the thread before it posts
again, and Slack only lets members read a channel's history."""


@pytest.mark.slow
def test_killed_and_restarted_poller_loses_and_doubles_nothing(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    db: Database,
    slack: SlackStandIn,
) -> None:
    slack.add_channel(Channel(CHANNELS[1], "wave-2"))
    # Syncing lasts at least ~3 minutes here, so the ticks missed while a dead replica's leases run out
    # (45 s) never skip a whole sub-status: the thread can be compared with the simulator's states.
    sim = simulator(support.world(40, used_gib=(5, 6, 7)))
    migrations = support.start_migrations(
        db, support.gateway(sim.url), count=40, channels=CHANNELS, used_gib=(5, 6, 7)
    )
    job_ids = {m.job_id for m in migrations}
    rng = random.Random(20261126)
    generation = 0

    def start() -> Replica:
        nonlocal generation
        generation += 1
        return Replica(
            ReplicaConfig(
                owner=f"poller-{generation}",
                database_url=db.url,
                cloud_url=sim.url,
                access_key_id=support.DEST_KEY,
                access_key_secret=support.DEST_SECRET,
                slack_api_url=slack.api_url,
                slack_token=slack.bot_token,
                signing_secret=slack.signing_secret,
                lease_seconds=45,
                delivery_lease_seconds=2,
            )
        )

    replica = start()
    expected = support.Expectation()
    kills = {"mid-tick": 0, "mid-delivery": 0}
    try:
        for step in range(200):
            now = sim.advance(30)
            states = sim_states(sim, job_ids)
            expected.sample(states)
            replica.send_tick(now)
            if step % 5 == 4:
                # Kill at a random moment: inside the tick (claim, describe, write) or while posting.
                if rng.random() < 0.5:
                    time.sleep(rng.uniform(0.0, 0.25))
                    kills["mid-tick"] += 1
                else:
                    replica.report()
                    time.sleep(rng.uniform(0.0, 0.3))
                    kills["mid-delivery"] += 1
                replica.kill()
                replica = start()
            else:
                replica.report()
            if all(status == "Finished" for status, _, _ in states.values()):
                with db.engine.connect() as conn:
                    finished = conn.execute(
                        text("SELECT count(*) FROM smc_job WHERE status = 'Finished'")
                    ).scalar_one()
                if finished == len(job_ids):
                    break
        wait_for_outbox(db)
    finally:
        replica.stop()

    assert kills["mid-tick"] >= 2 and kills["mid-delivery"] >= 2
    # Items a killed replica held were looked up in their thread before anything was posted again.
    assert slack.calls("conversations.replies")
    messages = [m for channel in CHANNELS for m in slack.channel_messages(channel)]
    keys = support.thread_keys(messages)
    assert len(keys) == len(set(keys)), "a reply was posted twice"
    with db.engine.connect() as conn:
        recorded = set(
            conn.execute(
                text("SELECT key FROM outbox WHERE thread_key IS NOT NULL AND state = 'sent'")
            ).scalars()
        )
        unsent = conn.execute(text("SELECT count(*) FROM outbox WHERE state != 'sent'")).scalar_one()
    assert unsent == 0
    assert set(keys) == recorded, "a recorded reply never reached Slack"
    actual = support.thread_labels(messages)
    assert {job: actual.get(job) for job in job_ids} == {job: expected.labels[job] for job in job_ids}
