"""Each execution method, run by the worker from its intent, against the simulator and the Slack stand-in."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.params import DataDisk, SystemDisk, format_utc
from sandbox.slack import APPROVER_1, REQUESTER
from storage.enums import ApprovalAction, AuditOutcome, ExecutionMethod, JobStatus, RequestState
from storage.types import utcnow
from tests.execution.helpers import (
    WEB_SOURCE,
    WIN_SOURCE,
    audit,
    buttons,
    cloud_jobs,
    insert_request,
    job_row,
    replies,
    request_row,
    summary,
    text_of,
    web_params,
)
from tests.harness import BotUnderTest


def approve_latest_round(bot: BotUnderTest, request_id: str) -> None:
    """An approver clicks Approve on the newest approval card of the request's thread."""
    row = request_row(bot, request_id)
    [card] = replies(bot, request_id, f"approval:{row.approval_round}")
    result = bot.driver.block_action(APPROVER_1, "approve", message=card)
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()


def click(bot: BotUnderTest, user: str, action_id: str, request_id: str) -> None:
    result = bot.driver.block_action(user, action_id, message=summary(bot, request_id))
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()


def test_test_only_stops_tested_and_migrate_runs_after_an_approve_click(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_ONLY))
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.TESTED
    assert cloud_jobs(bot, WEB_SOURCE) == []
    [report] = replies(bot, request_id, "drill")
    assert "Test Only: nothing was created" in text_of([report])
    assert "request_migrate" in buttons(summary(bot, request_id))

    click(bot, REQUESTER, "request_migrate", request_id)
    assert request_row(bot, request_id).state is RequestState.AWAITING_APPROVAL
    assert cloud_jobs(bot, WEB_SOURCE) == []

    approve_latest_round(bot, request_id)

    row = request_row(bot, request_id)
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert row.state is RequestState.IN_PROGRESS
    assert job.client_token == request_id
    assert job.status.value == "Running"
    stored = job_row(bot, request_id)
    assert stored is not None and stored.job_id == job.job_id
    assert stored.total_bytes and stored.total_bytes > 50 * 1024**3
    assert len(replies(bot, request_id, "job-created")) == 1
    assert len(replies(bot, request_id, "job-started")) == 1


def test_test_and_migrate_without_critical_creates_and_starts_the_job(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_AND_MIGRATE))
    bot.settle()

    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    assert job.status.value == "Running"
    [report] = replies(bot, request_id, "drill")
    assert "creates the SMC job now" in text_of([report])
    assert request_row(bot, request_id).drill_report is not None
    actions = [action for _, action, _ in audit(bot, request_id)]
    assert actions == ["execution.drill", "cloud.CreateReplicationJob", "cloud.StartReplicationJob"]


def test_disk_smaller_than_used_space_blocks_test_and_migrate_until_migrate_anyway(
    bot: BotUnderTest,
) -> None:
    # 30 GiB for a data disk with 38.5 GiB used: as if the source grew after the request was checked.
    params = web_params(
        execution_method=ExecutionMethod.TEST_AND_MIGRATE,
        system_disk=SystemDisk(size_gib=40),
        data_disks=(DataDisk(index=1, size_gib=30),),
    )
    request_id = insert_request(bot, params)
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.DRILL_BLOCKED
    assert cloud_jobs(bot, WEB_SOURCE) == []
    report = text_of(replies(bot, request_id, "drill"))
    assert ":no_entry: *Destination disks larger than the used space*" in report
    assert "Enter at least 39 GiB for data disk 1" in report
    assert "request_migrate_anyway" in buttons(summary(bot, request_id))

    click(bot, REQUESTER, "request_migrate_anyway", request_id)
    assert request_row(bot, request_id).state is RequestState.AWAITING_APPROVAL
    approve_latest_round(bot, request_id)

    # SMC itself refuses a data disk smaller than its used space: the thread says so, with Retry execution.
    row = request_row(bot, request_id)
    assert row.state is RequestState.FAILED
    assert row.last_error is not None and row.last_error["code"] == "InvalidParameter.DataDisk.1.Size"
    [error] = replies(bot, request_id, "error:create")
    assert "InvalidParameter.DataDisk.1.Size" in text_of([error])
    assert "request_retry_execution" in buttons(error)
    assert ("smc-bot", "cloud.CreateReplicationJob", AuditOutcome.ERROR) in audit(bot, request_id)


