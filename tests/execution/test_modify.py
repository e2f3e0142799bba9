"""The Modify modal offers what SMC accepts in the job's state, says why the rest is locked, applies it."""

from __future__ import annotations

import json

from sandbox.slack import REQUESTER, ViewSnapshot
from storage.enums import AuditOutcome, ExecutionMethod
from tests.execution.helpers import (
    WEB_SOURCE,
    ShiftClock,
    audit,
    cloud_jobs,
    ephemerals_of,
    insert_request,
    replies,
    summary,
    text_of,
    web_params,
)
from tests.harness import BotUnderTest

FIELD = "job_modify_field"


def open_modify(bot: BotUnderTest, request_id: str) -> ViewSnapshot:
    result = bot.driver.block_action(REQUESTER, "job_modify", message=summary(bot, request_id))
    assert result.acked_in_time and not result.problems, result.problems
    bot.wait_for_background()
    view = bot.slack.open_view(REQUESTER)
    assert view is not None and view.callback_id == "job_modify_view"
    return view


def block_ids(view: ViewSnapshot) -> list[str]:
    return [str(b.get("block_id")) for b in view.blocks]


def created_job(bot: BotUnderTest) -> str:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.CREATE_ONLY))
    bot.settle()
    return request_id


def test_before_the_first_run_speed_compression_and_checksum_can_change(bot: BotUnderTest) -> None:
    request_id = created_job(bot)
    view = open_modify(bot, request_id)
    assert {"job_modify_speed_limit", "job_modify_compression", "job_modify_checksum"} <= set(block_ids(view))
    assert "job_modify_locked" not in block_ids(view)

    result = bot.driver.submit_view(
        REQUESTER,
        view.id,
        {
            "job_modify_speed_limit": {FIELD: "50"},
            "job_modify_compression": {FIELD: "3"},
            "job_modify_checksum": {FIELD: ["on"]},
        },
    )
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()

    [call] = bot.cloud.calls("ModifyReplicationJobAttribute")
    sent = json.loads(call.params["ReplicationParameters"])
    assert sent == {"bandwidth_limit": 6250, "compress_level": 3, "checksum": True}
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert (job.bandwidth_limit_kbps, job.compress_level, job.checksum) == (6250, 3, True)
    note = text_of(replies(bot, request_id, "action:modify"))
    assert "speed limit unlimited → 50 Mbit/s" in note and "compression 7 → 3" in note
    assert (REQUESTER, "button.modify", AuditOutcome.OK) in audit(bot, request_id)


def test_a_running_job_offers_only_name_and_description_and_says_why(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = insert_request(bot, web_params())
    bot.settle()
    clock.advance(60)
    bot.poll()
    bot.settle()
    view = open_modify(bot, request_id)
    ids = block_ids(view)
    assert "job_modify_name" in ids and "job_modify_description" in ids
    assert "job_modify_speed_limit" not in ids and "job_modify_compression" not in ids
    assert "can only change before the first run" in json.dumps(view.blocks)

    result = bot.driver.submit_view(REQUESTER, view.id, {"job_modify_name": {FIELD: "web-prod-02-move"}})
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()

    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.name == "web-prod-02-move"
    [call] = bot.cloud.calls("ModifyReplicationJobAttribute")
    assert "ReplicationParameters" not in call.params


def test_an_out_of_range_value_is_a_field_error_in_the_modal(bot: BotUnderTest) -> None:
    request_id = created_job(bot)
    view = open_modify(bot, request_id)

    result = bot.driver.submit_view(REQUESTER, view.id, {"job_modify_compression": {FIELD: "12"}})

    assert result.data["response_action"] == "errors"
    assert "from 0 to 10" in result.data["errors"]["job_modify_compression"]
    bot.settle()
    assert bot.cloud.calls("ModifyReplicationJobAttribute") == []


def test_a_job_that_started_after_the_modal_opened_refuses_the_frozen_fields(bot: BotUnderTest) -> None:
    request_id = created_job(bot)
    view = open_modify(bot, request_id)
    [job] = cloud_jobs(bot, WEB_SOURCE)
    bot.services.cloud.destination().start_replication_job(job.job_id)

    result = bot.driver.submit_view(REQUESTER, view.id, {"job_modify_speed_limit": {FIELD: "20"}})
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()

    assert bot.cloud.calls("ModifyReplicationJobAttribute") == []
    answer = ephemerals_of(bot, REQUESTER)[-1]
    assert "SMC no longer accepts" in answer and "speed limit mbps" in answer
    assert (REQUESTER, "button.modify", AuditOutcome.REFUSED) in audit(bot, request_id)
