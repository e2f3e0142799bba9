"""Every job button in a state where SMC accepts it and in one where it went stale; who may click."""

from __future__ import annotations

from sandbox.slack import APPROVER_2, OUTSIDER, REQUESTER, PostedMessage
from storage.enums import AuditOutcome, ExecutionMethod, JobStatus, RequestState
from tests.execution.helpers import (
    WEB_SOURCE,
    ShiftClock,
    audit,
    buttons,
    cloud_jobs,
    ephemerals_of,
    insert_request,
    job_row,
    replies,
    request_row,
    summary,
    text_of,
    web_params,
)
from tests.harness import BotUnderTest

PREPARING_SECONDS = 180
SYNCING_SECONDS = 470
"""web-prod-02's 51.6 GiB at the sandbox's 120 MB/s over a VPC."""


def running_job(bot: BotUnderTest, clock: ShiftClock, **changes: object) -> str:
    request_id = insert_request(bot, web_params(**changes))
    bot.settle()
    observe(bot, clock)
    return request_id


def observe(bot: BotUnderTest, clock: ShiftClock, cloud_seconds: float = 0) -> None:
    """Let cloud time pass, then one poll tick (the poller's next turn) and delivery."""
    if cloud_seconds:
        bot.cloud.advance(cloud_seconds)
    clock.advance(60)
    bot.poll()
    bot.settle()


def click(bot: BotUnderTest, user: str, action_id: str, message: PostedMessage) -> None:
    result = bot.driver.block_action(user, action_id, message=message)
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()


def double_click(bot: BotUnderTest, user: str, action_id: str, message: PostedMessage) -> None:
    """Two clicks on the same button before Slack shows the first one's effect."""
    for _ in range(2):
        result = bot.driver.block_action(user, action_id, message=message)
        assert result.acked_in_time and not result.problems, result.problems
        bot.wait_for_background()
    bot.settle()


def job_status(bot: BotUnderTest) -> tuple[str, str | None]:
    [job] = [j for j in cloud_jobs(bot, WEB_SOURCE) if j.status.value != "Deleting"] or cloud_jobs(
        bot, WEB_SOURCE
    )
    return job.status.value, job.phase.value if job.phase is not None else None


def test_pause_while_syncing_stops_the_job(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)
    assert "job_pause" in buttons(summary(bot, request_id))

    click(bot, REQUESTER, "job_pause", summary(bot, request_id))

    assert job_status(bot)[0] == "Stopped"
    assert "Paused" in ephemerals_of(bot, REQUESTER)[-1]
    assert "paused the job" in text_of(replies(bot, request_id, "action:pause"))
    assert (REQUESTER, "button.pause", AuditOutcome.OK) in audit(bot, request_id)
    assert "job_resume" in buttons(summary(bot, request_id))


def test_a_stale_pause_gets_a_clear_answer_and_no_smc_call(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)
    stale = summary(bot, request_id)
    bot.cloud.advance(SYNCING_SECONDS + 30)  # now Processing, and no poll has shown it yet

    click(bot, REQUESTER, "job_pause", stale)

    assert bot.cloud.calls("StopReplicationJob") == []
    answer = ephemerals_of(bot, REQUESTER)[-1]
    assert "This job is now Running (Processing), so Pause is no longer possible" in answer
    assert "ReplicationJob" not in answer
    assert (REQUESTER, "button.pause", AuditOutcome.REFUSED) in audit(bot, request_id)
    assert "job_pause" not in buttons(summary(bot, request_id))


def test_resume_after_pause_and_a_stale_resume(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)
    click(bot, REQUESTER, "job_pause", summary(bot, request_id))
    paused = summary(bot, request_id)
    assert "job_resume" in buttons(paused)

    double_click(bot, APPROVER_2, "job_resume", paused)

    assert job_status(bot) == ("Running", "Syncing")
    assert len(replies(bot, request_id, "action:resume")) == 1
    assert "resumed the job" in text_of(replies(bot, request_id, "action:resume"))
    answers = ephemerals_of(bot, APPROVER_2)
    assert "Resumed" in answers[-2]
    assert "This job is now Running (Syncing), so Resume is no longer possible" in answers[-1]
    assert len(bot.cloud.calls("StartReplicationJob")) == 2  # the first start and one resume


def test_retry_from_the_error_reply_and_the_same_button_again(bot: BotUnderTest, clock: ShiftClock) -> None:
    bot.cloud.faults.fail_job(
        at_progress=40, code="InternalError", message="disk read error", source_id=WEB_SOURCE
    )
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + SYNCING_SECONDS)
    assert job_status(bot)[0] == "InError"
    [error] = [r for r in summary(bot, request_id).replies if "job_retry" in buttons(r)]

    click(bot, REQUESTER, "job_retry", error)
    assert job_status(bot) == ("Running", "Syncing")
    assert "retried the job" in text_of(replies(bot, request_id, "action:retry"))

    click(bot, REQUESTER, "job_retry", error)
    assert (
        "This job is now Running (Syncing), so Retry is no longer possible"
        in ephemerals_of(bot, REQUESTER)[-1]
    )


