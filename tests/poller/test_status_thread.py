"""One migration followed by the poller: replies only for events, a live summary, the final broadcast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import BusinessStatus, JobStatus, OutboxState, RequestState
from tests.poller import support
from tests.poller.conftest import Bot

C = MIGRATIONS_CHANNEL


def one_migration(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    *,
    used_gib: float = 3.0,
) -> tuple[Bot, support.Migration]:
    sim = simulator(support.world(1, used_gib=[used_gib]))
    bot = make_bot(sim)
    (migration,) = support.start_migrations(db, bot.cloud, count=1, channels=[C], used_gib=[used_gib])
    bot.deliver()
    return bot, migration


def run_until(bot: Bot, db: Database, job_id: str, status: JobStatus, limit: int = 200) -> int:
    for ticks in range(1, limit + 1):
        bot.step()
        with db.unit_of_work() as s:
            job = repo.get_job(s, job_id)
            assert job is not None
            if job.status is status:
                return ticks
    raise AssertionError(f"{job_id} never reached {status}")


def test_a_migration_gets_one_reply_per_event_in_order_and_a_broadcast_finish(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db)
    ticks = run_until(bot, db, migration.job_id, JobStatus.FINISHED)
    bot.step()  # one more tick changes nothing: Finished jobs are not polled
    (parent,) = slack.channel_messages(C)
    labels = support.thread_labels([parent])[migration.job_id]
    assert labels == [
        "Running",
        "Preparing",
        "Syncing",
        "25%",
        "50%",
        "75%",
        "Processing",
        "Cleaning",
        "Finished",
    ]
    assert len(parent.replies) == len(labels) < ticks
    final = parent.replies[-1]
    assert final.reply_broadcast and "Migration finished" in final.text
    with db.unit_of_work() as s:
        request = repo.get_request(s, migration.request_id)
        job = repo.get_job(s, migration.job_id)
        assert request is not None and job is not None
        assert request.state is RequestState.COMPLETED
        assert job.image_id and job.image_id in str(final.blocks)
        assert job.avg_speed_bps is not None and job.avg_speed_bps > 0
        assert job.finished_at is not None and job.started_at is not None
        assert job.lease_owner is None and job.next_poll_at is None


def test_the_summary_is_edited_at_most_once_per_tick_and_shows_speed_while_syncing(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db, used_gib=6.0)
    speeds: list[float] = []
    edits_per_tick: list[int] = []
    for _ in range(60):
        before = len([c for c in slack.calls("chat.update") if c.ok])
        bot.step()
        edits_per_tick.append(len([c for c in slack.calls("chat.update") if c.ok]) - before)
        with db.unit_of_work() as s:
            job = repo.get_job(s, migration.job_id)
            assert job is not None
            if job.business_status is BusinessStatus.SYNCING and job.speed_bps is not None:
                speeds.append(job.speed_bps)
            if job.status is JobStatus.FINISHED:
                break
    assert max(edits_per_tick) == 1
    assert sum(edits_per_tick) > 10
    # The simulator moves 30 MB/s on a public network and maps Syncing to 5-90 % of the job's progress,
    # so bytes from progress deltas (the console's formula) read 85 % of that: 25.5 MB/s, steadily.
    assert len(speeds) > 5 and all(25_000_000 < speed < 26_000_000 for speed in speeds)
    (parent,) = slack.channel_messages(C)
    assert "Finished" in str(parent.blocks)


def test_a_failed_describe_records_nothing_and_the_job_is_polled_again_next_tick(
    simulator: Callable[[dict[str, Any]], CloudSimulator],
    make_bot: Callable[[CloudSimulator], Bot],
    db: Database,
    slack: SlackStandIn,
) -> None:
    bot, migration = one_migration(simulator, make_bot, db)
    bot.step()
    with db.unit_of_work() as s:
        before = repo.get_job(s, migration.job_id)
        assert before is not None and before.status is JobStatus.RUNNING
    bot.sim.faults.set_error_rate("DescribeReplicationJobs", 1.0)
    bot.sim.advance(30)
    report = bot.tracker.tick()
    bot.deliver()
    assert (report.claimed, report.failed_calls, report.written) == (1, 1, 0)
    with db.unit_of_work() as s:
        after = repo.get_job(s, migration.job_id)
        assert after is not None
        assert after.snapshot == before.snapshot and after.progress == before.progress
        assert after.last_polled_at == before.last_polled_at
        assert after.lease_owner is None
        summary_edit = repo.get_outbox(s, f"req:{migration.request_id}:summary:edit")
        assert summary_edit is not None and summary_edit.state is OutboxState.SENT
    bot.sim.faults.set_error_rate("DescribeReplicationJobs", 0.0)
    report = bot.tracker.tick()
    assert report.claimed == 0  # not due again until the next tick
    bot.sim.advance(30)
    report = bot.tracker.tick()
    assert (report.claimed, report.failed_calls, report.written) == (1, 0, 1)
