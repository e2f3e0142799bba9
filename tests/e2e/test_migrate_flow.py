"""`/smc migrate` end to end: signed requests in, the sandbox cloud behind, the Slack stand-in in front."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.domain.catalog import Catalog
from bot.domain.params import MigrationParams
from bot.domain.smc_request import create_replication_job_request
from handlers.forms import LAYOUT_ON, LVM, ON
from handlers.ids import BlockId
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER
from storage import repository as repo
from storage.enums import ApprovalAction, OutboxKind, RequestState, TargetType
from storage.models import AuditEvent, MigrationRequest
from tests.handlers.wizard import WizardUser, errors_by_key
from tests.harness import BotUnderTest

WEB = "s-bp1dtyvdak02x846kq4p"
"""web-prod-02 (CentOS): system 40 GiB with 12.9+0.2 GiB used, data disk 1 (/data) 100 GiB with 38.5 used."""
WINDOWS = "s-bp1knv31zn9d3jznb5y3"
"""win-ad-01 (Windows Server 2019)."""
HANGZHOU = "cn-hangzhou"
TARGET_LINUX = "i-bp14kzy194uiygtm79ma"
"""target-linux-01 in vsw-bp1yg0cajhfcobh1gcyd (10.10.1.0/24), disks 60 + 200 GiB."""
TARGET_VPC = "vpc-bp1e4rhn51r4wgor8b81"
TARGET_VSWITCH = "vsw-bp1yg0cajhfcobh1gcyd"


def stored_requests(bot: BotUnderTest) -> list[MigrationRequest]:
    with bot.services.db.unit_of_work() as session:
        return list(session.scalars(select(MigrationRequest)).all())


def test_a_valid_image_migration_becomes_a_request_with_its_summary_in_the_channel(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    opened = wizard.open(f"migrate {WEB}")
    assert opened.acked_in_time and not opened.problems
    assert "web-prod-02" in wizard.text() and "38.5 GiB used" in wizard.text()
    region = wizard.options("region")
    assert [o["value"] for o in region.data["options"]] == ["cn-hangzhou", "cn-shanghai"]
    wizard.choose("region", HANGZHOU)

    to_disks = wizard.submit()
    assert to_disks.data["response_action"] == "update"
    assert "system_disk_size" in wizard.fields() and "data_disk_size.1" in wizard.fields()
    to_details = wizard.submit()
    assert to_details.data["response_action"] == "update" and "job_name" in wizard.fields()
    done = wizard.submit(
        {"job_name": "migrate-web-prod-02", "speed_limit_mbps": "100", "tags": "env=prod\nteam=platform"}
    )
    assert done.acked_in_time and not done.problems
    assert wizard.view.callback_id == "migrate_done" and "waiting for approval" in wizard.text()

    [request] = stored_requests(bot)
    assert request.requester == REQUESTER and request.channel_id == MIGRATIONS_CHANNEL
    assert request.team_id == bot.slack.team_id
    assert request.state is RequestState.AWAITING_APPROVAL
    assert request.pending_action is ApprovalAction.EXECUTE and request.approval_round == 1
    params = MigrationParams.from_canonical(json.dumps(request.params))
    assert params.params_hash() == request.params_hash
    assert params.image_name == "web-prod-02" and params.speed_limit_mbps == 100
    assert params.system_disk.size_gib == 40 and [d.size_gib for d in params.data_disks] == [100]
    with bot.services.db.unit_of_work() as session:
        [audit] = session.scalars(select(AuditEvent).where(AuditEvent.request_id == request.id)).all()
        assert audit.params_hash == request.params_hash
        assert audit.detail["create_replication_job"] == create_replication_job_request(
            params, client_token=request.id
        )

    bot.settle()
    [summary] = bot.slack.channel_messages(MIGRATIONS_CHANNEL)
    assert request.id in summary.text
    shown = json.dumps(summary.blocks)
    assert "ImageName = web-prod-02" in shown and "bandwidth_limit" in shown and "12500" in shown
    assert request.params_hash[:12] in shown
    [pointer] = bot.slack.ephemerals(REQUESTER)
    assert request.id in pointer.text and summary.ts.replace(".", "") in pointer.text


def test_instance_target_over_vpc_shows_field_errors_until_the_values_fit(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open("migrate")
    sources = wizard.options("source_id", "web")
    assert [o["value"] for o in sources.data["options"]] == [WEB]
    wizard.choose("source_id", WEB, query="web")
    wizard.choose("region", HANGZHOU)
    wizard.choose("target_type", TargetType.TARGET_INSTANCE.value)
    assert "image_name" not in wizard.fields() and "instance_id" in wizard.fields()
    assert "automatic snapshots" in wizard.text()
    instances = wizard.options("instance_id", "linux")
    assert [o["value"] for o in instances.data["options"]] == [TARGET_LINUX]
    wizard.choose("instance_id", TARGET_LINUX, query="linux")
    wizard.submit()

    wizard.choose("network_type", "2")
    vpcs = wizard.options("vpc_id")
    assert TARGET_VPC in [o["value"] for o in vpcs.data["options"]]
    wizard.choose("vpc_id", TARGET_VPC)
    vswitches = wizard.options("vswitch_id")
    assert [o["value"] for o in vswitches.data["options"]] == [TARGET_VSWITCH, "vsw-bp1q7ua8sqpxzx5bpdwl"]
    wizard.choose("private_ip_mode", "manual")
    assert "10.10.1.1 to 10.10.1.252" in wizard.text()

    refused = wizard.submit(
        {"vswitch_id": TARGET_VSWITCH, "private_ip": "10.99.0.5", "data_disk_size.1": "30"}
    )
    errors = errors_by_key(refused)
    assert set(errors) == {"private_ip", "data_disk_size.1"}
    assert (
        "outside 10.10.1.0/24" in errors["private_ip"] and "10.10.1.1 to 10.10.1.252" in errors["private_ip"]
    )
    assert (
        "38.5 GiB used" in errors["data_disk_size.1"]
        and "between 39 and 200 GiB" in errors["data_disk_size.1"]
    )
    assert stored_requests(bot) == []

    accepted = wizard.submit({"private_ip": "10.10.1.50", "data_disk_size.1": "100"})
    assert accepted.data["response_action"] == "update" and "job_name" in wizard.fields()
    assert "instance_type" not in wizard.fields()
    wizard.submit()
    [request] = stored_requests(bot)
    params = MigrationParams.from_canonical(json.dumps(request.params))
    assert (params.instance_id, params.vpc_id, params.vswitch_id) == (
        TARGET_LINUX,
        TARGET_VPC,
        TARGET_VSWITCH,
    )
    assert params.private_ip == "10.10.1.50"
    assert request.state is RequestState.AWAITING_APPROVAL


def test_a_start_time_too_soon_is_refused_on_the_schedule_field(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.choose("migration_test", "off")
    assert "Migrate Later" in wizard.text() and "Test and Migrate" not in wizard.text()
    wizard.choose("execution_method", "migrate_later")
    soon = datetime.now(UTC) + timedelta(minutes=5)
    errors = errors_by_key(wizard.submit({"scheduled_start": soon}))
    assert list(errors) == ["scheduled_start"]
    assert "at least 10 minutes and at most 30 days" in errors["scheduled_start"]

    later = datetime.now(UTC) + timedelta(days=2)
    assert wizard.submit({"scheduled_start": later}).data["response_action"] == "update"


def test_lvm_on_a_windows_source_is_refused_on_that_disk(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WINDOWS}")
    wizard.choose("region", HANGZHOU)
    wizard.submit()
    assert BlockId.MIGRATE_PARTITION_LAYOUT.value not in wizard.fields()  # Windows: block replication only
    errors = errors_by_key(wizard.submit({"system_disk_lvm": [LVM], "data_disk_lvm.1": [LVM]}))
    assert set(errors) == {"system_disk_lvm", "data_disk_lvm.1"}
    assert "not available for Windows sources: turn it off" in errors["system_disk_lvm"]


def test_a_source_with_an_unfinished_job_is_refused_on_the_source_field(bot: BotUnderTest) -> None:
    smc = bot.services.cloud.destination()
    job_id = smc.create_replication_job(
        {
            "RegionId": HANGZHOU,
            "SourceId": WEB,
            "TargetType": "Image",
            "ImageName": "earlier-web",
            "JobType": 0,
            "SystemDiskSize": 40,
        }
    )
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    errors = errors_by_key(wizard.submit())
    assert list(errors) == ["source_id"]
    assert job_id in errors["source_id"] and "one unfinished job per source" in errors["source_id"]


def test_an_unknown_source_or_a_malformed_id_is_explained_in_the_modal(bot: BotUnderTest) -> None:
    unknown = WizardUser(bot)
    assert unknown.open("migrate s-bp1doesnotexist00").acked_in_time
    assert "is not a source server of the destination account" in unknown.text()
    assert not unknown.view.state_values["source_id"]["migrate_field"]["selected_option"]

    malformed = WizardUser(bot)
    malformed.open("migrate web-prod-02")
    assert "is not a source server id; they look like s-" in malformed.text()


def test_without_cached_facts_a_submission_shows_checking_then_the_next_page(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    bot.services.catalog.forget()
    result = bot.driver.submit_view(REQUESTER, wizard.view_id, {})
    assert result.acked_in_time and not result.problems
    assert result.data["response_action"] == "update" and "Checking your choices" in json.dumps(result.data)
    bot.wait_for_background()
    assert "system_disk_size" in wizard.fields()


def test_a_refused_submission_refreshes_only_facts_past_their_ttl_after_the_ack(bot: BotUnderTest) -> None:
    now = [0.0]
    bot.services.catalog = Catalog(bot.services.cloud, clock=lambda: now[0])
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.submit()
    too_small = {"data_disk_size.1": 25}

    bot.cloud.reset_calls()
    assert "data_disk_size.1" in errors_by_key(wizard.submit(too_small))
    assert bot.services.catalog.drain(10) and bot.cloud.calls() == []  # all fresh: nothing asked

    now[0] += 61  # past the TTL, within the maximum age: the facts still answer the submission at once
    assert "data_disk_size.1" in errors_by_key(wizard.submit(too_small))
    assert bot.services.catalog.drain(10)
    assert {c.action for c in bot.cloud.calls()} >= {"DescribeRegions", "DescribeSourceServers"}


def test_back_keeps_what_the_page_held(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.submit()
    wizard.fill({"data_disk_size.1": "150"})
    wizard.back()
    assert "source_id" in wizard.fields()
    wizard.submit()
    assert wizard.view.state_values[wizard.block("data_disk_size.1")]["migrate_field"]["value"] == "150"


def test_modify_disk_partitions_adds_a_page_and_sends_the_layout(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.submit()
    wizard.choose(BlockId.MIGRATE_PARTITION_LAYOUT.value, [LAYOUT_ON])
    assert "Step 2 of 4" in wizard.text()
    wizard.submit()
    assert "partition_size.0.1" in wizard.fields() and "partition_size.1.1" in wizard.fields()
    # /data (1_0) resized while block-replicated: refused, with what to do.
    errors = errors_by_key(wizard.submit({"partition_size.1.1": "90"}))
    assert "turn block" in errors["partition_size.1.1"]
    wizard.submit({"partition_block.1.1": [], "partition_size.1.1": "90"})
    assert "job_name" in wizard.fields()
    wizard.submit()
    [request] = stored_requests(bot)
    params = MigrationParams.from_canonical(json.dumps(request.params))
    [data] = params.data_disks
    assert [(p.device, p.block, p.size_bytes) for p in data.partitions] == [("1_0", False, 90 * 1024**3)]
    assert [p.device for p in params.system_disk.partitions] == ["0_0", "0_1"]
    request_map = create_replication_job_request(params, client_token=request.id)
    assert request_map["DataDisk"][0]["Part"] == [
        {"Block": False, "Device": "1_0", "SizeBytes": 90 * 1024**3}
    ]


def test_a_test_only_image_migration_needs_no_approval_and_queues_its_execution(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.choose("execution_method", "test_only")
    wizard.submit()
    wizard.submit()
    wizard.submit()
    [request] = stored_requests(bot)
    assert request.state is RequestState.APPROVED and request.pending_action is None
    with bot.services.db.unit_of_work() as session:
        work = repo.get_outbox(session, f"work:{request.id}:1:execute")
        assert work is not None and work.kind is OutboxKind.WORK
        assert {k: work.payload[k] for k in ("task", "request_id", "round")} == {
            "task": "execute",
            "request_id": request.id,
            "round": 1,
        }


def test_a_template_fills_in_its_values(bot: BotUnderTest) -> None:
    from storage.models import ParamTemplate

    with bot.services.db.unit_of_work() as session:
        repo.save_template(
            session,
            ParamTemplate(
                team_id=bot.slack.team_id,
                name="vpc-hangzhou",
                created_by=REQUESTER,
                params={
                    "region_id": HANGZHOU,
                    "speed_limit_mbps": 200,
                    "incremental": True,
                    "sync_interval_hours": 12,
                    "max_reserved_images": 3,
                    "system_disk": {"size_gib": 999},
                },
            ),
        )
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("template_name", "vpc-hangzhou")
    assert "sync_interval_hours" in wizard.fields()
    assert wizard.view.state_values[wizard.block("sync_interval_hours")]["migrate_field"]["value"] == "12"
    wizard.submit()
    assert wizard.view.state_values[wizard.block("system_disk_size")]["migrate_field"]["value"] == "40"
    wizard.submit()
    assert wizard.view.state_values[wizard.block("speed_limit_mbps")]["migrate_field"]["value"] == "200"
    wizard.submit()
    [request] = stored_requests(bot)
    params = MigrationParams.from_canonical(json.dumps(request.params))
    assert params.template_name == "vpc-hangzhou" and params.incremental and params.region_id == HANGZHOU


def test_incremental_sync_asks_for_its_interval_and_images(bot: BotUnderTest) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    wizard.choose("incremental", [ON])
    empty = wizard.submit()
    assert not empty.sent  # required inputs: Slack's client does not send the form
    assert set(empty.client_errors) == {
        wizard.block("sync_interval_hours"),
        wizard.block("max_reserved_images"),
    }
    wizard.submit({"sync_interval_hours": "12", "max_reserved_images": "3"})
    wizard.submit()
    wizard.submit()
    [request] = stored_requests(bot)
    params = MigrationParams.from_canonical(json.dumps(request.params))
    assert (params.incremental, params.sync_interval_hours, params.max_reserved_images) == (True, 12, 3)
    assert create_replication_job_request(params, client_token=request.id)["RunOnce"] is False


def test_edit_from_the_summary_reopens_the_wizard_filled_in_and_opens_the_next_round(
    bot: BotUnderTest,
) -> None:
    wizard = WizardUser(bot)
    wizard.open(f"migrate {WEB}")
    wizard.choose("region", HANGZHOU)
    for _ in ("to disks", "to details", "submit"):
        wizard.submit()
    bot.settle()
    [before] = stored_requests(bot)
    [summary] = bot.slack.channel_messages(MIGRATIONS_CHANNEL)

    clicked = bot.driver.block_action(REQUESTER, "request_edit", before.id, message=summary)
    assert clicked.acked_in_time and not clicked.problems
    bot.wait_for_background()
    editing = bot.slack.open_view(REQUESTER)
    assert editing is not None and editing.title == f"Edit {before.id}"
    wizard.view_id = editing.id
    assert "web-prod-02" in wizard.text()
    wizard.submit()
    wizard.submit()
    assert (
        wizard.view.state_values[wizard.block("compression_level")]["migrate_field"]["selected_option"][
            "value"
        ]
        == "7"
    )
    saved = wizard.submit({"speed_limit_mbps": "40"})
    assert saved.acked_in_time and wizard.view.callback_id == "migrate_done"
    [after] = stored_requests(bot)
    assert after.id == before.id and after.params_hash != before.params_hash
    assert after.approval_round == before.approval_round + 1
    assert MigrationParams.from_canonical(json.dumps(after.params)).speed_limit_mbps == 40
