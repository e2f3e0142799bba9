"""`/smc template save|list|delete` over signed HTTP: what a template keeps, names, who may change it."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot.domain.params import MigrationParams, NetworkType, OsType, PrivateIpMode, SystemDisk, Tag
from bot.domain.templates import KEPT, Template, apply_template
from bot.domain.validation import (
    DiskFacts,
    InstanceFacts,
    SourceFacts,
    ValidationContext,
    VpcFacts,
    VSwitchFacts,
)
from sandbox.slack import ADMIN, APPROVER_1, MIGRATIONS_CHANNEL, REQUESTER
from storage import repository as repo
from storage.enums import ExecutionMethod, TargetType
from storage.models import AuditEvent, ChannelConfig, ParamTemplate
from storage.types import utcnow
from tests.harness import BotUnderTest

SOURCE = "s-bp1dtyvdak02x846kq4p"
VPC = VpcFacts(
    vpc_id="vpc-bp1e4rhn51r4wgor8b81",
    cidr="10.10.0.0/16",
    vswitches=(VSwitchFacts("vsw-bp1yg0cajhfcobh1gcyd", "10.10.1.0/24", 200, "cn-hangzhou-h"),),
)


def make_request(bot: BotUnderTest, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "source_id": SOURCE,
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod-02-img",
        "migration_test": False,
        "execution_method": ExecutionMethod.MIGRATE_NOW,
        "network_type": NetworkType.VPC,
        "vpc_id": VPC.vpc_id,
        "vswitch_id": VPC.vswitches[0].vswitch_id,
        "system_disk": SystemDisk(size_gib=40),
        "job_name": "web-prod-02-to-hz",
        "speed_limit_mbps": 200,
        "compression_level": 5,
        "checksum": True,
        "tags": (Tag(key="team", value="web"),),
        "description": "web-tier",
    }
    values.update(overrides)
    params = MigrationParams(**values)
    ctx = ValidationContext(
        now=utcnow(),
        source=SourceFacts(
            source_id=SOURCE,
            os_type=OsType.LINUX,
            has_boot_partition=True,
            system_disk=DiskFacts(index=0, size_gib=40, used_gib=13.1),
        ),
        regions=("cn-hangzhou",),
        vpcs=(VPC,),
        target_instance=InstanceFacts(
            instance_id="i-bp14kzy194uiygtm79ma",
            region_id="cn-hangzhou",
            os_type=OsType.LINUX,
            system_disk_gib=60,
            vswitch=VPC.vswitches[0],
        ),
    )
    view = bot.services.requests.submit(
        params, ctx, requester=REQUESTER, team_id=bot.slack.team_id, channel_id=MIGRATIONS_CHANNEL
    )
    return view.id


def smc(bot: BotUnderTest, text: str, user: str = REQUESTER) -> str:
    return bot.command_answer(user, MIGRATIONS_CHANNEL, text).text


def stored(bot: BotUnderTest, name: str) -> dict[str, Any] | None:
    with bot.services.db.unit_of_work() as session:
        found = repo.get_template(session, bot.slack.team_id, name)
        return dict(found.params) if found is not None else None


def test_save_keeps_only_the_reusable_parameters(bot: BotUnderTest) -> None:
    request_id = make_request(bot)
    answer = smc(bot, f"template save web-hz {request_id}")
    assert answer.startswith(f"Saved template `web-hz` from `{request_id}`: ECS image in `cn-hangzhou`")
    assert "VPC `vpc-bp1e4rhn51r4wgor8b81`, limit 200 Mbit/s, compression 5" in answer
    params = stored(bot, "web-hz")
    assert params is not None and set(params) == set(KEPT.values())
    for gone in ("source_id", "image_name", "instance_id", "job_name", "scheduled_start", "system_disk"):
        assert gone not in params
    assert params["vswitch_id"] == "vsw-bp1yg0cajhfcobh1gcyd" and params["checksum"] is True
    assert params["tags"] == [{"key": "team", "value": "web"}]
    with bot.services.db.unit_of_work() as session:
        [audit] = session.exec(select(AuditEvent).where(AuditEvent.action == "template.save")).all()
        assert (audit.actor, audit.request_id, audit.detail["name"]) == (REQUESTER, request_id, "web-hz")


def test_an_instance_target_template_leaves_out_the_instance_and_its_private_ip(bot: BotUnderTest) -> None:
    request_id = make_request(
        bot,
        target_type=TargetType.TARGET_INSTANCE,
        image_name=None,
        instance_id="i-bp14kzy194uiygtm79ma",
        private_ip_mode=PrivateIpMode.MANUAL,
        private_ip="10.10.1.50",
    )
    smc(bot, f"template save to-instance {request_id}")
    params = stored(bot, "to-instance")
    assert params is not None
    assert params["target_type"] == "TargetInstance"
    assert "instance_id" not in params and "private_ip" not in params and "private_ip_mode" not in params
    template = Template("to-instance", params, REQUESTER, utcnow())
    merged = apply_template(
        template, {"source_id": "s-other", "instance_id": "i-other", "speed_limit_mbps": 0}
    )
    assert merged["source_id"] == "s-other" and merged["instance_id"] == "i-other"
    assert merged["speed_limit_mbps"] == 200


def test_list_and_delete(bot: BotUnderTest) -> None:
    assert smc(bot, "template list").startswith("No templates yet.")
    request_id = make_request(bot)
    smc(bot, f"template save web-hz {request_id}")
    smc(bot, f"template save alpha {request_id}")
    listing = bot.command_answer(REQUESTER, MIGRATIONS_CHANNEL, "template list")
    assert listing.text == "2 templates"
    names = [b["text"]["text"].split("`")[1] for b in listing.blocks[1:-1]]
    assert names == ["alpha", "web-hz"]
    assert smc(bot, "template delete web-hz") == "Deleted template `web-hz`."
    assert stored(bot, "web-hz") is None
    assert smc(bot, "template delete web-hz") == "Template `web-hz` was not found."


def test_names_and_arguments_are_checked_with_what_to_type(bot: BotUnderTest) -> None:
    request_id = make_request(bot)
    assert smc(bot, f"template save 9lives {request_id}").startswith(
        "`9lives` cannot be a template name: use 2 to 64 characters: a letter first"
    )
    assert smc(bot, "template save web-hz r-nothere9") == (
        "Request `r-nothere9` was not found. `/smc list all` shows request ids."
    )
    assert "Type `/smc template save <name> <request-id>`" in smc(bot, "template save web-hz")
    assert "`frob` is not a template command." in smc(bot, "template frob")
    assert smc(bot, "template").startswith("*Templates* keep the reusable parameters")
    with bot.services.db.unit_of_work() as session:
        assert session.exec(select(ParamTemplate)).all() == []


def test_only_the_creator_or_a_channel_admin_may_replace_or_delete(bot: BotUnderTest) -> None:
    request_id = make_request(bot)
    smc(bot, f"template save web-hz {request_id}")
    refused = smc(bot, f"template save web-hz {request_id}", user=APPROVER_1)
    assert refused.startswith(f"The template `web-hz` belongs to <@{REQUESTER}>: choose another name")
    assert smc(bot, "template delete web-hz", user=APPROVER_1).startswith(f"Only <@{REQUESTER}>, who saved")
    assert smc(bot, f"template save web-hz {request_id}").startswith("Replaced template `web-hz`")
    with bot.services.db.unit_of_work() as session:
        repo.save_channel_config(
            session,
            ChannelConfig(channel_id=MIGRATIONS_CHANNEL, team_id=bot.slack.team_id, admin_users=[ADMIN]),
        )
    assert smc(bot, "template delete web-hz", user=ADMIN) == "Deleted template `web-hz`."
