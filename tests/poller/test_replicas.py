"""Two bot processes on one PostgreSQL poll 200 jobs: each job once per tick, every transition posted once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.cloud import CloudSimulator
from sandbox.slack import GENERAL_CHANNEL, MIGRATIONS_CHANNEL, Channel, SlackStandIn
from storage.db import Database
from tests.poller import support
from tests.poller.replica import Replica, ReplicaConfig
from tests.poller.test_exactly_once import sim_states, wait_for_outbox

CHANNELS = (MIGRATIONS_CHANNEL, GENERAL_CHANNEL, "C0WAVE0003", "C0WAVE0004")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_split_each_tick_and_post_every_transition_exactly_once(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    pg_db: Database,
    slack: SlackStandIn,
) -> None:
    for channel in CHANNELS[2:]:
        slack.add_channel(Channel(channel, channel.lower()))
    sim = simulator(support.world(200, accounts=1, used_gib=(2, 3, 4, 5, 6)))
    migrations = support.start_migrations(
        pg_db, support.gateway(sim.url), count=200, channels=CHANNELS, used_gib=(2, 3, 4, 5, 6)
    )
    job_ids = {m.job_id for m in migrations}
    sim.faults.update({"seed": 11})
    sim.faults.throttle("*", rate=0.10, retry_after_ms=20)
    sim.faults.set_error_rate("*", 0.05)
    slack.inject_faults(rate_429=0.10, methods=["chat.postMessage", "chat.update"], retry_after=1)
    sim.reset_calls()

    def config(owner: str, key: str, secret: str) -> ReplicaConfig:
        return ReplicaConfig(
            owner=owner,
            database_url=pg_db.url,
            cloud_url=sim.url,
            access_key_id=key,
            access_key_secret=secret,
            slack_api_url=slack.api_url,
            slack_token=slack.bot_token,
            signing_secret=slack.signing_secret,
            claim_limit=120,
        )

    replicas = [
        Replica(config("replica-a", support.DEST_KEY, support.DEST_SECRET)),
        Replica(config("replica-b", support.SECOND_KEY, support.SECOND_SECRET)),
    ]
    expected = support.Expectation()
    claimed: dict[str, int] = defaultdict(int)
    try:
        for _ in range(120):
            now = sim.advance(30)
            states = sim_states(sim, job_ids)
            expected.sample(states)
            for replica in replicas:
                replica.send_tick(now)
            for replica in replicas:
                claimed[replica.config.owner] += replica.report()["claimed"]
            if all(status == "Finished" for status, _, _ in states.values()):
                break
        wait_for_outbox(pg_db)
    finally:
        for replica in replicas:
            replica.stop()

    messages = [m for channel in CHANNELS for m in slack.channel_messages(channel)]
    keys = support.thread_keys(messages)
    assert len(keys) == len(set(keys)), "a reply was posted twice"
    actual = support.thread_labels(messages)
    assert {job: actual.get(job) for job in job_ids} == {job: expected.labels[job] for job in job_ids}
    assert all(count > 0 for count in claimed.values()) and len(claimed) == 2

    # Each describe batch came from one replica per tick: no job described by both (or twice) in a tick.
    by_tick: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for call in sim.calls("DescribeReplicationJobs"):
        if call.status == 200:
            ids = [v for k, v in call.params.items() if k.startswith("JobId.")]
            assert 0 < len(ids) <= 50
            by_tick[call.sim_time][call.access_key_id].extend(ids)
    assert len(by_tick) >= 20
    for tick, per_replica in by_tick.items():
        a, b = per_replica.get(support.DEST_KEY, []), per_replica.get(support.SECOND_KEY, [])
        assert len(a) == len(set(a)) and len(b) == len(set(b)), tick
        assert not set(a) & set(b), f"a job was described by both replicas at {tick}"
    both = [t for t, per in by_tick.items() if per.get(support.DEST_KEY) and per.get(support.SECOND_KEY)]
    assert len(both) >= 10