def test_windows_with_lvm_is_critical_and_smc_refuses_it_anyway_in_the_thread(bot: BotUnderTest) -> None:
    params = web_params(
        source_id=WIN_SOURCE,
        image_name="win-ad-01-img",
        execution_method=ExecutionMethod.TEST_AND_MIGRATE,
        system_disk=SystemDisk(size_gib=80, lvm=True),
        data_disks=(DataDisk(index=1, skip=True),),
    )
    request_id = insert_request(bot, params)
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.DRILL_BLOCKED
    report = text_of(replies(bot, request_id, "drill"))
    assert "the source runs Windows, which has no LVM" in report
    assert "Turn LVM off for system disk" in report

    click(bot, REQUESTER, "request_migrate_anyway", request_id)
    approve_latest_round(bot, request_id)

    assert cloud_jobs(bot, WIN_SOURCE) == []
    assert request_row(bot, request_id).state is RequestState.FAILED
    error = text_of(replies(bot, request_id, "error:create"))
    assert "InvalidParameter.Disks.System.LVM" in error
    assert "LVM is not supported for Windows" in error


def test_an_unfinished_job_blocks_the_test_and_migrate_anyway_runs_once_it_is_gone(
    bot: BotUnderTest,
) -> None:
    other = bot.services.cloud.destination().create_replication_job(
        {
            "RegionId": "cn-hangzhou",
            "SourceId": WEB_SOURCE,
            "TargetType": "Image",
            "ImageName": "other-img",
            "SystemDiskSize": 40,
        }
    )
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_AND_MIGRATE))
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.DRILL_BLOCKED
    assert f"already has {other} (Ready)" in text_of(replies(bot, request_id, "drill"))

    bot.services.cloud.destination().delete_replication_job(other)
    click(bot, REQUESTER, "request_migrate_anyway", request_id)
    approve_latest_round(bot, request_id)

    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    mine = [j for j in cloud_jobs(bot, WEB_SOURCE) if j.client_token == request_id]
    assert len(mine) == 1 and mine[0].status.value == "Running"


def test_migrate_now_creates_with_the_request_id_as_client_token_and_starts(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params())
    bot.settle()

    [call] = bot.cloud.calls("CreateReplicationJob")
    assert call.params["ClientToken"] == request_id
    assert "ScheduledStartTime" not in call.params
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.status.value == "Running"
    stored = job_row(bot, request_id)
    assert stored is not None
    assert stored.job_id == job.job_id and stored.region_id == "cn-hangzhou"
    assert stored.status is JobStatus.READY and stored.next_poll_at is not None
    assert stored.incremental is False and stored.credential_ref == "default"
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    assert len(bot.cloud.calls("StartReplicationJob")) == 1


def test_migrate_now_waits_for_its_first_approval_round_and_runs_after_the_approve_click(
    bot: BotUnderTest,
) -> None:
    request_id = insert_request(
        bot, web_params(), state=RequestState.AWAITING_APPROVAL, round_=0, action=None
    )
    with bot.services.db.unit_of_work() as session:
        bot.services.approvals.open_round(session, request_id, ApprovalAction.EXECUTE, actor=REQUESTER)
    bot.settle()
    assert request_row(bot, request_id).state is RequestState.AWAITING_APPROVAL
    assert bot.cloud.calls("CreateReplicationJob") == []

    approve_latest_round(bot, request_id)

    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.client_token == request_id and job.status.value == "Running"
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS


