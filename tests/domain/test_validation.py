"""Every rule of PRODUCT §3.2, checked against the facts the bot looked up, with helpful messages."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import FieldError, InvalidParams
from bot.domain.params import (
    GIB,
    DataDisk,
    Field,
    LicenseType,
    MigrationParams,
    NetworkType,
    OsType,
    Partition,
    PrivateIpMode,
    SystemDisk,
    Tag,
)
from bot.domain.validation import (
    DiskFacts,
    InstanceFacts,
    PartitionFacts,
    SourceFacts,
    UnfinishedJob,
    ValidationContext,
    VpcFacts,
    VSwitchFacts,
    usable_range,
    validate,
    validate_or_raise,
    validate_static,
)
from storage.enums import ExecutionMethod, TargetType

NOW = datetime(2030, 3, 1, 12, 0, 0, tzinfo=UTC)

SYSTEM = DiskFacts(
    index=0,
    size_gib=40,
    used_gib=12.5,
    partitions=(
        PartitionFacts(device="0_0", path="/boot", size_bytes=GIB, used_bytes=GIB // 4, can_block=True),
        PartitionFacts(device="0_1", path="/", size_bytes=39 * GIB, used_bytes=12 * GIB, can_block=True),
    ),
)
DATA_1 = DiskFacts(
    index=1,
    size_gib=100,
    used_gib=37,
    partitions=(
        PartitionFacts(device="1_0", path="/data", size_bytes=60 * GIB, used_bytes=30 * GIB, can_block=False),
        PartitionFacts(device="1_1", path="/logs", size_bytes=40 * GIB, used_bytes=7 * GIB, can_block=True),
    ),
)
DATA_2 = DiskFacts(index=2, size_gib=500, used_gib=100)
LINUX = SourceFacts(
    source_id="s-bp1e2fsl57knvuug",
    os_type=OsType.LINUX,
    has_boot_partition=True,
    system_disk=SYSTEM,
    data_disks=(DATA_1, DATA_2),
)
VSW_A = VSwitchFacts(vswitch_id="vsw-a", cidr="192.168.1.0/24", free_ips=200, zone_id="cn-hangzhou-h")
VSW_B = VSwitchFacts(vswitch_id="vsw-b", cidr="192.168.2.0/24", free_ips=0, zone_id="cn-hangzhou-i")
VPC = VpcFacts(vpc_id="vpc-1", cidr="192.168.0.0/16", vswitches=(VSW_A, VSW_B))
INSTANCE = InstanceFacts(
    instance_id="i-bp1target",
    region_id="cn-hangzhou",
    os_type=OsType.LINUX,
    system_disk_gib=40,
    data_disk_gib=(200,),
    vswitch=VSW_A,
)


def context(**changes: Any) -> ValidationContext:
    values: dict[str, Any] = {
        "now": NOW,
        "source": LINUX,
        "regions": ("cn-hangzhou", "cn-beijing"),
        "vpcs": (VPC,),
        "target_instance": INSTANCE,
        "job_names": frozenset({"nightly"}),
        "image_names": frozenset({"taken-image"}),
    }
    values.update(changes)
    return ValidationContext(**values)


def params(**changes: Any) -> MigrationParams:
    values: dict[str, Any] = {
        "source_id": "s-bp1e2fsl57knvuug",
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod",
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=200)),
    }
    values.update(changes)
    return MigrationParams(**values)


def instance_params(**changes: Any) -> MigrationParams:
    base: dict[str, Any] = {
        "target_type": TargetType.TARGET_INSTANCE,
        "image_name": None,
        "instance_id": "i-bp1target",
        "data_disks": (DataDisk(index=1, size_gib=100), DataDisk(index=2, skip=True)),
    }
    return params(**{**base, **changes})


def errors_of(p: MigrationParams, ctx: ValidationContext | None = None) -> dict[str, str]:
    """Field key -> messages, as the Slack modal would show them."""
    found = validate(p, ctx or context())
    return InvalidParams(found).by_key() if found else {}


def only_error(p: MigrationParams, ctx: ValidationContext | None = None) -> tuple[str, str]:
    found = errors_of(p, ctx)
    assert len(found) == 1, found
    return next(iter(found.items()))


def test_complete_image_parameters_are_valid() -> None:
    assert validate(params(), context()) == []


def test_complete_instance_parameters_are_valid() -> None:
    assert validate(instance_params(), context()) == []


def test_validate_or_raise_raises_invalid_params_with_the_field_errors() -> None:
    with pytest.raises(InvalidParams) as raised:
        validate_or_raise(params(compression_level=11), context())
    assert raised.value.errors == (
        FieldError(Field.COMPRESSION, "Enter a compression level between 0 (none) and 10; 7 is the default."),
    )
    validate_or_raise(params(), context())


def test_context_free_rules_need_no_facts() -> None:
    assert validate_static(params(source_id="s-unknownbutwellformed")) == []
    assert [e.key for e in validate_static(params(speed_limit_mbps=-1))] == ["speed_limit_mbps"]


def test_a_context_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        context(now=datetime(2030, 1, 1))


# -- source ---------------------------------------------------------------------------------


def test_a_malformed_source_id_is_refused() -> None:
    found = errors_of(params(source_id="server-1"), context(source=None))
    assert "s-bp1e2fsl57knvuug" in found["source_id"]


def test_an_unknown_source_points_to_import() -> None:
    key, message = only_error(params(), context(source=None))
    assert key == "source_id"
    assert "/smc import" in message


def test_a_source_that_is_not_online_is_refused() -> None:
    key, message = only_error(params(), context(source=replace(LINUX, state="Unavailable")))
    assert key == "source_id"
    assert "Unavailable" in message


def test_a_source_in_use_by_an_unlisted_job_is_refused() -> None:
    key, message = only_error(params(), context(source=replace(LINUX, state="InUse")))
    assert key == "source_id"
    assert "one unfinished job per source" in message


def test_one_unfinished_job_per_source() -> None:
    ctx = context(
        source=replace(LINUX, state="InUse"), unfinished_job=UnfinishedJob("j-bp17bclvg344", "InError")
    )
    key, message = only_error(params(), ctx)
    assert key == "source_id"
    assert "j-bp17bclvg344" in message
    assert "InError" in message
    assert "cancel" in message


# -- destination ----------------------------------------------------------------------------


def test_region_must_be_one_the_account_offers() -> None:
    key, message = only_error(params(region_id="mars-1"))
    assert key == "region"
    assert "mars-1" in message


def test_a_blank_region_asks_for_one() -> None:
    assert errors_of(params(region_id=" "))["region"] == "Choose a destination region."


def test_image_target_needs_an_image_name() -> None:
    key, message = only_error(params(image_name=None))
    assert (key, message) == ("image_name", "Enter an image name prefix for the ECS image.")


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("w", "too short"),
        ("9web", "starts with '9'"),
        ("web prod", "contains space"),
        ("web/prod", "contains '/'"),
        ("http://web", "http://"),
        ("w" * 129, "129 characters"),
    ],
)
def test_image_name_follows_smc_naming_rules(name: str, hint: str) -> None:
    key, message = only_error(params(image_name=name))
    assert key == "image_name"
    assert hint in message
    assert "2 to 128 characters that start with a letter" in message


@pytest.mark.parametrize("name", ["ab", "web.prod:v1_a-b", "w" * 128, "迁移镜像-1"])
def test_image_names_within_the_rules_are_accepted(name: str) -> None:
    assert errors_of(params(image_name=name)) == {}


def test_an_image_name_already_used_in_the_region_is_refused() -> None:
    key, message = only_error(params(image_name="taken-image"))
    assert key == "image_name"
    assert "taken-image-2" in message


def test_instance_target_needs_an_instance() -> None:
    key, message = only_error(instance_params(instance_id=None))
    assert (key, message) == ("instance_id", "Choose the destination ECS instance.")


def test_fields_of_the_other_destination_type_are_refused() -> None:
    assert "clear the instance" in errors_of(params(instance_id="i-bp1target"))["instance_id"]
    assert "clear the image name" in errors_of(instance_params(image_name="web"))["image_name"]
    found = errors_of(instance_params(instance_type="ecs.c6.large"))
    assert "image destinations only" in found["instance_type"]


def test_intermediate_instance_type_must_look_like_an_ecs_type() -> None:
    assert errors_of(params(instance_type="ecs.c6.large")) == {}
    key, message = only_error(params(instance_type="large"))
    assert key == "instance_type"
    assert "ecs.c6.large" in message


def test_an_instance_outside_the_region_is_not_found() -> None:
    key, message = only_error(
        instance_params(), context(target_instance=replace(INSTANCE, region_id="cn-beijing"))
    )
    assert key == "instance_id"
    assert "not found in cn-hangzhou" in message


def test_the_instance_must_run_the_same_os_family() -> None:
    ctx = context(target_instance=replace(INSTANCE, os_type=OsType.WINDOWS))
    key, message = only_error(instance_params(), ctx)
    assert key == "instance_id"
    assert message == (
        "Instance i-bp1target runs Windows but the source runs Linux: choose a Linux instance."
    )


# -- execution method and schedule ----------------------------------------------------------


def test_with_a_migration_test_only_the_test_methods_are_allowed() -> None:
    key, message = only_error(params(migration_test=True, execution_method=ExecutionMethod.MIGRATE_NOW))
    assert key == "execution_method"
    assert message == "With the migration test on, choose Test and Migrate or Test Only."


def test_without_a_migration_test_the_test_methods_are_refused() -> None:
    key, message = only_error(params(migration_test=False, execution_method=ExecutionMethod.TEST_ONLY))
    assert key == "execution_method"
    assert message == "With the migration test off, choose Migrate Now or Migrate Later or Create Only."


def later(start: datetime | None) -> MigrationParams:
    return params(migration_test=False, execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start)


def test_migrate_later_needs_a_start_time() -> None:
    assert only_error(later(None))[0] == "scheduled_start"


def test_a_start_time_without_migrate_later_is_refused() -> None:
    p = params(migration_test=False, scheduled_start=NOW + timedelta(hours=1))
    assert "Migrate Later only" in only_error(p)[1]


@given(st.integers(min_value=-3600, max_value=31 * 24 * 3600))
def test_schedule_must_be_10_minutes_to_30_days_ahead(offset_seconds: int) -> None:
    start = NOW + timedelta(seconds=offset_seconds)
    inside = 600 <= offset_seconds <= 30 * 24 * 3600
    found = errors_of(later(start))
    assert ("scheduled_start" not in found) == inside


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=10), timedelta(days=30), timedelta(minutes=10, seconds=1)]
)
def test_schedule_window_edges_are_inside(offset: timedelta) -> None:
    assert errors_of(later(NOW + offset)) == {}


def test_schedule_error_names_the_window_in_utc() -> None:
    ctx = context(now=datetime(2030, 3, 1, 12, 0, 30, tzinfo=UTC))
    key, message = only_error(later(NOW + timedelta(minutes=5)), ctx)
    assert key == "scheduled_start"
    assert message == (
        "Pick a start between 2030-03-01 12:11 and 2030-03-31 12:00 UTC: "
        "at least 10 minutes and at most 30 days from now."
    )


# -- incremental sync -----------------------------------------------------------------------


def incremental(interval: int | None, images: int | None, on: bool = True) -> MigrationParams:
    return params(incremental=on, sync_interval_hours=interval, max_reserved_images=images)


def test_incremental_sync_needs_interval_and_image_count() -> None:
    found = errors_of(incremental(None, None))
    assert found == {
        "sync_interval_hours": "Enter a sync interval between 1 and 168 hours.",
        "max_reserved_images": "Enter a number of images to keep between 1 and 10.",
    }


@given(st.integers(-5, 200), st.integers(-5, 20))
def test_incremental_ranges(interval: int, images: int) -> None:
    found = errors_of(incremental(interval, images))
    assert ("sync_interval_hours" in found) == (not 1 <= interval <= 168)
    assert ("max_reserved_images" in found) == (not 1 <= images <= 10)


def test_sync_settings_without_incremental_sync_are_refused() -> None:
    found = errors_of(incremental(12, 3, on=False))
    assert set(found) == {"sync_interval_hours", "max_reserved_images"}
    assert "turn the sync on" in found["sync_interval_hours"]


# -- network --------------------------------------------------------------------------------


def vpc_params(
    vpc: str | None, vswitch: str | None, network: NetworkType = NetworkType.VPC
) -> MigrationParams:
    return params(network_type=network, vpc_id=vpc, vswitch_id=vswitch)


def test_vpc_transfer_needs_vpc_and_vswitch() -> None:
    assert set(errors_of(vpc_params(None, None))) == {"vpc_id", "vswitch_id"}
    assert errors_of(vpc_params("vpc-1", "vsw-a")) == {}


def test_public_transfer_takes_both_or_neither_of_vpc_and_vswitch() -> None:
    assert errors_of(vpc_params(None, None, NetworkType.PUBLIC)) == {}
    assert errors_of(vpc_params("vpc-1", "vsw-a", NetworkType.PUBLIC)) == {}
    assert only_error(vpc_params(None, "vsw-a", NetworkType.PUBLIC))[0] == "vpc_id"
    key, message = only_error(vpc_params("vpc-1", None, NetworkType.PUBLIC))
    assert key == "vswitch_id"
    assert "clear the VPC" in message


def test_an_unknown_vpc_is_refused() -> None:
    key, message = only_error(vpc_params("vpc-gone", "vsw-a"))
    assert key == "vpc_id"
    assert "vpc-gone" in message


def test_the_vswitch_must_belong_to_the_vpc() -> None:
    key, message = only_error(vpc_params("vpc-1", "vsw-elsewhere"))
    assert key == "vswitch_id"
    assert "vsw-a, vsw-b" in message


def test_an_image_target_needs_a_free_address_for_the_intermediate_instance() -> None:
    key, message = only_error(vpc_params("vpc-1", "vsw-b"))
    assert key == "vswitch_id"
    assert "192.168.2.0/24" in message


def test_an_instance_target_needs_no_free_address_in_the_transfer_vswitch() -> None:
    p = instance_params(network_type=NetworkType.VPC, vpc_id="vpc-1", vswitch_id="vsw-b")
    assert errors_of(p) == {}


# -- private IP -----------------------------------------------------------------------------


def manual_ip(address: str | None) -> MigrationParams:
    return instance_params(private_ip_mode=PrivateIpMode.MANUAL, private_ip=address)


def test_private_ip_applies_to_instance_targets_only() -> None:
    key, message = only_error(params(private_ip_mode=PrivateIpMode.MANUAL, private_ip="192.168.1.10"))
    assert key == "private_ip_mode"
    assert "Unchanged" in message


def test_manual_private_ip_needs_an_address() -> None:
    assert only_error(manual_ip(None))[0] == "private_ip"
    key, message = only_error(manual_ip("192.168.1"))
    assert key == "private_ip"
    assert "not an IPv4 address" in message


def test_an_address_without_manual_mode_is_refused() -> None:
    assert only_error(instance_params(private_ip="192.168.1.10"))[0] == "private_ip"


def test_the_address_must_be_inside_the_instance_vswitch_cidr() -> None:
    assert errors_of(manual_ip("192.168.1.10")) == {}
    key, message = only_error(manual_ip("10.0.0.5"))
    assert key == "private_ip"
    assert message == (
        "10.0.0.5 is outside 192.168.1.0/24, the CIDR of vSwitch vsw-a of i-bp1target: "
        "enter an address from 192.168.1.1 to 192.168.1.252."
    )


@pytest.mark.parametrize("address", ["192.168.1.0", "192.168.1.253", "192.168.1.254", "192.168.1.255"])
def test_addresses_alibaba_reserves_are_refused(address: str) -> None:
    key, message = only_error(manual_ip(address))
    assert key == "private_ip"
    assert "reserved by Alibaba Cloud" in message


@given(st.integers(0, 255))
def test_only_the_first_and_last_three_addresses_are_reserved(last_octet: int) -> None:
    address = f"192.168.1.{last_octet}"
    assert (errors_of(manual_ip(address)) == {}) == (1 <= last_octet <= 252)


def test_usable_range_of_small_and_large_vswitches() -> None:
    assert usable_range("10.0.0.0/29") == (
        ipaddress.IPv4Address("10.0.0.1"),
        ipaddress.IPv4Address("10.0.0.4"),
    )
    assert usable_range("172.16.0.0/16") == (
        ipaddress.IPv4Address("172.16.0.1"),
        ipaddress.IPv4Address("172.16.255.252"),
    )


def test_an_instance_outside_any_vswitch_cannot_get_a_manual_ip() -> None:
    key, message = only_error(
        manual_ip("192.168.1.10"), context(target_instance=replace(INSTANCE, vswitch=None))
    )
    assert key == "private_ip_mode"
    assert "Unchanged" in message


# -- disks ----------------------------------------------------------------------------------


def test_system_disk_must_exceed_the_used_space() -> None:
    key, message = only_error(
        params(system_disk=SystemDisk(size_gib=12)),
        context(source=replace(LINUX, system_disk=replace(SYSTEM, used_gib=37))),
    )
    assert key == "system_disk_size"
    assert message == (
        "Enter a size between 38 and 2048 GiB: larger than the 37 GiB used on the source system disk."
    )


@given(st.integers(0, 2100), st.sampled_from([0.0, 12.5, 19.0, 20.0, 37.0, 100.2]))
def test_system_disk_size_range(size: int, used: float) -> None:
    ctx = context(source=replace(LINUX, system_disk=replace(SYSTEM, used_gib=used)))
    found = errors_of(params(system_disk=SystemDisk(size_gib=size)), ctx)
    valid = 20 <= size <= 2048 and size > used
    assert ("system_disk_size" not in found) == valid


def test_a_missing_system_disk_size_is_asked_for() -> None:
    key, message = only_error(params(system_disk=SystemDisk()))
    assert (key, message) == (
        "system_disk_size",
        "Enter a size between 20 and 2048 GiB: larger than the 12.5 GiB used on the source system disk.",
    )
    assert [e.message for e in validate_static(params(system_disk=SystemDisk()))] == [
        "Enter a system disk size between 20 and 2048 GiB."
    ]


@given(st.integers(0, 33000))
def test_data_disk_size_range(size: int) -> None:
    found = errors_of(params(data_disks=(DataDisk(index=1, size_gib=size), DataDisk(index=2, size_gib=200))))
    assert ("data_disk_size.1" not in found) == (20 <= size <= 32768 and size > 37)


def test_data_disk_error_names_the_used_space() -> None:
    p = params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=100)))
    key, message = only_error(p)
    assert key == "data_disk_size.2"
    assert (
        message
        == "Enter a size between 101 and 32768 GiB: larger than the 100 GiB used on source data disk 2."
    )


def test_a_data_disk_needs_a_size_unless_skipped() -> None:
    key, message = only_error(params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2))))
    assert key == "data_disk_size.2"
    assert message == (
        "Enter a size between 101 and 32768 GiB: larger than the 100 GiB used on source data disk 2. "
        "Or skip the disk."
    )
    assert errors_of(params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, skip=True)))) == {}


def test_every_source_data_disk_is_sized_or_skipped() -> None:
    key, message = only_error(params(data_disks=(DataDisk(index=1, size_gib=100),)))
    assert key == "data_disk_size.2"
    assert message == "Enter a size for data disk 2 (500 GiB, 100 GiB used), or skip it."


def test_a_data_disk_the_source_does_not_have_is_refused() -> None:
    disks = (DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=200), DataDisk(index=3, size_gib=50))
    key, message = only_error(params(data_disks=disks))
    assert key == "data_disk_size.3"
    assert "has 2" in message


@pytest.mark.parametrize("index", [0, 17])
def test_data_disk_index_is_1_to_16(index: int) -> None:
    disks = (
        DataDisk(index=1, size_gib=100),
        DataDisk(index=2, size_gib=200),
        DataDisk(index=index, size_gib=50),
    )
    assert only_error(params(data_disks=disks)) == (
        f"data_disk_size.{index}",
        "Data disks are numbered 1 to 16: remove this disk.",
    )


def test_data_disk_index_is_unique() -> None:
    disks = (
        DataDisk(index=1, size_gib=100),
        DataDisk(index=1, size_gib=120),
        DataDisk(index=2, size_gib=200),
    )
    key, message = only_error(params(data_disks=disks))
    assert key == "data_disk_size.1"
    assert "appears twice" in message


def test_instance_target_disks_must_fit_the_instance_disks() -> None:
    p = instance_params(system_disk=SystemDisk(size_gib=60))
    key, message = only_error(p)
    assert key == "system_disk_size"
    assert message == (
        "Enter a size between 20 and 40 GiB: larger than the 12.5 GiB used on the source system disk "
        "(the disk of instance i-bp1target has 40 GiB)."
    )


def test_instance_target_needs_a_data_disk_for_each_migrated_disk() -> None:
    p = instance_params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=200)))
    key, message = only_error(p)
    assert key == "data_disk_size.2"
    assert "has 1 data disk(s)" in message


def test_an_instance_disk_smaller_than_the_used_space_asks_for_another_instance() -> None:
    ctx = context(target_instance=replace(INSTANCE, data_disk_gib=(30,)))
    key, message = only_error(
        instance_params(data_disks=(DataDisk(index=1, size_gib=30), DataDisk(index=2, skip=True))), ctx
    )
    assert key == "data_disk_size.1"
    assert "choose an instance with a larger disk" in message


# -- LVM and partitions ---------------------------------------------------------------------


def test_lvm_is_allowed_on_linux_with_a_boot_partition() -> None:
    p = params(
        system_disk=SystemDisk(size_gib=40, lvm=True),
        data_disks=(DataDisk(index=1, size_gib=100, lvm=True), DataDisk(index=2, size_gib=200)),
    )
    assert errors_of(p) == {}


def test_lvm_is_refused_for_windows() -> None:
    windows = replace(LINUX, os_type=OsType.WINDOWS)
    p = params(
        system_disk=SystemDisk(size_gib=40, lvm=True),
        data_disks=(DataDisk(index=1, size_gib=100, lvm=True), DataDisk(index=2, size_gib=200)),
    )
    found = errors_of(p, context(source=windows))
    assert found == {
        "system_disk_lvm": "LVM is not available for Windows sources: turn it off.",
        "data_disk_lvm.1": "LVM is not available for Windows sources: turn it off.",
    }


def test_lvm_is_refused_without_a_boot_partition() -> None:
    ctx = context(source=replace(LINUX, has_boot_partition=False))
    key, message = only_error(params(system_disk=SystemDisk(size_gib=40, lvm=True)), ctx)
    assert key == "system_disk_lvm"
    assert "boot partition" in message


def with_partitions(*parts: Partition, disk: int = 1, size: int = 100) -> MigrationParams:
    data = (DataDisk(index=1, size_gib=size, partitions=parts), DataDisk(index=2, size_gib=200))
    if disk == 0:
        return params(system_disk=SystemDisk(size_gib=size, partitions=parts))
    return params(data_disks=data)


def test_linux_partitions_can_be_resized_with_file_level_replication() -> None:
    p = with_partitions(
        Partition(device="1_0", path="/data", block=False, size_bytes=50 * GIB),
        Partition(device="1_1", path="/logs", block=True, size_bytes=40 * GIB),
    )
    assert errors_of(p) == {}


def test_a_partition_that_cannot_block_replicate_must_turn_block_off() -> None:
    key, message = only_error(
        with_partitions(Partition(device="1_0", path="/data", block=True, size_bytes=60 * GIB))
    )
    assert key == "partition_block.1.1"
    assert message == "Partition /data cannot be block-replicated: turn block replication off."


def test_block_replication_keeps_the_source_partition_size() -> None:
    p = with_partitions(Partition(device="1_1", path="/logs", block=True, size_bytes=20 * GIB))
    key, message = only_error(p)
    assert key == "partition_size.1.1"
    assert "keep /logs at 40 GiB" in message or "keeps /logs at 40 GiB" in message


def test_a_resized_partition_must_exceed_its_used_space() -> None:
    p = with_partitions(Partition(device="1_0", path="/data", block=False, size_bytes=30 * GIB))
    key, message = only_error(p)
    assert key == "partition_size.1.1"
    assert message == "Enter a size for /data larger than the 30 GiB used on it."


def test_partition_sizes_must_fit_the_disk() -> None:
    p = with_partitions(
        Partition(device="1_0", path="/data", block=False, size_bytes=80 * GIB),
        Partition(device="1_1", path="/logs", block=True, size_bytes=40 * GIB),
    )
    key, message = only_error(p)
    assert key == "data_disk_size.1"
    assert message == (
        "The partitions of this disk add up to 120 GiB: enter a disk size of at least 120 GiB, "
        "or make partitions smaller."
    )


def test_system_partition_sum_is_checked_against_the_system_disk() -> None:
    p = with_partitions(
        Partition(device="0_0", path="/boot", block=True, size_bytes=GIB),
        Partition(device="0_1", path="/", block=False, size_bytes=40 * GIB),
        disk=0,
        size=40,
    )
    key, message = only_error(p)
    assert key == "system_disk_size"
    assert "41 GiB" in message


def test_windows_partitions_are_block_replicated_at_their_source_size() -> None:
    ctx = context(source=replace(LINUX, os_type=OsType.WINDOWS, has_boot_partition=False))
    p = with_partitions(
        Partition(device="1_0", path="D:", block=False, size_bytes=60 * GIB),
        Partition(device="1_1", path="E:", block=True, size_bytes=30 * GIB),
    )
    found = errors_of(p, ctx)
    assert found == {
        "partition_block.1.1": (
            "Windows partitions are always block-replicated: turn block replication on for D:."
        ),
        "partition_size.1.2": "Windows partition sizes cannot be changed: keep E: at 40 GiB.",
    }


def test_an_unknown_partition_asks_for_a_reload() -> None:
    key, message = only_error(
        with_partitions(Partition(device="1_9", path="/gone", block=False, size_bytes=GIB))
    )
    assert key == "partition_size.1.1"
    assert "reload the form" in message


def test_partition_devices_are_unique_and_sizes_positive() -> None:
    found = validate_static(
        with_partitions(
            Partition(device="1_0", block=False, size_bytes=0),
            Partition(device="1_0", block=False, size_bytes=GIB),
        )
    )
    messages = [e.message for e in found]
    assert any("appears twice" in m for m in messages)
    assert any("positive size" in m for m in messages)


# -- job, transfer and tags -----------------------------------------------------------------


def test_job_name_follows_the_naming_rules_and_is_unique() -> None:
    assert errors_of(params(job_name="web-prod:01_a")) == {}
    assert "starts with '1'" in only_error(params(job_name="1web"))[1]
    key, message = only_error(params(job_name="nightly"))
    assert key == "job_name"
    assert "nightly-2" in message


def test_description_follows_the_api_rules() -> None:
    assert errors_of(params(description="Nightly_web_migration")) == {}
    key, message = only_error(params(description="Nightly web migration"))
    assert key == "description"
    assert "contains space" in message


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, True), (100_000, True), (100_001, False)])
def test_speed_limit_range(value: int, ok: bool) -> None:
    assert (errors_of(params(speed_limit_mbps=value)) == {}) == ok


@given(st.integers(-3, 13))
def test_compression_range(level: int) -> None:
    assert (errors_of(params(compression_level=level)) == {}) == (0 <= level <= 10)


def test_checksum_and_licence_need_no_rules() -> None:
    assert errors_of(params(checksum=True, license_type=LicenseType.BYOL)) == {}


def test_at_most_20_tags() -> None:
    tags = tuple(Tag(key=f"k{i}", value="v") for i in range(21))
    assert only_error(params(tags=tags)) == ("tags", "Enter at most 20 tags; there are 21.")
    assert errors_of(params(tags=tags[:20])) == {}


@pytest.mark.parametrize(
    ("tag", "hint"),
    [
        (Tag(key="", value="x"), "has no key"),
        (Tag(key="aliyun:team", value="x"), "starts with aliyun"),
        (Tag(key="ACS:env", value="x"), "starts with acs:"),
        (Tag(key="team", value="https://x"), "starts with https://"),
        (Tag(key="k" * 129, value="x"), "at most 128 characters"),
    ],
)
def test_tag_rules(tag: Tag, hint: str) -> None:
    key, message = only_error(params(tags=(tag,)))
    assert key == "tags"
    assert hint in message


def test_a_tag_key_appears_once() -> None:
    key, message = only_error(params(tags=(Tag(key="team", value="a"), Tag(key="team", value="b"))))
    assert key == "tags"
    assert "team appears twice" in message


def test_an_empty_tag_value_is_allowed() -> None:
    assert errors_of(params(tags=(Tag(key="team", value=""),))) == {}


def test_a_source_that_did_not_report_its_used_space_is_checked_against_the_ranges_only() -> None:
    unreported = replace(LINUX, system_disk=replace(SYSTEM, used_gib=None, partitions=()))
    assert errors_of(params(system_disk=SystemDisk(size_gib=20)), context(source=unreported)) == {}
    key, message = only_error(params(system_disk=SystemDisk()), context(source=unreported))
    assert (key, message) == (
        "system_disk_size",
        "Enter a size between 20 and 2048 GiB (the source system disk did not report its used space).",
    )
    no_data_usage = replace(LINUX, data_disks=(DATA_1, replace(DATA_2, used_gib=None)))
    key, message = only_error(
        params(data_disks=(DataDisk(index=1, size_gib=100),)), context(source=no_data_usage)
    )
    assert message == "Enter a size for data disk 2 (500 GiB, used space not reported), or skip it."
