"""The thread replies of job events, as Slack receives them: valid Block Kit, the facts, the right buttons."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.delivery import OutboxItem, Renderer, SlackMessage
from bot.domain.notifications import Event
from bot.domain.smc_errors import BILLING_NOTE
from bot.services import Services, cloud_gateway
from handlers.ids import ActionId
from handlers.notify import renderer
from sandbox.slack import SlackStandIn
from storage.db import Database
from storage.enums import OutboxKind
from tests.harness import settings_for

GIB = 1024**3


@pytest.fixture
def render(db: Database, slack: SlackStandIn) -> Renderer:
    settings = settings_for(db, slack, None)
    return renderer(Services(settings=settings, db=db, cloud=cloud_gateway(settings)))


def message(render: Renderer, event: Event, **payload: Any) -> SlackMessage:
    item = OutboxItem(
        id=1,
        key=f"req:r-1:job:j-1:{event.value}",
        kind=OutboxKind.SLACK_POST,
        request_id="r-1",
        channel_id="C0MIGRATE",
        user_id=None,
        payload={"event": event.value, "request_id": "r-1", "job_id": "j-bp1example", **payload},
        attempts=0,
        abandoned=False,
        thread_ts="1.0",
        target_ts=None,
        created_at=datetime.now(UTC),
    )
    rendered = render(item)
    assert rendered is not None and rendered.text
    assert rendered.blocks is not None and 0 < len(rendered.blocks) <= 50
    return rendered


def text_of(rendered: SlackMessage) -> str:
    return rendered.text + " " + str(rendered.blocks)


def buttons(rendered: SlackMessage) -> list[tuple[str, str]]:
    blocks: list[Mapping[str, Any]] = list(rendered.blocks or [])
    return [
        (element["action_id"], element["value"])
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_sub_status_and_status_changes_say_what_smc_is_doing(render: Renderer) -> None:
    syncing = message(
        render, Event.STATUS_CHANGED, kind="business_status", status="Running", business_status="Syncing"
    )
    assert "Syncing" in text_of(syncing) and "copied" in text_of(syncing)
    paused = message(render, Event.STATUS_CHANGED, kind="status", status="Stopped", previous_status="Running")
    assert "paused" in text_of(paused) and "billing" in text_of(paused)
    deleted = message(
        render, Event.STATUS_CHANGED, kind="deleted", status="Deleted", previous_status="Running"
    )
    assert "no longer" in text_of(deleted)
    assert buttons(syncing) == buttons(paused) == buttons(deleted) == []


def test_a_milestone_shows_transferred_total_speed_and_eta_and_advice_when_slow(render: Renderer) -> None:
    fast = message(
        render,
        Event.MILESTONE,
        milestone=50,
        progress=51.2,
        total_bytes=40 * GIB,
        transferred_bytes=20 * GIB,
        speed_bps=25_000_000,
        eta_seconds=860,
        network_type=0,
        speed_limit_mbps=0,
    )
    shown = text_of(fast)
    assert "50%" in shown and "20.0 GiB of 40.0 GiB" in shown and "25.0 MB/s" in shown and "14 min" in shown
    assert "slow" not in shown
    slow = message(
        render, Event.MILESTONE, milestone=25, speed_bps=300_000, network_type=0, speed_limit_mbps=2
    )
    assert "slow" in text_of(slow) and "2 Mbit/s" in text_of(slow) and "VPC" in text_of(slow)


def test_an_error_alert_explains_the_code_and_offers_retry_and_cancel(render: Renderer) -> None:
    alert = message(render, Event.JOB_ERROR, error_code="S10_0001", message="disk read failed")
    shown = text_of(alert)
    assert "S10_0001" in shown and "disk read failed" in shown and "What to do" in shown
    assert BILLING_NOTE in shown
    assert "https://" in shown
    assert buttons(alert) == [(ActionId.JOB_RETRY.value, "r-1"), (ActionId.JOB_CANCEL.value, "r-1")]
    cancel = next(
        e
        for b in alert.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["style"] == "danger"
    )
    assert "confirm" in cancel
    unknown = message(render, Event.JOB_ERROR)
    assert "no error code" in text_of(unknown)


def test_the_finish_is_broadcast_with_the_image_duration_speed_verify_and_checklist(render: Renderer) -> None:
    done = message(
        render,
        Event.JOB_FINISHED,
        target_type="Image",
        image_id="m-bp1image",
        duration_seconds=5400,
        avg_speed_bps=12_500_000,
        total_bytes=60 * GIB,
        broadcast=True,
    )
    shown = text_of(done)
    assert done.broadcast
    assert (
        "m-bp1image" in shown
        and "1 h 30 min" in shown
        and "12.5 MB/s" in shown
        and "Cleanup checklist" in shown
    )
    assert buttons(done) == [(ActionId.REQUEST_VERIFY.value, "r-1")]
    instance = message(render, Event.JOB_FINISHED, target_type="TargetInstance", instance_id="i-bp1target")
    assert "i-bp1target" in text_of(instance) and buttons(instance) == []


def test_an_incremental_cycle_reply_names_its_image(render: Renderer) -> None:
    cycle = message(
        render, Event.CYCLE_FINISHED, run=2, image_id="m-bp1cycle2", run_ended_at="2026-03-02T10:00:00+00:00"
    )
    assert "cycle 2" in text_of(cycle) and "m-bp1cycle2" in text_of(cycle)


def test_nudges_and_the_digest_render(render: Renderer) -> None:
    stale = message(
        render, Event.NUDGE, reason="stale", status="InError", hours=7.5, since="2026-03-02T08:00:00+00:00"
    )
    assert "7 h 30 min" in text_of(stale) and BILLING_NOTE in text_of(stale)
    expiry = message(
        render,
        Event.NUDGE,
        reason="valid_time",
        valid_time="2026-03-04T08:00:00+00:00",
        remaining_seconds=90000,
    )
    assert "ValidTime" in text_of(expiry) and "1 d 1 h" in text_of(expiry)
    digest = message(
        render,
        Event.DIGEST,
        date="2026-03-02",
        counts={"migrating": 3},
        attention=[{"request_id": "r-2", "job_id": "j-2", "status": "Stopped"}],
        active=[
            {"request_id": f"r-{n}", "job_id": f"j-{n}", "status": "Running", "progress": 10}
            for n in range(30)
        ],
        finished_last_day=4,
    )
    shown = text_of(digest)
    assert "3 migrating" in shown and "r-2" in shown and "and 10 more" in shown and "4 migration(s)" in shown
