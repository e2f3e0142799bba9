"""Housekeeping: nudges for jobs that bill without progress or near ValidTime, and the daily digest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.domain.housekeeping import Housekeeper
from bot.runtime import Runtime, build_runtime
from bot.services import Services, cloud_gateway
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus, RequestState
from storage.models import ChannelConfig
from tests.harness import settings_for
from tests.poller import support

C = MIGRATIONS_CHANNEL
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(db: Database, slack: SlackStandIn) -> Iterator[Runtime]:
    settings = settings_for(db, slack, None)
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings))
    yield build_runtime(
        services, WebClient(token=slack.bot_token, base_url=slack.api_url), post_interval=0, update_interval=0
    )


def job(db: Database, request_id: str, status: JobStatus, **values: object) -> str:
    """A request in progress whose job the poller last saw in `status`."""
    job_id = f"j-{request_id}"
    params = support.params_for(f"s-{request_id}", "cn-hangzhou", f"img-{request_id}")
    support.record(db, params, request_id=request_id, job_id=job_id, channel_id=C)
    with db.unit_of_work() as s:
        repo.update_job(s, job_id, status=status, **values)
    return job_id


def nudges(slack: SlackStandIn) -> list[str]:
    return [
        reply.text for parent in slack.channel_messages(C) for reply in parent.replies if "Job " in reply.text
    ]


def test_a_job_in_error_longer_than_six_hours_is_nudged_once_per_episode(
    db: Database, slack: SlackStandIn, runtime: Runtime, clock: Clock
) -> None:
    job_id = job(db, "r-stale0001", JobStatus.IN_ERROR, status_since=T0, error_code="S10_0001")
    keeper = Housekeeper(db, clock=clock)
    clock.now = T0 + timedelta(hours=5, minutes=59)
    assert keeper.run().stale_nudges == 0
    clock.now = T0 + timedelta(hours=6)
    assert keeper.run().stale_nudges == 1
    clock.now = T0 + timedelta(hours=9)
    assert keeper.run().stale_nudges == 0
    runtime.delivery.run_once()
    runtime.delivery.run_once()
    (parent,) = slack.channel_messages(C)
    (nudge,) = parent.replies
    shown = str(nudge.blocks)
    assert job_id in shown and "InError" in shown and "S10_0001" in shown and "keeps billing" in shown
    assert [e["action_id"] for b in nudge.blocks if b["type"] == "actions" for e in b["elements"]] == [
        "job_retry",
        "job_cancel",
    ]
    # Retried, failed again: a new episode, a new nudge once it has lasted long enough.
    again = T0 + timedelta(hours=10)
    with db.unit_of_work() as s:
        repo.update_job(s, job_id, status_since=again)
    clock.now = again + timedelta(hours=6)
    assert keeper.run().stale_nudges == 1


def test_a_paused_job_is_nudged_after_the_channels_threshold_and_never_when_it_is_zero(
    db: Database, slack: SlackStandIn, runtime: Runtime, clock: Clock
) -> None:
    with db.unit_of_work() as s:
        repo.save_channel_config(s, ChannelConfig(channel_id=C, team_id="T0SANDBOX", stale_hours=2))
    job(db, "r-paused001", JobStatus.STOPPED, status_since=T0)
    keeper = Housekeeper(db, clock=clock)
    clock.now = T0 + timedelta(hours=2)
    assert keeper.run().stale_nudges == 1
    runtime.delivery.run_once()
    runtime.delivery.run_once()
    (text,) = nudges(slack)
    (parent,) = slack.channel_messages(C)
    buttons = [
        e["action_id"] for b in parent.replies[0].blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["job_resume", "job_cancel"] and "needs attention" in text
    with db.unit_of_work() as s:
        repo.save_channel_config(s, ChannelConfig(channel_id=C, team_id="T0SANDBOX", stale_hours=0))
    job(db, "r-paused002", JobStatus.STOPPED, status_since=T0)
    clock.now = T0 + timedelta(days=3)
    assert keeper.run().stale_nudges == 0


def test_a_job_near_its_valid_time_is_nudged_once_and_a_finished_one_never(
    db: Database, slack: SlackStandIn, runtime: Runtime, clock: Clock
) -> None:
    job(db, "r-expire001", JobStatus.WAITING, valid_time=T0 + timedelta(days=3))
    job(db, "r-expire002", JobStatus.FINISHED, valid_time=T0 + timedelta(hours=1))
    keeper = Housekeeper(db, clock=clock)
    assert keeper.run().expiry_nudges == 0
    clock.now = T0 + timedelta(days=1, hours=1)
    assert keeper.run().expiry_nudges == 1
    clock.now = T0 + timedelta(days=2)
    assert keeper.run().expiry_nudges == 0
    runtime.delivery.run_once()
    runtime.delivery.run_once()
    (text,) = nudges(slack)
    assert "expires soon" in text


def test_a_channel_with_the_digest_on_gets_one_each_day_after_nine(
    db: Database, slack: SlackStandIn, runtime: Runtime, clock: Clock
) -> None:
    with db.unit_of_work() as s:
        repo.save_channel_config(s, ChannelConfig(channel_id=C, team_id="T0SANDBOX", digest_enabled=True))
    job(db, "r-digest001", JobStatus.RUNNING, progress=42.0)
    job(db, "r-digest002", JobStatus.IN_ERROR, error_code="S10_0001", status_since=T0)
    keeper = Housekeeper(db, clock=clock)
    assert keeper.run().digests == 0  # 08:00 UTC
    clock.now = T0 + timedelta(hours=1, minutes=5)
    assert keeper.run().digests == 1
    clock.now = T0 + timedelta(hours=12)
    assert keeper.run().digests == 0
    runtime.delivery.run_once()
    digests = [m for m in slack.channel_messages(C) if m.text.startswith("SMC digest")]
    (digest,) = digests
    shown = str(digest.blocks)
    assert "2026-03-02" in shown and "2 migrating" in shown
    assert "r-digest002" in shown and "S10_0001" in shown and "42%" in shown
    clock.now = T0 + timedelta(days=1, hours=2)
    assert keeper.run().digests == 1


def test_closed_requests_are_not_nudged(db: Database, clock: Clock) -> None:
    job(db, "r-closed001", JobStatus.IN_ERROR, status_since=T0)
    with db.unit_of_work() as s:
        assert repo.transition_request(s, "r-closed001", RequestState.IN_PROGRESS, RequestState.JOB_DELETED)
    clock.now = T0 + timedelta(days=1)
    assert Housekeeper(db, clock=clock).run().stale_nudges == 0
