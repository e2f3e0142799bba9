"""The tracker's rules: batching per credentials and region, leases, deleted and failed jobs, requests."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.domain.smc_request import create_replication_job_request
from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus, OutboxState, RequestState
from storage.models import ChannelConfig
from tests.poller import support
from tests.poller.conftest import Bot
from tests.poller.test_status_thread import one_migration, run_until

C = MIGRATIONS_CHANNEL


def test_jobs_are_described_fifty_at_a_time_per_credentials_and_region_never_one_by_one(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    sim = simulator(support.world(70, accounts=2))
    bot = make_bot(sim)
    migrations = support.start_migrations(db, bot.cloud, count=130, channels=[C], accounts=2)
    groups = Counter((m.credential_ref, m.region_id) for m in migrations)
    sim.reset_calls()
    sim.advance(30)
    report = bot.tracker.tick()
    assert report.claimed == 130
    assert report.groups == dict(groups)
    minimum = sum(math.ceil(n / 50) for n in groups.values())
    calls = sim.calls("DescribeReplicationJobs")
    assert report.describe_calls == len(calls) == minimum < len(migrations) / 20
    region_of = {m.job_id: m.region_id for m in migrations}
    account_of = {m.job_id: m.credential_ref for m in migrations}
    for call in calls:
        ids = [v for k, v in call.params.items() if k.startswith("JobId.")]
        assert len(ids) <= 50
        assert {region_of[i] for i in ids} == {call.params["RegionId"]}
        assert len({account_of[i] for i in ids}) == 1


def test_a_job_leased_by_another_replica_is_left_to_it_until_the_lease_runs_out(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db)
    now = bot.sim.advance(30)
    with db.unit_of_work() as s:
        (row,) = repo.claim_due_job_rows(
            s, owner="other-replica", now=now, lease=timedelta(seconds=60), limit=10, active=[JobStatus.READY]
        )
        assert row["job_id"] == migration.job_id
    assert bot.tracker.tick().claimed == 0
    bot.sim.advance(61)
    report = bot.tracker.tick()
    assert (report.claimed, report.written) == (1, 1)
    # What the other replica would write now is refused: the lease is no longer its.
    with db.unit_of_work() as s:
        assert (
            repo.record_polls(s, "other-replica", [{"job_id": migration.job_id, "progress": 99.0}]) == set()
        )
        job = repo.get_job(s, migration.job_id)
        assert job is not None and job.progress < 99 and job.lease_owner is None


def test_a_job_smc_no_longer_returns_becomes_deleted_and_its_request_says_so(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db)
    bot.step()
    bot.cloud.destination().delete_replication_job(migration.job_id)
    run_until(bot, db, migration.job_id, JobStatus.DELETED)
    bot.step()
    with db.unit_of_work() as s:
        request = repo.get_request(s, migration.request_id)
        job = repo.get_job(s, migration.job_id)
        assert request is not None and request.state is RequestState.JOB_DELETED
        assert job is not None and job.next_poll_at is None
    (parent,) = slack.channel_messages(C)
    labels = support.thread_labels([parent])[migration.job_id]
    assert labels[-2:] == ["Deleting", "deleted"]
    assert "no longer knows" in parent.replies[-1].text + str(parent.replies[-1].blocks)


def test_a_job_missing_right_after_it_was_recorded_is_not_called_deleted(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    sim = simulator(support.world(1))
    bot = make_bot(sim)
    params = support.params_for(support.source_id(0, 0), "cn-hangzhou", "img-missing")
    support.record(
        db,
        params,
        request_id="r-missing1",
        job_id="j-notyetvisible01",
        channel_id=C,
        created_at=sim.clock.now(),
    )
    sim.advance(30)
    report = bot.tracker.tick()
    assert (report.claimed, report.written, report.deleted) == (1, 0, 0)
    with db.unit_of_work() as s:
        job = repo.get_job(s, "j-notyetvisible01")
        assert job is not None and job.status is JobStatus.READY and job.lease_owner is None
    sim.advance(150)
    assert bot.tracker.tick().deleted == 1


def test_an_error_alerts_the_thread_with_its_meaning_and_buttons_and_a_retry_resumes(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db)
    bot.sim.faults.fail_job(
        job_id=migration.job_id, at_progress=40, code="S10_0001", message="disk read failed"
    )
    run_until(bot, db, migration.job_id, JobStatus.IN_ERROR)
    with db.unit_of_work() as s:
        job = repo.get_job(s, migration.job_id)
        request = repo.get_request(s, migration.request_id)
        assert job is not None and (job.error_code, job.status_info) == ("S10_0001", "disk read failed")
        assert request is not None and request.state is RequestState.IN_PROGRESS
    (parent,) = slack.channel_messages(C)
    alert = parent.replies[-1]
    shown = str(alert.blocks)
    assert "S10_0001" in shown and "disk read failed" in shown and "keeps billing" in shown
    buttons = [e for b in alert.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("job_retry", migration.request_id),
        ("job_cancel", migration.request_id),
    ]
    assert not alert.reply_broadcast
    bot.cloud.destination().start_replication_job(migration.job_id)
    run_until(bot, db, migration.job_id, JobStatus.FINISHED)
    labels = support.thread_labels(slack.channel_messages(C))[migration.job_id]
    assert labels[labels.index("InError") + 1] == "Running"
    assert labels[-1] == "Finished" and labels.count("InError") == 1


def test_a_channel_may_ask_for_a_slower_poll_than_the_tick(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    with db.unit_of_work() as s:
        repo.save_channel_config(s, ChannelConfig(channel_id=C, team_id="T0SANDBOX", poll_seconds=120))
    bot, _ = one_migration(simulator, make_bot, db)
    claimed = []
    for _ in range(8):
        bot.sim.advance(30)
        claimed.append(bot.tracker.tick().claimed)
    assert claimed == [1, 0, 0, 0, 1, 0, 0, 0]  # every 120 s, the 30 s ticks in between find nothing due


def test_a_created_request_moves_on_when_its_job_starts_and_completes_when_it_finishes(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
) -> None:
    sim = simulator(support.world(1))
    bot = make_bot(sim)
    params = support.params_for(support.source_id(0, 0), "cn-hangzhou", "img-created")
    destination = bot.cloud.destination()
    job_id = destination.create_replication_job(
        create_replication_job_request(params, client_token="r-created1")
    )
    support.record(
        db,
        params,
        request_id="r-created1",
        job_id=job_id,
        channel_id=C,
        state=RequestState.JOB_CREATED,
        total_bytes=3 * support.GIB,
    )
    bot.step()
    with db.unit_of_work() as s:
        request = repo.get_request(s, "r-created1")
        assert request is not None and request.state is RequestState.JOB_CREATED
    destination.start_replication_job(job_id)
    bot.step()
    with db.unit_of_work() as s:
        request = repo.get_request(s, "r-created1")
        assert request is not None and request.state is RequestState.IN_PROGRESS
    run_until(bot, db, job_id, JobStatus.FINISHED)
    with db.unit_of_work() as s:
        request = repo.get_request(s, "r-created1")
        edit = repo.get_outbox(s, "req:r-created1:summary:edit")
        assert request is not None and request.state is RequestState.COMPLETED
        assert edit is not None and edit.state is OutboxState.SENT


def test_an_incremental_job_reports_each_cycle_with_its_image_and_waits_quietly(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    sim = simulator(support.world(1, used_gib=[2.0]))
    bot = make_bot(sim)
    params = support.params_for(support.source_id(0, 0), "cn-hangzhou", "img-incremental").model_copy(
        update={"incremental": True, "sync_interval_hours": 1, "max_reserved_images": 3}
    )
    destination = bot.cloud.destination()
    job_id = destination.create_replication_job(
        create_replication_job_request(params, client_token="r-incr0001")
    )
    destination.start_replication_job(job_id)
    support.record(
        db, params, request_id="r-incr0001", job_id=job_id, channel_id=C, total_bytes=2 * support.GIB
    )
    bot.deliver()
    for _ in range(200):
        bot.step(60)
        with db.unit_of_work() as s:
            job = repo.get_job(s, job_id)
            assert job is not None
            if job.runs_seen >= 2:
                break
    labels = support.thread_labels(slack.channel_messages(C))[job_id]
    assert labels[:8] == ["Running", "Preparing", "Syncing", "25%", "50%", "75%", "Processing", "Cleaning"]
    assert labels[8:10] == ["cycle 1", "Waiting"]
    # Later cycles report only that they finished (no sub-status or milestone chatter).
    assert labels[10:] == ["cycle 2"]
    (parent,) = slack.channel_messages(C)
    cycles = [r for r in parent.replies if "Incremental sync cycle" in r.text + str(r.blocks)]
    assert len(cycles) == 2 and all("`m-" in str(r.blocks) for r in cycles)
