"""ECS through the real SDK: regions, paged instance lists, network, images, disks, launch and release."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alibabacloud_ecs20140526 import models as ecs_models

from sandbox.cloud import CloudSimulator
from tests.sandbox.test_cloud_support import (
    PROD_VSWITCH,
    SOURCE,
    TARGET_SG,
    TARGET_VPC,
    TARGET_VSWITCH,
    WEB_PROD_01,
    describe_instances,
    ecs,
    error_of,
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator() as simulator:
        yield simulator


def test_regions_and_zones(sim: CloudSimulator) -> None:
    client = ecs(sim)
    regions = client.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    assert {region.region_id: region.local_name for region in regions} == {
        "cn-hangzhou": "China (Hangzhou)",
        "cn-shanghai": "China (Shanghai)",
    }
    zones = client.describe_zones(ecs_models.DescribeZonesRequest(region_id="cn-shanghai")).body.zones.zone
    assert [zone.zone_id for zone in zones] == ["cn-shanghai-e", "cn-shanghai-f", "cn-shanghai-g"]
    assert "ecs.g6.large" in zones[0].available_instance_types.instance_types


def test_unknown_region_is_refused(sim: CloudSimulator) -> None:
    error = error_of(lambda: describe_instances(ecs(sim), region_id="mars-north-1"))
    assert error.code == "InvalidRegionId.NotFound"


def test_instance_lists_page_past_one_hundred_with_next_token(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    first = describe_instances(client, region_id="cn-shanghai", max_results=100)
    assert len(first.instances.instance) == 100
    assert first.next_token
    second = describe_instances(client, region_id="cn-shanghai", max_results=100, next_token=first.next_token)
    assert len(second.instances.instance) == 30
    assert second.next_token == ""
    names = {item.instance_name for item in [*first.instances.instance, *second.instances.instance]}
    assert names == {f"batch-sh-{n:03d}" for n in range(1, 131)}


def test_instance_lists_page_by_number(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    page = describe_instances(client, region_id="cn-shanghai", page_number=2, page_size=100)
    assert (page.total_count, page.page_number, page.page_size, len(page.instances.instance)) == (
        130,
        2,
        100,
        30,
    )


def test_page_sizes_above_one_hundred_are_refused(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    assert error_of(lambda: describe_instances(client, max_results=101)).status_code == 400
    assert error_of(lambda: describe_instances(client, page_size=101)).status_code == 400


def test_tampered_next_token_is_refused(sim: CloudSimulator) -> None:
    error = error_of(lambda: describe_instances(ecs(sim, SOURCE), next_token="0000000aabcdef12"))
    assert error.code == "InvalidParameter.NextToken"


def test_instance_ids_filter_takes_a_json_array_of_at_most_one_hundred(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    body = describe_instances(client, instance_ids=json.dumps([WEB_PROD_01]))
    assert [item.instance_id for item in body.instances.instance] == [WEB_PROD_01]
    too_many = json.dumps([f"i-bp1{n:017d}" for n in range(101)])
    assert (
        error_of(lambda: describe_instances(client, instance_ids=too_many)).code
        == "InvalidInstanceIds.Malformed"
    )


def test_instances_are_searchable_by_wildcard_name_and_private_ip(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    by_name = describe_instances(client, instance_name="*prod*")
    assert {item.instance_name for item in by_name.instances.instance} == {"web-prod-01", "web-prod-02"}
    by_ip = describe_instances(client, private_ip_addresses=json.dumps(["172.16.20.41"]))
    [windows] = by_ip.instances.instance
    assert windows.instance_name == "win-ad-01"
    assert windows.ostype == "windows"
    assert windows.vpc_attributes.private_ip_address.ip_address == ["172.16.20.41"]


def test_instance_details_follow_the_metadata_nesting(sim: CloudSimulator) -> None:
    [instance] = describe_instances(
        ecs(sim, SOURCE), instance_ids=json.dumps([WEB_PROD_01])
    ).instances.instance
    assert instance.status == "Running"
    assert instance.osname_en == "CentOS  7.9 64 bit"
    assert instance.instance_type == "ecs.g6.large"
    assert (instance.cpu, instance.memory) == (2, 8192)
    assert instance.vpc_attributes.v_switch_id == "vsw-bp1hn4ikgk309068j0i0"
    assert instance.network_interfaces.network_interface[0].primary_ip_address == "172.16.10.11"
    assert {tag.tag_key: tag.tag_value for tag in instance.tags.tag} == {"app": "web", "env": "prod"}


def test_vpc_filter(sim: CloudSimulator) -> None:
    body = describe_instances(ecs(sim), vpc_id=TARGET_VPC)
    assert body.total_count == 2
    assert describe_instances(ecs(sim), vpc_id="vpc-bp1nothere0000000000").total_count == 0


def test_vpcs_and_vswitches_with_free_addresses(sim: CloudSimulator) -> None:
    client = ecs(sim)
    vpcs = client.describe_vpcs(ecs_models.DescribeVpcsRequest(region_id="cn-hangzhou")).body.vpcs.vpc
    assert {vpc.vpc_name: vpc.cidr_block for vpc in vpcs} == {
        "smc-target-vpc": "10.10.0.0/16",
        "prod-vpc": "10.20.0.0/16",
    }
    request = ecs_models.DescribeVSwitchesRequest(region_id="cn-hangzhou", vpc_id=TARGET_VPC)
    switches = client.describe_vswitches(request).body.v_switches.v_switch
    free = {switch.v_switch_id: switch.available_ip_address_count for switch in switches}
    assert free == {TARGET_VSWITCH: 252 - 2 - 40, "vsw-bp1q7ua8sqpxzx5bpdwl": 252}
    request = ecs_models.DescribeVSwitchesRequest(region_id="cn-hangzhou", v_switch_id=PROD_VSWITCH)
    [small] = client.describe_vswitches(request).body.v_switches.v_switch
    assert (small.cidr_block, small.available_ip_address_count, small.zone_id) == (
        "10.20.1.0/28",
        12,
        "cn-hangzhou-j",
    )


def test_vpc_and_vswitch_pages_are_at_most_fifty(sim: CloudSimulator) -> None:
    client = ecs(sim)
    assert (
        error_of(
            lambda: client.describe_vpcs(
                ecs_models.DescribeVpcsRequest(region_id="cn-hangzhou", page_size=51)
            )
        ).code
        == "InvalidParameter.PageSize"
    )
    assert (
        error_of(
            lambda: client.describe_vswitches(
                ecs_models.DescribeVSwitchesRequest(region_id="cn-hangzhou", page_size=51)
            )
        ).code
        == "InvalidParameter.PageSize"
    )


def test_public_images_disks_and_instance_types(sim: CloudSimulator) -> None:
    client = ecs(sim, SOURCE)
    request = ecs_models.DescribeImagesRequest(
        region_id="cn-shanghai", image_owner_alias="system", ostype="windows"
    )
    images = client.describe_images(request).body.images.image
    assert {image.image_id for image in images} == {
        "win2019_1809_x64_dtc_en-us_40G_alibase_20240711.vhd",
        "win2022_21H2_x64_dtc_en-us_40G_alibase_20240716.vhd",
    }
    disks = client.describe_disks(
        ecs_models.DescribeDisksRequest(region_id="cn-hangzhou", instance_id=WEB_PROD_01)
    ).body.disks.disk
    assert [(disk.type, disk.size, disk.device) for disk in disks] == [
        ("system", 40, "/dev/xvda"),
        ("data", 100, "/dev/xvdb"),
    ]
    types = client.describe_instance_types(
        ecs_models.DescribeInstanceTypesRequest(instance_type_family="ecs.g6")
    ).body.instance_types.instance_type
    assert {(item.instance_type_id, item.cpu_core_count, item.memory_size) for item in types} == {
        ("ecs.g6.large", 2, 8.0),
        ("ecs.g6.xlarge", 4, 16.0),
    }


def test_launched_instance_boots_and_its_agent_comes_online_then_it_is_released(sim: CloudSimulator) -> None:
    client = ecs(sim)
    request = ecs_models.RunInstancesRequest(
        region_id="cn-hangzhou",
        image_id="aliyun_3_x64_20G_alibase_20240819.vhd",
        instance_type="ecs.g6.large",
        v_switch_id=TARGET_VSWITCH,
        security_group_id=TARGET_SG,
        instance_name="verify-web-prod-02",
        system_disk=ecs_models.RunInstancesRequestSystemDisk(size="40", category="cloud_essd"),
    )
    [instance_id] = client.run_instances(request).body.instance_id_sets.instance_id_set
    [launched] = describe_instances(client, instance_ids=json.dumps([instance_id])).instances.instance
    assert launched.status in ("Pending", "Starting")
    assert launched.vpc_attributes.private_ip_address.ip_address[0].startswith("10.10.1.")
    status_request = ecs_models.DescribeCloudAssistantStatusRequest(
        region_id="cn-hangzhou", instance_id=[instance_id]
    )
    statuses = client.describe_cloud_assistant_status(status_request).body
    assert (
        statuses.instance_cloud_assistant_status_set.instance_cloud_assistant_status[0].cloud_assistant_status
        == "false"
    )
    sim.clock.advance(120)
    [running] = describe_instances(client, instance_ids=json.dumps([instance_id])).instances.instance
    assert running.status == "Running"
    statuses = client.describe_cloud_assistant_status(status_request).body
    assert (
        statuses.instance_cloud_assistant_status_set.instance_cloud_assistant_status[0].cloud_assistant_status
        == "true"
    )
    delete = ecs_models.DeleteInstanceRequest(instance_id=instance_id)
    assert error_of(lambda: client.delete_instance(delete)).code == "IncorrectInstanceStatus"
    client.delete_instance(ecs_models.DeleteInstanceRequest(instance_id=instance_id, force=True))
    assert describe_instances(client, instance_ids=json.dumps([instance_id])).total_count == 0


def test_launch_from_an_unknown_image_is_refused(sim: CloudSimulator) -> None:
    request = ecs_models.RunInstancesRequest(
        region_id="cn-hangzhou",
        image_id="m-bp1doesnotexist0000",
        instance_type="ecs.g6.large",
        v_switch_id=TARGET_VSWITCH,
    )
    assert error_of(lambda: ecs(sim).run_instances(request)).code == "InvalidImageId.NotFound"
