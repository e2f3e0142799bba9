"""The bot's migration test: every check fires at its threshold, stays OK below it, and says what to do."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.drill import (
    DEFAULT_SPEED_BPS,
    FIXED_OVERHEAD,
    DrillCheck,
    DrillEstimate,
    DrillFacts,
    DrillItem,
    DrillReport,
    JobQuota,
    Level,
    MeasuredSpeed,
    SpeedSource,
    assess,
    estimate_transfer,
    is_chinese_mainland,
    migrated_volume,
)
from bot.domain.params import (
    GIB,
    DataDisk,
    MigrationParams,
    NetworkType,
    OsType,
    Partition,
    SystemDisk,
)
from bot.domain.validation import (
    DiskFacts,
    InstanceFacts,
    PartitionFacts,
    SourceFacts,
    UnfinishedJob,
    VpcFacts,
    VSwitchFacts,
)
from storage.enums import ExecutionMethod, TargetType

NOW = datetime(2030, 3, 1, 12, 0, 0, tzinfo=UTC)
SOURCE_ID = "s-bp1e2fsl57knvuug"

SYSTEM = DiskFacts(
    index=0,
    size_gib=40,
    used_gib=12.25,
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
        PartitionFacts(device="1_0", path="/data", size_bytes=60 * GIB, used_bytes=30 * GIB, can_block=True),
        PartitionFacts(device="1_1", path="/logs", size_bytes=40 * GIB, used_bytes=7 * GIB, can_block=True),
    ),
)
DATA_2 = DiskFacts(index=2, size_gib=500, used_gib=100)
LINUX = SourceFacts(
    source_id=SOURCE_ID,
    os_type=OsType.LINUX,
    has_boot_partition=True,
    system_disk=SYSTEM,
    data_disks=(DATA_1, DATA_2),
)
WINDOWS = replace(LINUX, os_type=OsType.WINDOWS)
VSW_A = VSwitchFacts(vswitch_id="vsw-a", cidr="192.168.1.0/24", free_ips=200)
VSW_B = VSwitchFacts(vswitch_id="vsw-b", cidr="192.168.2.0/24", free_ips=0)
VSW_OTHER = VSwitchFacts(vswitch_id="vsw-other", cidr="10.0.1.0/24", free_ips=50)
VPC = VpcFacts(vpc_id="vpc-1", cidr="192.168.0.0/16", vswitches=(VSW_A, VSW_B))
OTHER_VPC = VpcFacts(vpc_id="vpc-2", cidr="10.0.0.0/16", vswitches=(VSW_OTHER,))
INSTANCE = InstanceFacts(
    instance_id="i-bp1target",
    region_id="cn-hangzhou",
    os_type=OsType.LINUX,
    system_disk_gib=40,
    data_disk_gib=(200,),
)

# The used bytes that move: system partitions (1/4 + 12 GiB) and data disk 1 (30 + 7 GiB); disk 2 is skipped.
MIGRATED_BYTES = GIB // 4 + 12 * GIB + 30 * GIB + 7 * GIB


def params(**changes: Any) -> MigrationParams:
    values: dict[str, Any] = {
        "source_id": SOURCE_ID,
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod",
        "job_name": "web-prod-job",
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100), DataDisk(index=2, skip=True)),
    }
    values.update(changes)
    return MigrationParams(**values)


def instance_params(**changes: Any) -> MigrationParams:
    base: dict[str, Any] = {
        "target_type": TargetType.TARGET_INSTANCE,
        "image_name": None,
        "instance_id": "i-bp1target",
    }
    return params(**{**base, **changes})


def vpc_params(**changes: Any) -> MigrationParams:
    return params(**{"network_type": NetworkType.VPC, "vpc_id": "vpc-1", "vswitch_id": "vsw-a", **changes})


def later_params(start: datetime) -> MigrationParams:
    return params(migration_test=False, execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start)


def facts(**changes: Any) -> DrillFacts:
    values: dict[str, Any] = {
        "now": NOW,
        "source": LINUX,
        "last_heartbeat": NOW - timedelta(minutes=1),
        "quota": JobQuota(total_jobs=10, running_jobs=2),
        "target_instance": INSTANCE,
        "target_instance_status": "Stopped",
        "vpcs": (VPC, OTHER_VPC),
        "job_names": frozenset({"nightly"}),
        "image_names": frozenset({"taken-image"}),
    }
    values.update(changes)
    return DrillFacts(**values)


def item(check: DrillCheck, p: MigrationParams | None = None, f: DrillFacts | None = None) -> DrillItem:
    report = assess(p or params(), f or facts())
    found = report.item(check)
    assert found is not None, f"{check} did not apply: {[i.check for i in report.items]}"
    return found


def level(check: DrillCheck, p: MigrationParams | None = None, f: DrillFacts | None = None) -> Level:
    return item(check, p, f).level


# -- the whole report ------------------------------------------------------------------------------


def test_a_sound_image_migration_is_all_ok() -> None:
    report = assess(params(), facts())
    assert [i.check for i in report.items] == [
        DrillCheck.SOURCE_ONLINE,
        DrillCheck.UNFINISHED_JOB,
        DrillCheck.JOB_QUOTA,
        DrillCheck.RUNNING_QUOTA,
        DrillCheck.DISK_SPACE,
        DrillCheck.NAMES,
        DrillCheck.PUBLIC_NETWORK,
    ]
    assert report.worst is Level.OK
    assert not report.has_critical
    assert report.counts() == {Level.OK: 7, Level.WARNING: 0, Level.CRITICAL: 0}


def test_a_sound_instance_migration_still_warns_about_data_loss() -> None:
    report = assess(instance_params(), facts())
    assert report.worst is Level.WARNING
    assert not report.has_critical
    warnings = [i.check for i in report.items if i.level is Level.WARNING]
    assert warnings == [DrillCheck.DATA_LOSS]


def test_the_worst_level_decides_and_one_critical_item_blocks() -> None:
    report = assess(instance_params(), facts(unfinished_jobs=(UnfinishedJob("j-old", "InError"),)))
    assert report.worst is Level.CRITICAL
    assert report.has_critical


def test_every_item_that_is_not_ok_says_what_to_do() -> None:
    broken = instance_params(
        system_disk=SystemDisk(size_gib=10, lvm=True),
        data_disks=(DataDisk(index=1, size_gib=20), DataDisk(index=2, size_gib=300)),
        job_name="nightly",
        vpc_id="vpc-1",
        vswitch_id="vsw-other",
    )
    report = assess(
        broken,
        facts(
            source=replace(WINDOWS, state="Unavailable"),
            quota=JobQuota(total_jobs=1000, running_jobs=50),
            target_instance=replace(INSTANCE, os_type=OsType.LINUX, data_disk_gib=()),
            target_instance_status="Starting",
        ),
    )
    not_ok = [i for i in report.items if i.level is not Level.OK]
    assert len(not_ok) >= 8
    for found in not_ok:
        assert found.fix.strip(), found
        assert found.fix.rstrip().endswith("."), found


def test_an_item_that_is_not_ok_cannot_be_made_without_a_fix() -> None:
    with pytest.raises(ValueError, match="needs a fix"):
        DrillItem(DrillCheck.NAMES, Level.WARNING, "Names", "Something is off.", fix=" ")
    assert DrillItem(DrillCheck.NAMES, Level.OK, "Names", "Fine.").fix == ""


def test_facts_need_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        facts(now=datetime(2030, 3, 1, 12, 0))


# -- source --------------------------------------------------------------------------------------


def test_an_unknown_source_is_critical_and_points_to_import() -> None:
    found = item(DrillCheck.SOURCE_ONLINE, f=facts(source=None))
    assert found.level is Level.CRITICAL
    assert "/smc import" in found.fix


def test_a_source_that_is_not_available_is_critical() -> None:
    found = item(DrillCheck.SOURCE_ONLINE, f=facts(source=replace(LINUX, state="Unavailable")))
    assert found.level is Level.CRITICAL
    assert "Unavailable" in found.detail
    assert "SMC client" in found.fix


def test_a_heartbeat_exactly_at_the_limit_is_still_ok() -> None:
    assert level(DrillCheck.SOURCE_ONLINE, f=facts(last_heartbeat=NOW - timedelta(minutes=10))) is Level.OK


def test_a_heartbeat_older_than_the_limit_is_a_warning() -> None:
    found = item(DrillCheck.SOURCE_ONLINE, f=facts(last_heartbeat=NOW - timedelta(minutes=10, seconds=1)))
    assert found.level is Level.WARNING
    assert "10 min ago" in found.detail


def test_an_unknown_heartbeat_time_is_ok_for_an_available_source() -> None:
    assert level(DrillCheck.SOURCE_ONLINE, f=facts(last_heartbeat=None)) is Level.OK


def test_another_unfinished_job_on_the_source_is_critical() -> None:
    found = item(DrillCheck.UNFINISHED_JOB, f=facts(unfinished_jobs=(UnfinishedJob("j-old", "Stopped"),)))
    assert found.level is Level.CRITICAL
    assert "j-old (Stopped)" in found.detail
    assert "Cancel and clean up" in found.fix


def test_a_source_in_use_without_a_listed_job_is_critical() -> None:
    found = item(DrillCheck.UNFINISHED_JOB, f=facts(source=replace(LINUX, state="InUse")))
    assert found.level is Level.CRITICAL
    assert level(DrillCheck.SOURCE_ONLINE, f=facts(source=replace(LINUX, state="InUse"))) is Level.OK


def test_no_unfinished_job_is_ok() -> None:
    assert level(DrillCheck.UNFINISHED_JOB) is Level.OK


# -- quotas --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (899, Level.OK),
        (900, Level.WARNING),
        (999, Level.WARNING),
        (1000, Level.CRITICAL),
        (1001, Level.CRITICAL),
    ],
)
def test_job_quota_warns_near_and_blocks_at_1000(total: int, expected: Level) -> None:
    found = item(DrillCheck.JOB_QUOTA, f=facts(quota=JobQuota(total_jobs=total, running_jobs=0)))
    assert found.level is expected
    assert f"{total:,} of 1,000" in found.detail


@pytest.mark.parametrize(
    ("running", "expected"),
    [(44, Level.OK), (45, Level.WARNING), (49, Level.WARNING), (50, Level.CRITICAL)],
)
def test_running_quota_warns_near_and_blocks_at_50(running: int, expected: Level) -> None:
    found = item(DrillCheck.RUNNING_QUOTA, f=facts(quota=JobQuota(total_jobs=100, running_jobs=running)))
    assert found.level is expected


def test_a_raised_quota_is_respected() -> None:
    quota = JobQuota(total_jobs=1000, running_jobs=50, max_jobs=2000, max_running_jobs=100)
    assert level(DrillCheck.JOB_QUOTA, f=facts(quota=quota)) is Level.OK
    assert level(DrillCheck.RUNNING_QUOTA, f=facts(quota=quota)) is Level.OK


def test_unknown_quotas_are_not_reported() -> None:
    report = assess(params(), facts(quota=None))
    assert report.item(DrillCheck.JOB_QUOTA) is None
    assert report.item(DrillCheck.RUNNING_QUOTA) is None


# -- disks ----------------------------------------------------------------------------------------


def test_a_disk_smaller_than_the_used_space_is_critical() -> None:
    found = item(DrillCheck.DISK_SPACE, params(system_disk=SystemDisk(size_gib=10)))
    assert found.level is Level.CRITICAL
    assert "system disk (10 GiB) is not larger than the 12.2 GiB used" in found.detail
    assert "at least 13 GiB" in found.fix


@pytest.mark.parametrize(("size", "expected"), [(37, Level.CRITICAL), (38, Level.OK)])
def test_a_data_disk_must_be_larger_than_its_used_space(size: int, expected: Level) -> None:
    disks = (DataDisk(index=1, size_gib=size), DataDisk(index=2, skip=True))
    assert level(DrillCheck.DISK_SPACE, params(data_disks=disks)) is expected


def test_a_skipped_data_disk_is_not_checked() -> None:
    found = item(DrillCheck.DISK_SPACE)
    assert found.level is Level.OK
    assert "data disk 2 skipped" in found.detail


def test_a_source_data_disk_left_out_of_the_request_is_a_warning() -> None:
    found = item(DrillCheck.DISK_SPACE, params(data_disks=(DataDisk(index=1, size_gib=100),)))
    assert found.level is Level.WARNING
    assert "data disk 2" in found.detail


def test_a_data_disk_the_source_does_not_have_is_critical() -> None:
    disks = (DataDisk(index=1, size_gib=100), DataDisk(index=2, skip=True), DataDisk(index=3, size_gib=50))
    found = item(DrillCheck.DISK_SPACE, params(data_disks=disks))
    assert found.level is Level.CRITICAL
    assert "Remove data disk 3" in found.fix


def _with_partitions(total_bytes: int) -> SystemDisk:
    return SystemDisk(
        size_gib=40,
        partitions=(
            Partition(device="0_0", size_bytes=GIB),
            Partition(device="0_1", size_bytes=total_bytes - GIB),
        ),
    )


def test_partitions_that_exactly_fill_the_disk_are_ok() -> None:
    assert level(DrillCheck.PARTITIONS, params(system_disk=_with_partitions(40 * GIB))) is Level.OK


def test_partitions_larger_than_the_disk_are_critical() -> None:
    found = item(DrillCheck.PARTITIONS, params(system_disk=_with_partitions(40 * GIB + 1)))
    assert found.level is Level.CRITICAL
    assert "at least 41 GiB" in found.fix


def test_without_partition_layout_there_is_no_partition_item() -> None:
    assert assess(params(), facts()).item(DrillCheck.PARTITIONS) is None


# -- destination instance -------------------------------------------------------------------------


def test_a_compatible_instance_is_ok() -> None:
    found = item(DrillCheck.TARGET_INSTANCE, instance_params())
    assert found.level is Level.OK
    assert "i-bp1target (Stopped)" in found.detail


def test_a_missing_instance_is_critical() -> None:
    found = item(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance=None))
    assert found.level is Level.CRITICAL
    assert "ECS image" in found.fix


def test_an_instance_in_another_region_is_not_found() -> None:
    moved = replace(INSTANCE, region_id="cn-beijing")
    assert (
        level(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance=moved)) is Level.CRITICAL
    )


def test_an_os_family_mismatch_is_critical() -> None:
    windows = replace(INSTANCE, os_type=OsType.WINDOWS)
    found = item(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance=windows))
    assert found.level is Level.CRITICAL
    assert "source runs Linux but i-bp1target runs Windows" in found.detail


def test_an_unknown_os_family_is_a_warning() -> None:
    unknown = replace(INSTANCE, os_type=None)
    assert (
        level(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance=unknown)) is Level.WARNING
    )


def test_an_instance_with_fewer_data_disks_is_critical() -> None:
    bare = replace(INSTANCE, data_disk_gib=())
    found = item(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance=bare))
    assert found.level is Level.CRITICAL
    assert "has 0 data disk(s), but the migration writes data disk 1" in found.detail


def test_an_instance_disk_not_larger_than_the_used_space_is_critical() -> None:
    small = replace(INSTANCE, data_disk_gib=(37,))
    found = item(
        DrillCheck.TARGET_INSTANCE,
        instance_params(data_disks=(DataDisk(index=1, size_gib=37), DataDisk(index=2, skip=True))),
        facts(target_instance=small),
    )
    assert found.level is Level.CRITICAL
    assert "at least 38 GiB" in found.fix


def test_a_requested_size_above_the_instance_disk_is_critical() -> None:
    found = item(DrillCheck.TARGET_INSTANCE, instance_params(system_disk=SystemDisk(size_gib=60)))
    assert found.level is Level.CRITICAL
    assert "at most 40 GiB" in found.fix


def test_an_instance_in_a_transitional_state_is_a_warning() -> None:
    found = item(DrillCheck.TARGET_INSTANCE, instance_params(), facts(target_instance_status="Starting"))
    assert found.level is Level.WARNING
    assert "Running or Stopped" in found.fix


def test_the_data_loss_warning_names_os_replacement_and_snapshots() -> None:
    found = item(DrillCheck.DATA_LOSS, instance_params())
    assert found.level is Level.WARNING
    assert "replaces the operating system" in found.detail
    assert "automatic snapshots" in found.detail
    assert assess(params(), facts()).item(DrillCheck.DATA_LOSS) is None


@pytest.mark.parametrize(
    ("region", "warned"),
    [("cn-hangzhou", False), ("cn-hongkong", True), ("ap-southeast-1", True)],
)
def test_windows_to_an_instance_outside_the_mainland_is_a_warning(region: str, warned: bool) -> None:
    p = instance_params(region_id=region)
    f = facts(source=WINDOWS, target_instance=replace(INSTANCE, region_id=region, os_type=OsType.WINDOWS))
    found = assess(p, f).item(DrillCheck.WINDOWS_TARGET_REGION)
    assert (found is not None and found.level is Level.WARNING) is warned
    assert is_chinese_mainland(region) is not warned


# -- network --------------------------------------------------------------------------------------


def test_an_unknown_vpc_is_critical() -> None:
    found = item(DrillCheck.NETWORK, vpc_params(vpc_id="vpc-gone"))
    assert found.level is Level.CRITICAL
    assert "vpc-gone was not found" in found.detail


def test_a_vswitch_of_another_vpc_is_critical_and_says_whose_it_is() -> None:
    found = item(DrillCheck.NETWORK, vpc_params(vswitch_id="vsw-other"))
    assert found.level is Level.CRITICAL
    assert "it belongs to vpc-2" in found.detail
    assert "vsw-a, vsw-b" in found.fix


@pytest.mark.parametrize(
    ("free", "expected"),
    [(0, Level.CRITICAL), (1, Level.WARNING), (4, Level.WARNING), (5, Level.OK)],
)
def test_the_intermediate_instance_needs_a_free_address(free: int, expected: Level) -> None:
    vpc = replace(VPC, vswitches=(replace(VSW_A, free_ips=free),))
    assert level(DrillCheck.NETWORK, vpc_params(), facts(vpcs=(vpc,))) is expected


def test_an_instance_destination_needs_no_free_address() -> None:
    p = instance_params(network_type=NetworkType.VPC, vpc_id="vpc-1", vswitch_id="vsw-b")
    assert level(DrillCheck.NETWORK, p) is Level.OK


def test_public_network_with_smc_created_network_has_no_network_item() -> None:
    assert assess(params(), facts()).item(DrillCheck.NETWORK) is None


# -- names, LVM, schedule --------------------------------------------------------------------------


def test_a_taken_image_name_is_critical() -> None:
    found = item(DrillCheck.NAMES, params(image_name="taken-image"))
    assert found.level is Level.CRITICAL
    assert "taken-image-2" in found.fix


def test_a_taken_job_name_is_critical() -> None:
    found = item(DrillCheck.NAMES, params(job_name="nightly"))
    assert found.level is Level.CRITICAL
    assert "nightly-2" in found.fix


def test_free_names_are_ok() -> None:
    found = item(DrillCheck.NAMES)
    assert found.level is Level.OK
    assert found.detail == "Image name web-prod and job name web-prod-job free."


def test_windows_with_lvm_is_critical() -> None:
    found = item(DrillCheck.LVM, params(system_disk=SystemDisk(size_gib=40, lvm=True)), facts(source=WINDOWS))
    assert found.level is Level.CRITICAL
    assert "Windows" in found.detail
    assert found.fix == "Turn LVM off for system disk."


def test_lvm_without_a_boot_partition_is_critical() -> None:
    disks = (DataDisk(index=1, size_gib=100, lvm=True), DataDisk(index=2, skip=True))
    no_boot = replace(LINUX, has_boot_partition=False)
    found = item(DrillCheck.LVM, params(data_disks=disks), facts(source=no_boot))
    assert found.level is Level.CRITICAL
    assert "boot partition" in found.detail
    assert found.fix == "Turn LVM off for data disk 1."


def test_lvm_on_linux_with_a_boot_partition_is_ok() -> None:
    assert level(DrillCheck.LVM, params(system_disk=SystemDisk(size_gib=40, lvm=True))) is Level.OK
    assert assess(params(), facts()).item(DrillCheck.LVM) is None


@pytest.mark.parametrize(
    ("ahead", "expected"),
    [
        (timedelta(minutes=9, seconds=59), Level.CRITICAL),
        (timedelta(minutes=10), Level.OK),
        (timedelta(days=30), Level.OK),
        (timedelta(days=30, seconds=1), Level.CRITICAL),
    ],
)
def test_migrate_later_must_start_10_minutes_to_30_days_ahead(ahead: timedelta, expected: Level) -> None:
    found = item(DrillCheck.SCHEDULE, later_params(NOW + ahead))
    assert found.level is expected
    if expected is Level.CRITICAL:
        assert "between 2030-03-01 12:10 and 2030-03-31 12:00 UTC" in found.fix


def test_other_methods_have_no_schedule_item() -> None:
    assert assess(params(), facts()).item(DrillCheck.SCHEDULE) is None


# -- public network note -----------------------------------------------------------------------------


def _source_with_used(used_bytes: int) -> SourceFacts:
    system = DiskFacts(index=0, size_gib=2048, used_gib=used_bytes / GIB)
    return replace(LINUX, system_disk=system, data_disks=())


def test_a_long_public_transfer_suggests_vpc() -> None:
    two_hours = int(DEFAULT_SPEED_BPS[NetworkType.PUBLIC] * 7200)
    p = params(system_disk=SystemDisk(size_gib=2048), data_disks=())
    found = item(DrillCheck.PUBLIC_NETWORK, p, facts(source=_source_with_used(two_hours)))
    assert found.level is Level.WARNING
    assert "choose VPC" in found.fix


def test_a_short_public_transfer_is_ok() -> None:
    just_under = int(DEFAULT_SPEED_BPS[NetworkType.PUBLIC] * 7199)
    p = params(system_disk=SystemDisk(size_gib=2048), data_disks=())
    assert level(DrillCheck.PUBLIC_NETWORK, p, facts(source=_source_with_used(just_under))) is Level.OK
    assert assess(vpc_params(), facts()).item(DrillCheck.PUBLIC_NETWORK) is None


# -- estimates ------------------------------------------------------------------------------------


def test_the_volume_is_the_used_space_of_migrated_disks_only() -> None:
    assert migrated_volume(params(), LINUX) == MIGRATED_BYTES
    everything = params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=200)))
    assert migrated_volume(everything, LINUX) == MIGRATED_BYTES + 100 * GIB
    assert migrated_volume(params(), None) == 0


def test_without_a_limit_or_history_the_default_speed_is_used() -> None:
    estimate = estimate_transfer(params(), facts())
    assert estimate.speed_source is SpeedSource.DEFAULT
    assert estimate.speed_bytes_per_second == 10_000_000
    assert estimate.samples == 0
    assert estimate.transfer_time == timedelta(seconds=math.ceil(MIGRATED_BYTES / 10_000_000))
    assert estimate.duration == estimate.transfer_time + FIXED_OVERHEAD
    assert "default of 10.0 MB/s" in estimate.speed_note
    assert estimate_transfer(vpc_params(), facts()).speed_bytes_per_second == 50_000_000


def test_the_speed_limit_sets_the_speed_and_compression_is_not_counted() -> None:
    estimate = estimate_transfer(params(speed_limit_mbps=100), facts())
    assert estimate.speed_source is SpeedSource.LIMIT
    assert estimate.speed_bytes_per_second == 12_500_000
    assert estimate.transfer_time == timedelta(seconds=math.ceil(MIGRATED_BYTES / 12_500_000))
    assert "Compression (level 7) does not change the estimate" in estimate.speed_note
    plain = estimate_transfer(params(speed_limit_mbps=100, compression_level=0), facts())
    assert "Compression" not in plain.speed_note


LEARNED = (
    MeasuredSpeed("cn-hangzhou", NetworkType.PUBLIC, 20_000_000),
    MeasuredSpeed("cn-hangzhou", NetworkType.PUBLIC, 100_000_000),
    MeasuredSpeed("cn-hangzhou", NetworkType.PUBLIC, 30_000_000),
    MeasuredSpeed("cn-hangzhou", NetworkType.VPC, 1_000),
    MeasuredSpeed("cn-beijing", NetworkType.PUBLIC, 1_000),
)


def test_learned_speeds_of_the_same_region_and_network_give_the_median() -> None:
    estimate = estimate_transfer(params(), facts(measured_speeds=LEARNED))
    assert estimate.speed_source is SpeedSource.LEARNED
    assert estimate.speed_bytes_per_second == 30_000_000
    assert estimate.samples == 3
    assert "median speed of 3 earlier migrations of this bot to cn-hangzhou" in estimate.speed_note
    assert estimate.transfer_time == timedelta(seconds=math.ceil(MIGRATED_BYTES / 30_000_000))


def test_a_limit_below_the_learned_speed_wins() -> None:
    estimate = estimate_transfer(params(speed_limit_mbps=80), facts(measured_speeds=LEARNED))
    assert estimate.speed_source is SpeedSource.LIMIT
    assert estimate.speed_bytes_per_second == 10_000_000


def test_a_learned_speed_below_the_limit_wins() -> None:
    estimate = estimate_transfer(params(speed_limit_mbps=800), facts(measured_speeds=LEARNED))
    assert estimate.speed_source is SpeedSource.LEARNED
    assert estimate.speed_bytes_per_second == 30_000_000
    assert "slower than the 800 Mbit/s limit" in estimate.speed_note


def test_the_estimate_summary_reads_like_a_sentence() -> None:
    summary = estimate_transfer(params(), facts()).summary()
    assert summary.startswith("49.2 GiB at 10.0 MB/s (80 Mbit/s): about ")
    assert "preparing and processing" in summary


# -- storage ----------------------------------------------------------------------------------------


def test_a_report_survives_a_json_round_trip() -> None:
    report = assess(
        instance_params(speed_limit_mbps=50),
        facts(
            unfinished_jobs=(UnfinishedJob("j-old", "InError"),),
            measured_speeds=LEARNED,
            now=NOW + timedelta(microseconds=123),
        ),
    )
    stored = json.loads(json.dumps(report.to_dict()))
    assert stored["worst"] == "critical"
    assert stored["assessed_at"] == "2030-03-01T12:00:00Z"
    assert DrillReport.from_dict(stored) == report


def test_a_report_of_another_version_is_refused() -> None:
    stored = assess(params(), facts()).to_dict()
    stored["version"] = 99
    with pytest.raises(ValueError, match="version"):
        DrillReport.from_dict(stored)


@given(
    total=st.integers(min_value=0, max_value=1200),
    running=st.integers(min_value=0, max_value=60),
    limit=st.integers(min_value=0, max_value=10_000),
    speeds=st.lists(st.floats(min_value=1, max_value=1e10), max_size=5),
    system_gib=st.integers(min_value=1, max_value=2048),
)
def test_any_report_round_trips_and_blocks_exactly_when_critical(
    total: int, running: int, limit: int, speeds: list[float], system_gib: int
) -> None:
    report = assess(
        params(speed_limit_mbps=limit, system_disk=SystemDisk(size_gib=system_gib)),
        facts(
            quota=JobQuota(total_jobs=total, running_jobs=running),
            measured_speeds=tuple(MeasuredSpeed("cn-hangzhou", NetworkType.PUBLIC, s) for s in speeds),
        ),
    )
    assert DrillReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.has_critical is (report.worst is Level.CRITICAL)
    assert report.estimate.speed_bytes_per_second > 0


def test_an_estimate_round_trips_on_its_own() -> None:
    estimate = DrillEstimate(
        volume_bytes=5 * GIB,
        speed_bytes_per_second=1234.5,
        speed_source=SpeedSource.LEARNED,
        speed_note="note",
        samples=2,
        transfer_time=timedelta(seconds=4349),
    )
    assert DrillEstimate.from_dict(json.loads(json.dumps(estimate.to_dict()))) == estimate


# -- a source that does not report its used space (DescribeSourceServers has no such field) ----------

UNREPORTED = replace(
    LINUX,
    system_disk=DiskFacts(index=0, size_gib=40, used_gib=None),
    data_disks=(DiskFacts(index=1, size_gib=100, used_gib=None), DATA_2),
)


def test_unreported_used_space_is_a_warning_that_says_how_to_check_it() -> None:
    found = item(DrillCheck.DISK_SPACE, f=facts(source=UNREPORTED))
    assert found.level is Level.WARNING
    assert "did not report the used space of its system disk and data disk 1" in found.detail
    assert "df -h" in found.fix and "Disk Management" in found.fix
    assert "0 GiB used" not in found.detail


def test_unreported_used_space_still_blocks_a_disk_without_a_size() -> None:
    found = item(
        DrillCheck.DISK_SPACE, params(system_disk=SystemDisk(size_gib=None)), facts(source=UNREPORTED)
    )
    assert found.level is Level.CRITICAL
    assert "No size is set for system disk." in found.detail


def test_unreported_used_space_estimates_whole_disks_and_says_it_is_an_upper_bound() -> None:
    estimate = estimate_transfer(params(), facts(source=UNREPORTED))
    assert estimate.volume_is_upper_bound
    assert estimate.volume_bytes == (40 + 100) * GIB, "system disk and data disk 1; disk 2 is skipped"
    assert estimate.summary().startswith("At most 140")
    assert "did not report its used space" in estimate.summary()
    again = type(estimate).from_dict(json.loads(json.dumps(estimate.to_dict())))
    assert again == estimate
    older = {k: v for k, v in estimate.to_dict().items() if k != "volume_is_upper_bound"}
    assert not type(estimate).from_dict(older).volume_is_upper_bound, "reports stored before the flag"


def test_a_reported_used_space_gives_an_exact_volume() -> None:
    estimate = estimate_transfer(params(), facts())
    assert estimate.volume_bytes == MIGRATED_BYTES and not estimate.volume_is_upper_bound
    assert not estimate.summary().startswith("At most")