def test_migrate_later_sends_the_schedule_and_smc_starts_the_job_then(bot: BotUnderTest) -> None:
    start = (utcnow() + timedelta(minutes=30)).replace(microsecond=0)
    request_id = insert_request(
        bot, web_params(execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start)
    )
    bot.settle()

    [call] = bot.cloud.calls("CreateReplicationJob")
    assert call.params["ScheduledStartTime"] == format_utc(start)
    assert bot.cloud.calls("StartReplicationJob") == []
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.status.value == "Ready"
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    assert format_utc(start) in text_of(replies(bot, request_id, "job-created"))

    bot.cloud.advance(29 * 60)
    assert cloud_jobs(bot, WEB_SOURCE)[0].status.value == "Ready"
    bot.cloud.advance(2 * 60)
    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.status.value == "Running"
    assert job.cycle_type == "Schedule"


def test_migrate_later_approved_too_late_starts_now_and_says_so(bot: BotUnderTest) -> None:
    start = (utcnow() + timedelta(seconds=60)).replace(microsecond=0)
    request_id = insert_request(
        bot, web_params(execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start)
    )
    bot.settle()

    [call] = bot.cloud.calls("CreateReplicationJob")
    assert "ScheduledStartTime" not in call.params
    assert len(bot.cloud.calls("StartReplicationJob")) == 1
    assert cloud_jobs(bot, WEB_SOURCE)[0].status.value == "Running"
    assert "so the job starts now" in text_of(replies(bot, request_id, "job-created"))


def test_create_only_waits_for_start_which_needs_an_approve_click(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.CREATE_ONLY))
    bot.settle()

    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.status.value == "Ready"
    assert request_row(bot, request_id).state is RequestState.JOB_CREATED
    assert bot.cloud.calls("StartReplicationJob") == []
    assert "job_start" in buttons(summary(bot, request_id))

    click(bot, REQUESTER, "job_start", request_id)
    row = request_row(bot, request_id)
    assert row.state is RequestState.AWAITING_APPROVAL
    assert row.pending_action is ApprovalAction.START
    assert cloud_jobs(bot, WEB_SOURCE)[0].status.value == "Ready"

    approve_latest_round(bot, request_id)

    assert cloud_jobs(bot, WEB_SOURCE)[0].status.value == "Running"
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    assert len(replies(bot, request_id, "job-started")) == 1


def test_a_failed_create_fails_the_request_and_retry_execution_creates_the_job(bot: BotUnderTest) -> None:
    bot.cloud.faults.set_error_rate(
        "CreateReplicationJob", 1.0, code="QuotaExceeded.ReplicationJob", status=400, times=1
    )
    request_id = insert_request(bot, web_params())
    bot.settle()

    row = request_row(bot, request_id)
    assert row.state is RequestState.FAILED
    [error] = replies(bot, request_id, "error:create")
    shown = text_of([error])
    assert "QuotaExceeded.ReplicationJob" in shown and "What to do" in shown
    assert "request_retry_execution" in buttons(summary(bot, request_id))

    result = bot.driver.block_action(REQUESTER, "request_retry_execution", message=error)
    assert result.acked_in_time and not result.problems
    bot.settle()

    [job] = cloud_jobs(bot, WEB_SOURCE)
    assert job.status.value == "Running"
    assert request_row(bot, request_id).state is RequestState.IN_PROGRESS
    assert [c.params["ClientToken"] for c in bot.cloud.calls("CreateReplicationJob")] == [request_id] * 2


def test_a_stale_intent_of_an_older_round_does_nothing(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(), round_=2, action=None)
    with bot.services.db.unit_of_work() as session:
        from bot.domain.execution import enqueue_work

        enqueue_work(session, request_id, 1, ApprovalAction.EXECUTE)
    bot.settle()

    assert bot.cloud.calls("CreateReplicationJob") == []
    assert request_row(bot, request_id).state is RequestState.APPROVED