def test_cut_over_an_incremental_job_waiting_between_syncs(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock, incremental=True, sync_interval_hours=24, max_reserved_images=2)
    observe(bot, clock, PREPARING_SECONDS + SYNCING_SECONDS + 300 + 120 + 10)
    assert job_status(bot)[0] == "Waiting"
    waiting = summary(bot, request_id)
    assert "job_cut_over" in buttons(waiting)

    double_click(bot, REQUESTER, "job_cut_over", waiting)

    assert job_status(bot)[0] == "Running"
    assert "cut the job over" in text_of(replies(bot, request_id, "action:cut_over"))
    assert (
        "This job is now Running (Preparing), so Cut over is no longer possible"
        in (ephemerals_of(bot, REQUESTER)[-1])
    )
    assert len(bot.cloud.calls("CutOverReplicationJob")) == 1


def test_cancel_asks_for_confirmation_deletes_the_job_and_releases_the_intermediate_instance(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, 60)
    [job] = cloud_jobs(bot, WEB_SOURCE)
    intermediate = job.transition_instance_id
    assert intermediate in bot.cloud.world.instances
    message = summary(bot, request_id)
    [cancel] = [
        e
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == "job_cancel"
    ]
    assert cancel["confirm"]["confirm"]["text"]

    double_click(bot, REQUESTER, "job_cancel", message)

    assert cloud_jobs(bot, WEB_SOURCE)[0].status.value == "Deleting"
    assert intermediate not in bot.cloud.world.instances
    assert request_row(bot, request_id).state is RequestState.JOB_DELETED
    stored = job_row(bot, request_id)
    assert stored is not None and stored.status is JobStatus.DELETING
    assert "releases its intermediate instance" in text_of(replies(bot, request_id, "action:cancel_job"))

    assert (
        "is now cancelled (its job was deleted), so Cancel and clean up is no longer possible"
        in (ephemerals_of(bot, REQUESTER)[-1])
    )
    assert len(bot.cloud.calls("DeleteReplicationJob")) == 1


def test_a_stale_start_button_of_a_job_that_already_runs(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.CREATE_ONLY))
    bot.settle()
    created = summary(bot, request_id)
    assert "job_start" in buttons(created)
    [job] = cloud_jobs(bot, WEB_SOURCE)
    bot.services.cloud.destination().start_replication_job(job.job_id)  # started outside the bot

    click(bot, REQUESTER, "job_start", created)

    assert request_row(bot, request_id).state is RequestState.JOB_CREATED
    assert (
        "This job is now Running (Preparing), so Start is no longer possible"
        in ephemerals_of(bot, REQUESTER)[-1]
    )


def test_an_outsider_is_refused_and_nothing_changes(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)

    click(bot, OUTSIDER, "job_pause", summary(bot, request_id))

    assert bot.cloud.calls("StopReplicationJob") == []
    assert job_status(bot) == ("Running", "Syncing")
    assert "this channel's approvers and its admins" in ephemerals_of(bot, OUTSIDER)[-1]
    assert (OUTSIDER, "button.pause", AuditOutcome.REFUSED) in audit(bot, request_id)


def test_an_approver_of_the_channel_group_may_pause(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)

    click(bot, APPROVER_2, "job_pause", summary(bot, request_id))

    assert job_status(bot)[0] == "Stopped"
    assert (APPROVER_2, "button.pause", AuditOutcome.OK) in audit(bot, request_id)


def test_withdraw_by_the_requester_and_refused_to_an_outsider(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_ONLY))
    bot.settle()
    tested = summary(bot, request_id)

    click(bot, OUTSIDER, "request_withdraw", tested)
    assert request_row(bot, request_id).state is RequestState.TESTED
    assert "can withdraw it" in ephemerals_of(bot, OUTSIDER)[-1]

    click(bot, REQUESTER, "request_withdraw", tested)
    assert request_row(bot, request_id).state is RequestState.CANCELLED
    assert "withdrew the request" in text_of(replies(bot, request_id, "action:withdraw"))
    assert buttons(summary(bot, request_id)) == []


def test_smc_refusing_an_action_is_explained_in_the_thread_with_a_retry(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = running_job(bot, clock)
    observe(bot, clock, PREPARING_SECONDS + 20)
    bot.cloud.faults.set_error_rate("StopReplicationJob", 1.0, code="Forbidden.RAM", status=403, times=1)

    click(bot, REQUESTER, "job_pause", summary(bot, request_id))

    assert job_status(bot) == ("Running", "Syncing")
    assert "SMC refused Pause (Forbidden.RAM)" in ephemerals_of(bot, REQUESTER)[-1]
    [error] = replies(bot, request_id, "error:job_pause")
    shown = text_of([error])
    assert "Pause of the job failed" in shown and "Forbidden.RAM" in shown and "What to do" in shown
    assert (REQUESTER, "button.pause", AuditOutcome.ERROR) in audit(bot, request_id)

    click(bot, REQUESTER, "job_pause", error)

    assert job_status(bot)[0] == "Stopped"


def test_a_double_click_on_migrate_opens_one_approval_round(bot: BotUnderTest) -> None:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_ONLY))
    bot.settle()

    double_click(bot, REQUESTER, "request_migrate", summary(bot, request_id))

    row = request_row(bot, request_id)
    assert row.state is RequestState.AWAITING_APPROVAL and row.approval_round == 2
    assert len(replies(bot, request_id, "approval:")) == 1
    assert (
        "is now waiting for approval, so Migrate is no longer possible" in ephemerals_of(bot, REQUESTER)[-1]
    )
