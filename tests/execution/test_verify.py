"""Verify: after approval, launch an instance from the image, wait for Running and Cloud Assistant, report,
release it — also when the check fails."""

from __future__ import annotations

from datetime import timedelta

from sandbox.cloud.world import SecurityGroup
from sandbox.slack import APPROVER_1, OUTSIDER, REQUESTER, PostedMessage
from storage.enums import AuditOutcome, RequestState
from tests.execution.helpers import (
    REGION,
    VPC,
    VSWITCH,
    ShiftClock,
    audit,
    buttons,
    ephemerals_of,
    insert_request,
    replies,
    request_row,
    summary,
    text_of,
    web_params,
)
from tests.harness import BotUnderTest

TARGET_SG = "sg-bp1vhe0ke7fvmnc1lsry"
"""smc-target-sg, the one security group of the destination VPC in the default world."""

WHOLE_JOB_SECONDS = 180 + 470 + 300 + 120 + 30
BOOTED_SECONDS = 100
"""The sandbox's instances run after 60 s and their Cloud Assistant is online after 90 s."""


def finished_migration(bot: BotUnderTest, clock: ShiftClock) -> str:
    request_id = insert_request(bot, web_params())
    bot.settle()
    bot.cloud.advance(WHOLE_JOB_SECONDS)
    clock.advance(60)
    bot.poll()
    bot.settle()
    assert request_row(bot, request_id).state is RequestState.COMPLETED
    return request_id


def click(bot: BotUnderTest, user: str, action_id: str, message: PostedMessage) -> None:
    result = bot.driver.block_action(user, action_id, message=message)
    assert result.acked_in_time and not result.problems, result.problems
    bot.settle()


def approve_verify(bot: BotUnderTest, request_id: str) -> None:
    click(bot, REQUESTER, "request_verify", summary(bot, request_id))
    row = request_row(bot, request_id)
    assert row.state is RequestState.AWAITING_APPROVAL
    [card] = replies(bot, request_id, f"approval:{row.approval_round}")
    click(bot, APPROVER_1, "approve", card)


def check_instances(bot: BotUnderTest, request_id: str) -> list[str]:
    return [
        i.instance_id
        for i in bot.cloud.world.instances.values()
        if i.name.startswith(f"smc-verify-{request_id}")
    ]


def test_verify_launches_checks_reports_and_releases_the_instance(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = finished_migration(bot, clock)
    assert "request_verify" in buttons(summary(bot, request_id))

    approve_verify(bot, request_id)

    [instance] = check_instances(bot, request_id)
    assert bot.cloud.world.instances[instance].region_id == REGION
    [launch] = bot.cloud.calls("RunInstances")
    assert launch.params["VSwitchId"] == VSWITCH and launch.params["InstanceChargeType"] == "PostPaid"
    assert launch.params["SecurityGroupId"] == TARGET_SG, "the VPC's only security group"
    assert launch.params["ImageId"].startswith("m-")
    assert request_row(bot, request_id).state is RequestState.COMPLETED
    launched = text_of(replies(bot, request_id, "verify"))
    assert instance in launched and "pay-as-you-go" in launched
    assert f"with security group `{TARGET_SG}`" in launched

    bot.cloud.advance(BOOTED_SECONDS)
    clock.advance(20)
    bot.settle()

    [report] = replies(bot, request_id, f"verify:{request_row(bot, request_id).approval_round}:finished")
    shown = text_of([report])
    assert "Verification passed" in shown and f"`{instance}`" in shown and "released" in shown
    assert f"security group `{TARGET_SG}`" in shown
    assert check_instances(bot, request_id) == []
    [delete] = bot.cloud.calls("DeleteInstance")
    assert delete.params["InstanceId"] == instance
    assert ("smc-bot", "verify.finished", AuditOutcome.OK) in audit(bot, request_id)


def test_a_failed_check_is_reported_and_the_instance_is_still_released(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = finished_migration(bot, clock)
    approve_verify(bot, request_id)
    [instance] = check_instances(bot, request_id)
    bot.cloud.faults.set_agent_offline(instance)

    bot.cloud.advance(BOOTED_SECONDS)
    clock.advance(20)
    bot.settle()
    assert check_instances(bot, request_id) == [instance]  # still waiting for Cloud Assistant

    clock.advance(21 * 60)
    bot.settle()

    shown = text_of(replies(bot, request_id, "verify"))
    assert "Verification failed" in shown and "did not come online" in shown
    assert check_instances(bot, request_id) == []
    assert ("smc-bot", "verify.finished", AuditOutcome.ERROR) in audit(bot, request_id)


def test_verify_by_an_outsider_is_refused(bot: BotUnderTest, clock: ShiftClock) -> None:
    request_id = finished_migration(bot, clock)

    click(bot, OUTSIDER, "request_verify", summary(bot, request_id))

    assert request_row(bot, request_id).state is RequestState.COMPLETED
    assert bot.cloud.calls("RunInstances") == []
    assert "this channel's approvers and its admins" in ephemerals_of(bot, OUTSIDER)[-1]


def add_security_group(bot: BotUnderTest, group_id: str, name: str, *, minutes_later: int) -> None:
    with bot.cloud.lock:
        world = bot.cloud.world
        first = world.security_groups[TARGET_SG]
        world.security_groups[group_id] = SecurityGroup(
            group_id=group_id,
            account_uid=first.account_uid,
            region_id=first.region_id,
            vpc_id=VPC,
            name=name,
            created=first.created + timedelta(minutes=minutes_later),
        )


def test_verify_prefers_the_vpcs_default_named_security_group(bot: BotUnderTest, clock: ShiftClock) -> None:
    add_security_group(bot, "sg-bp1defaultgroup01", "default-smc-target-vpc", minutes_later=5)
    request_id = finished_migration(bot, clock)

    approve_verify(bot, request_id)

    [launch] = bot.cloud.calls("RunInstances")
    assert launch.status == 200 and launch.params["SecurityGroupId"] == "sg-bp1defaultgroup01"
    assert "with security group `sg-bp1defaultgroup01`" in text_of(replies(bot, request_id, "verify"))


def test_verify_without_a_security_group_in_the_vpc_says_what_to_create(
    bot: BotUnderTest, clock: ShiftClock
) -> None:
    request_id = finished_migration(bot, clock)
    with bot.cloud.lock:
        del bot.cloud.world.security_groups[TARGET_SG]

    approve_verify(bot, request_id)

    assert bot.cloud.calls("RunInstances") == []
    [report] = replies(bot, request_id, f"verify:{request_row(bot, request_id).approval_round}:finished")
    shown = text_of([report])
    assert "Verification failed" in shown
    assert f"VPC {VPC} has no security group" in shown
    assert f"create a security group in VPC {VPC} ({REGION}), then Verify again" in shown
    assert "nothing bills" in shown
    assert ("smc-bot", "verify.finished", AuditOutcome.ERROR) in audit(bot, request_id)
