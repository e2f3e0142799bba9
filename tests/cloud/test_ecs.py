"""ECS and Cloud Assistant through the adapters, in the source account (AssumeRole) and the destination."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.cloud.aliyun import AliyunDestinationCloud, AliyunSourceCloud
from bot.cloud.ports import (
    CloudError,
    CommandType,
    ImageOwner,
    InstanceFilter,
    InvocationStatus,
    OsType,
)
from sandbox.cloud import CloudSimulator
from sandbox.cloud.world import SecurityGroup
from tests.cloud.conftest import DEST_ACCOUNT, OTHER_REGION, REGION

WEB_01 = "i-bp1g89ubw2sb4krcndqk"
WIN_AD = "i-bp1ggcjqfmks5f7yshlv"
LEGACY_NO_AGENT = "i-bp1c21ktgy6gvh9dqpx2"
TARGET_LINUX = "i-bp14kzy194uiygtm79ma"
TARGET_VPC = "vpc-bp1e4rhn51r4wgor8b81"
TARGET_VSW_H = "vsw-bp1yg0cajhfcobh1gcyd"
TARGET_SG = "sg-bp1vhe0ke7fvmnc1lsry"
CENTOS_IMAGE = "centos_7_9_x64_20G_alibase_20240628.vhd"


def test_regions_and_zones_are_listed(source: AliyunSourceCloud) -> None:
    assert [r.id for r in source.list_regions()] == [REGION, OTHER_REGION]
    assert [z.id for z in source.list_zones(REGION)] == ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"]


def test_instances_carry_what_the_import_modal_shows(source: AliyunSourceCloud) -> None:
    by_id = {i.id: i for i in source.list_instances(REGION).items}

    web = by_id[WEB_01]
    assert (web.name, web.zone, web.private_ip, web.os_type) == (
        "web-prod-01",
        "cn-hangzhou-h",
        "172.16.10.11",
        OsType.LINUX,
    )
    assert web.vpc_id == "vpc-bp150rx808y64emd0az3"
    assert web.vswitch_id == "vsw-bp1hn4ikgk309068j0i0"
    assert web.instance_type == "ecs.g6.large"
    assert by_id[WIN_AD].os_type is OsType.WINDOWS


def test_instance_listing_pages_past_100(source: AliyunSourceCloud, sim: CloudSimulator) -> None:
    first = source.list_instances(OTHER_REGION)
    second = source.list_instances(OTHER_REGION, next_token=first.next_token)

    assert len(first.items) == 100
    assert first.total == 130
    assert first.next_token
    assert len(second.items) == 30
    assert second.next_token is None
    assert len({i.id for i in first.items + second.items}) == 130
    assert [c.params.get("MaxResults") for c in sim.calls("DescribeInstances")] == ["100", "100"]


def test_describe_instances_chunks_ids_by_100(source: AliyunSourceCloud, sim: CloudSimulator) -> None:
    everything = source.list_instances(OTHER_REGION)
    everything_else = source.list_instances(OTHER_REGION, next_token=everything.next_token)
    ids = [i.id for i in everything.items + everything_else.items][:120]
    sim.reset_calls()

    found = source.describe_instances(OTHER_REGION, [*ids, "i-doesnotexist000001"])

    assert sorted(i.id for i in found) == sorted(ids)
    sent = [json.loads(c.params["InstanceIds"]) for c in sim.calls("DescribeInstances")]
    assert [len(batch) for batch in sent] == [100, 21]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web-prod", {"i-bp1g89ubw2sb4krcndqk", "i-bp1a6ipvadtfx3gtiw58"}),
        ("172.16.20.41", {WIN_AD}),
        (WIN_AD, {WIN_AD}),
    ],
)
def test_instances_are_searchable_by_name_ip_or_id(
    source: AliyunSourceCloud, text: str, expected: set[str]
) -> None:
    found = source.list_instances(REGION, InstanceFilter.from_search_text(text)).items
    assert {i.id for i in found} == expected


def test_more_than_100_ids_in_one_page_is_a_caller_bug(source: AliyunSourceCloud) -> None:
    with pytest.raises(ValueError, match="describe_instances"):
        source.list_instances(REGION, InstanceFilter(instance_ids=tuple(f"i-{n:020d}" for n in range(101))))


def test_network_listings_give_cidrs_and_free_addresses(dest: AliyunDestinationCloud) -> None:
    vpcs = {v.id: v for v in dest.list_vpcs(REGION)}
    vswitches = {v.id: v for v in dest.list_vswitches(REGION, vpc_id=TARGET_VPC)}

    assert vpcs[TARGET_VPC].cidr == "10.10.0.0/16"
    assert set(vswitches) == {TARGET_VSW_H, "vsw-bp1q7ua8sqpxzx5bpdwl"}
    vsw = vswitches[TARGET_VSW_H]
    assert (vsw.vpc_id, vsw.zone, vsw.cidr) == (TARGET_VPC, "cn-hangzhou-h", "10.10.1.0/24")
    assert 0 < vsw.available_ips < 256
    assert vsw.contains("10.10.1.20")
    assert [v.id for v in dest.list_vswitches(REGION, zone_id="cn-hangzhou-j")] == [
        "vsw-bp1t3uoaqdj4w089v99h"
    ]


def test_images_instance_types_and_disks_are_listed(dest: AliyunDestinationCloud) -> None:
    public = dest.list_images(REGION, owner=ImageOwner.SYSTEM)
    own = dest.list_images(REGION)
    types = {t.id: t for t in dest.list_instance_types(REGION)}
    disks = dest.list_instance_disks(REGION, TARGET_LINUX)

    assert CENTOS_IMAGE in {i.id for i in public.items}
    assert public.total == len(public.items)
    assert own.items == ()
    assert types["ecs.g6.large"].cpu_cores == 2
    assert types["ecs.g6.large"].memory_gib == 8
    assert [t.id for t in dest.list_instance_types(REGION, family="ecs.c6")] == [
        "ecs.c6.large",
        "ecs.c6.xlarge",
    ]
    assert [(d.type, d.size_gib) for d in disks] == [("system", 60), ("data", 200)]


def test_cloud_assistant_status_tells_online_from_offline(
    source: AliyunSourceCloud, sim: CloudSimulator
) -> None:
    sim.faults.set_agent_offline(WIN_AD)
    status = {
        s.instance_id: s for s in source.cloud_assistant_status(REGION, [WEB_01, WIN_AD, LEGACY_NO_AGENT])
    }

    assert status[WEB_01].online
    assert not status[WIN_AD].online
    assert not status[LEGACY_NO_AGENT].online


def test_run_command_passes_parameters_and_reports_decoded_output(
    source: AliyunSourceCloud, sim: CloudSimulator
) -> None:
    invoke_id = source.run_command(
        REGION,
        [WEB_01],
        script="echo hello {{greeting}}",
        command_type=CommandType.SHELL,
        parameters={"greeting": "world"},
    )
    pending = source.describe_invocation(REGION, invoke_id)
    sim.advance(120)
    done = source.describe_invocation(REGION, invoke_id)

    sent = sim.calls("RunCommand")[0].params
    assert sent["CommandContent"] == "echo hello {{greeting}}"
    assert sent["EnableParameter"] == "True"
    assert json.loads(sent["Parameters"]) == {"greeting": "***"}  # the simulator's log redacts values
    assert not pending.status.finished
    assert done.status is InvocationStatus.SUCCESS
    item = done.for_instance(WEB_01)
    assert item is not None
    assert item.status is InvocationStatus.SUCCESS
    assert item.exit_code == 0
    assert "web-prod-01" in item.output  # decoded: Base64 would not contain it


def test_a_failing_command_reports_exit_code_and_output(
    source: AliyunSourceCloud, sim: CloudSimulator
) -> None:
    sim.faults.fail_command(WEB_01, exit_code=3, output="rsync: not found\n")
    invoke_id = source.run_command(
        REGION, [WEB_01], script="install-smc", command_type=CommandType.SHELL, parameters={}
    )
    sim.advance(120)

    item = source.describe_invocation(REGION, invoke_id).for_instance(WEB_01)

    assert item is not None
    assert item.status is InvocationStatus.FAILED
    assert item.exit_code == 3
    assert item.output == "rsync: not found\n"
    assert item.error_code == "ExitCodeNonzero"


def test_unknown_invocation_is_not_found(source: AliyunSourceCloud) -> None:
    with pytest.raises(CloudError) as caught:
        source.describe_invocation(REGION, "t-doesnotexist")
    assert caught.value.is_not_found


def test_verify_launches_describes_and_deletes_an_instance(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    launched = dest.run_instances(
        REGION,
        {
            "ImageId": CENTOS_IMAGE,
            "InstanceType": "ecs.g6.large",
            "VSwitchId": TARGET_VSW_H,
            "SecurityGroupId": TARGET_SG,
            "InstanceName": "smc-verify-1",
            "ClientToken": "verify-request-1",
        },
    )
    sim.advance(120)
    [described] = dest.describe_instances(REGION, launched)
    dest.delete_instance(REGION, described.id)

    assert described.name == "smc-verify-1"
    assert described.status == "Running"
    assert described.vswitch_id == TARGET_VSW_H
    assert dest.describe_instances(REGION, launched) == []


def test_a_misspelt_request_field_is_refused_before_sending(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    with pytest.raises(ValueError, match="ImageID"):
        dest.run_instances(REGION, {"ImageID": CENTOS_IMAGE, "InstanceType": "ecs.g6.large"})
    assert sim.calls("RunInstances") == []


def test_security_groups_of_a_vpc_are_listed(dest: AliyunDestinationCloud) -> None:
    [group] = dest.list_security_groups(REGION, vpc_id=TARGET_VPC)
    assert (group.id, group.name, group.vpc_id, group.type) == (
        TARGET_SG,
        "smc-target-sg",
        TARGET_VPC,
        "normal",
    )
    assert group.description == "Migration targets"
    assert [g.id for g in dest.list_security_groups(REGION, vpc_id="vpc-bp1t1w4et6dswh5wx8uw")] == [
        "sg-bp12almnd77k1pvxw260"
    ]


def test_security_group_listing_follows_every_page(dest: AliyunDestinationCloud, sim: CloudSimulator) -> None:
    with sim.lock:
        world = sim.world
        for n in range(120):
            group_id = f"sg-bp1paged{n:03d}"
            world.security_groups[group_id] = SecurityGroup(
                group_id=group_id,
                account_uid=DEST_ACCOUNT,
                region_id=REGION,
                vpc_id=TARGET_VPC,
                name=f"paged-{n:03d}",
                created=world.security_groups[TARGET_SG].created + timedelta(minutes=n + 1),
            )
    sim.reset_calls()

    groups = dest.list_security_groups(REGION, vpc_id=TARGET_VPC)

    assert [g.id for g in groups] == [TARGET_SG, *(f"sg-bp1paged{n:03d}" for n in range(120))]
    assert len(sim.calls("DescribeSecurityGroups")) == 2


def test_run_instances_without_a_security_group_is_refused_like_ecs(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    with pytest.raises(CloudError) as caught:
        dest.run_instances(
            REGION, {"ImageId": CENTOS_IMAGE, "InstanceType": "ecs.g6.large", "VSwitchId": TARGET_VSW_H}
        )
    assert caught.value.code == "MissingParameter"
    assert "SecurityGroupId" in caught.value.message
    assert [c.code for c in sim.calls("RunInstances")] == ["MissingParameter"]


def test_run_instances_with_a_security_group_of_another_vpc_is_refused(dest: AliyunDestinationCloud) -> None:
    with pytest.raises(CloudError) as caught:
        dest.run_instances(
            REGION,
            {
                "ImageId": CENTOS_IMAGE,
                "InstanceType": "ecs.g6.large",
                "VSwitchId": TARGET_VSW_H,
                "SecurityGroupId": "sg-bp12almnd77k1pvxw260",
            },
        )
    assert caught.value.code == "InvalidParameter.Mismatch"
