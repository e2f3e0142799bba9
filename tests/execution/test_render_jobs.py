"""The execution replies and the Modify modal render within Slack's limits and say what the user needs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.cloud.ports import JobStatus, ReplicationJob
from bot.delivery import OutboxItem, SlackMessage
from bot.domain.drill import DrillCheck, DrillEstimate, DrillItem, DrillReport, Level, SpeedSource
from bot.domain.job_actions import JobSettings, ModifyForm, modifiable
from bot.domain.notifications import Event
from handlers.notify import EventRenderer
from handlers.render import jobs as render
from storage.enums import OutboxKind

NOW = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


def item(event: Event, **payload: Any) -> OutboxItem:
    return OutboxItem(
        id=1,
        key=f"req:r-test0001:{event.value}",
        kind=OutboxKind.SLACK_POST,
        request_id="r-test0001",
        channel_id="C0MIGRATE",
        user_id=None,
        payload={"event": event.value, **payload},
        attempts=0,
        abandoned=False,
        thread_ts="1.0",
        target_ts=None,
        created_at=NOW,
    )


RENDERERS: Mapping[Event, EventRenderer] = {
    Event.DRILL_REPORT: render.render_drill_report,
    Event.CLOUD_ERROR: render.render_cloud_error,
    Event.VERIFY_REPORT: render.render_verify_report,
}


def rendered(event: Event, **payload: Any) -> SlackMessage:
    message = RENDERERS[event](item(event, **payload), None)  # type: ignore[arg-type]  # they read no state
    assert message is not None
    assert message.text and message.blocks is not None and len(message.blocks) <= 50
    return message


def shown(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def full_report() -> Mapping[str, Any]:
    items = tuple(
        DrillItem(check, level, f"{check.value} title", "x" * 500, "" if level is Level.OK else "do this")
        for check, level in zip(DrillCheck, [Level.OK, Level.WARNING, Level.CRITICAL] * 5, strict=False)
    )
    estimate = DrillEstimate(
        volume_bytes=55 * 1024**3,
        speed_bytes_per_second=50_000_000,
        speed_source=SpeedSource.DEFAULT,
        speed_note="A default.",
        samples=0,
        transfer_time=NOW - NOW,
    )
    return DrillReport(assessed_at=NOW, items=items, estimate=estimate).to_dict()


def test_a_drill_report_with_every_check_fits_one_message_and_shows_each_fix() -> None:
    message = rendered(Event.DRILL_REPORT, report=full_report(), outcome="drill_blocked")
    text = shown(message)
    assert len(message.blocks or []) == len(DrillCheck) + 3
    assert text.count("_Fix:_ do this") == sum(1 for i in full_report()["items"] if i["level"] != "ok")
    assert "Migrate anyway" in text and "*Estimate:* 55.0 GiB" in text


def test_an_unknown_cloud_error_still_shows_code_message_and_what_to_do() -> None:
    message = rendered(
        Event.CLOUD_ERROR,
        step="create",
        code="Some.NewCode",
        message="something new broke",
        api="CreateReplicationJob",
        service="smc",
        retry="retry_execution",
    )
    text = shown(message)
    assert "Creating the SMC job failed" in text and "Some.NewCode" in text and "something new broke" in text
    assert "request_retry_execution" in text


def test_an_error_retry_cannot_help_with_has_no_retry_button() -> None:
    message = rendered(Event.CLOUD_ERROR, step="job_pause", code="ReplicationJob.InvalidStatus", retry=None)
    assert [b["type"] for b in message.blocks or []] == ["section", "context"]
    assert "Pause of the job failed" in shown(message)


def test_a_verification_that_could_not_release_its_instance_says_it_keeps_billing() -> None:
    message = rendered(
        Event.VERIFY_REPORT,
        phase="finished",
        passed=False,
        reason="Cloud Assistant did not come online.",
        instance_id="i-check",
        image_id="m-image",
        released=False,
        release_error="IncorrectInstanceStatus: busy",
    )
    text = shown(message)
    assert "could NOT be released" in text and "keeps billing" in text and "i-check" in text


def job(status: JobStatus, *, started: bool, run_once: bool = True) -> ReplicationJob:
    return ReplicationJob(
        id="j-1",
        name="web",
        source_id="s-1",
        region="cn-hangzhou",
        status=status,
        start_time=NOW if started else None,
        run_once=run_once,
        replication_parameters='{"bandwidth_limit":12500,"compress_level":5,"checksum":true}',
    )


def form(described: ReplicationJob) -> ModifyForm:
    editable, reason = modifiable(described)
    return ModifyForm(
        "r-1",
        "j-1",
        described.status.value,
        described.run_once is False,
        editable,
        reason,
        JobSettings.of(described),
    )


def test_the_modify_modal_of_a_job_that_never_ran_offers_the_transfer_settings() -> None:
    view = render.modify_view(form(job(JobStatus.READY, started=False)), "r-1:C0MIGRATE").to_dict()
    ids = [b.get("block_id") for b in view["blocks"]]
    assert "job_modify_speed_limit" in ids and "job_modify_locked" not in ids
    speed = next(b for b in view["blocks"] if b.get("block_id") == "job_modify_speed_limit")
    assert speed["element"]["initial_value"] == "100"
    assert len(view["blocks"]) <= 100 and len(view["private_metadata"]) <= 3000


def test_the_modify_modal_of_a_waiting_incremental_job_offers_its_schedule_only() -> None:
    view = render.modify_view(form(job(JobStatus.WAITING, started=True, run_once=False)), "m").to_dict()
    ids = [b.get("block_id") for b in view["blocks"]]
    assert "job_modify_frequency" in ids and "job_modify_max_images" in ids
    assert "job_modify_speed_limit" not in ids
    assert "before the job first runs" in json.dumps(view["blocks"])
