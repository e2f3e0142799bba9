"""The drill against live data: each check with its level and fix, the estimates, and speeds it learned."""

from __future__ import annotations

from typing import Any

from sandbox.slack import REQUESTER
from storage.enums import ExecutionMethod, JobStatus, RequestState
from storage.models import SmcJob
from storage.types import utcnow
from tests.execution.helpers import (
    REGION,
    WEB_SOURCE,
    insert_request,
    replies,
    request_row,
    text_of,
    web_params,
)
from tests.harness import BotUnderTest

MB = 1_000_000


def earlier_job(bot: BotUnderTest, speed_bps: float, *, network_type: int, region: str = REGION) -> None:
    """A request this bot ran before, whose job finished at `speed_bps` on average."""
    request_id = insert_request(
        bot,
        web_params(network_type=network_type, region_id=region),
        state=RequestState.COMPLETED,
        action=None,
    )
    with bot.services.db.unit_of_work() as session:
        session.add(
            SmcJob(
                job_id=f"j-earlier{request_id[2:]}",
                request_id=request_id,
                region_id=region,
                status=JobStatus.FINISHED,
                avg_speed_bps=speed_bps,
                finished_at=utcnow(),
            )
        )


def drill(bot: BotUnderTest, **changes: object) -> tuple[str, dict[str, Any]]:
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_ONLY, **changes))
    bot.settle()
    report = request_row(bot, request_id).drill_report
    assert report is not None
    return request_id, report


def test_the_report_lists_each_check_with_its_level_and_estimates_the_transfer(bot: BotUnderTest) -> None:
    request_id, report = drill(bot, job_name="web-prod-02-move")

    levels = {item["check"]: item["level"] for item in report["items"]}
    assert levels["source_online"] == "ok"
    assert levels["unfinished_job"] == "ok"
    assert levels["job_quota"] == "ok" and levels["running_quota"] == "ok"
    assert levels["disk_space"] == "ok"
    assert levels["network"] == "ok"
    assert levels["names"] == "ok"
    estimate = report["estimate"]
    assert estimate["volume_bytes"] > 51 * 1024**3
    assert estimate["speed_source"] == "default"
    shown = text_of(replies(bot, request_id, "drill"))
    assert "*Estimate:* 51.6 GiB at 50.0 MB/s (400 Mbit/s)" in shown
    assert ":white_check_mark: *Source server online*" in shown


def test_names_already_in_use_are_critical_with_fixes(bot: BotUnderTest) -> None:
    bot.services.cloud.destination().create_replication_job(
        {
            "RegionId": REGION,
            "SourceId": "s-bp1knv31zn9d3jznb5y3",
            "TargetType": "Image",
            "ImageName": "web-prod-02-img",
            "SystemDiskSize": 80,
            "Name": "taken-name",
        }
    )
    request_id, report = drill(bot, job_name="taken-name")

    [names] = [i for i in report["items"] if i["check"] == "names"]
    assert names["level"] == "critical"
    assert "Choose another image name prefix" in names["fix"] and "Choose another job name" in names["fix"]
    assert request_row(bot, request_id).state is RequestState.TESTED


def test_the_speed_estimate_learns_from_earlier_jobs_of_the_same_region_and_network(
    bot: BotUnderTest,
) -> None:
    earlier_job(bot, 80 * MB, network_type=2)
    earlier_job(bot, 100 * MB, network_type=2)
    earlier_job(bot, 120 * MB, network_type=2)
    earlier_job(bot, 5 * MB, network_type=0)  # the public network: another kind of link
    earlier_job(bot, 1 * MB, network_type=2, region="cn-shanghai")

    request_id, report = drill(bot)

    estimate = report["estimate"]
    assert estimate["speed_source"] == "learned"
    assert estimate["samples"] == 3
    assert estimate["speed_bytes_per_second"] == 100 * MB
    assert "median speed of 3 earlier migrations of this bot to cn-hangzhou over VPC" in text_of(
        replies(bot, request_id, "drill")
    )


def test_a_speed_limit_below_what_was_learned_sets_the_estimate(bot: BotUnderTest) -> None:
    earlier_job(bot, 100 * MB, network_type=2)

    _, report = drill(bot, speed_limit_mbps=100)

    assert report["estimate"]["speed_source"] == "limit"
    assert report["estimate"]["speed_bytes_per_second"] == 12.5 * MB


def test_a_cloud_error_during_the_drill_is_shown_and_retry_execution_runs_it_again(bot: BotUnderTest) -> None:
    bot.cloud.faults.set_error_rate("DescribeSourceServers", 1.0, code="Forbidden.RAM", status=403, times=1)
    request_id = insert_request(bot, web_params(execution_method=ExecutionMethod.TEST_ONLY))
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.FAILED
    [error] = replies(bot, request_id, "error:drill")
    assert "The migration test failed" in text_of([error]) and "Forbidden.RAM" in text_of([error])

    result = bot.driver.block_action(REQUESTER, "request_retry_execution", message=error)
    assert result.acked_in_time and not result.problems
    bot.settle()

    assert request_row(bot, request_id).state is RequestState.TESTED
    assert len(replies(bot, request_id, "drill")) == 1


def test_a_source_that_does_not_report_its_used_space_gets_a_warning_and_an_upper_bound(
    bot: BotUnderTest,
) -> None:
    # A real DescribeSourceServers has no used-space field; the sandbox leaves its extension out here.
    bot.cloud.world.source_servers[WEB_SOURCE].reports_used_space = False
    request_id, report = drill(bot, job_name="web-prod-02-move")

    levels = {item["check"]: item["level"] for item in report["items"]}
    assert levels["disk_space"] == "warning"
    assert report["estimate"]["volume_is_upper_bound"] is True
    shown = text_of(replies(bot, request_id, "drill"))
    assert "did not report the used space of its system disk" in shown
    assert "*Estimate:* At most" in shown
    assert "GiB used" not in shown
