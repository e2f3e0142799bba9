"""Parameter sets and cloud facts shaped like the sandbox's default world, for rendering and parsing tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.cloud.ports import OsType, Partition, SourceDisk, SourceServer, SourceServerState
from bot.domain.params import (
    GIB,
    DataDisk,
    LicenseType,
    MigrationParams,
    NetworkType,
    PrivateIpMode,
    SystemDisk,
    Tag,
)
from bot.domain.params import Partition as ParamPartition
from bot.domain.validation import InstanceFacts, VSwitchFacts
from storage.enums import ExecutionMethod, TargetType

SOURCE_ID = "s-bp1dtyvdak02x846kq4p"
WINDOWS_ID = "s-bp1knv31zn9d3jznb5y3"
REGION = "cn-hangzhou"
INSTANCE_ID = "i-bp14kzy194uiygtm79ma"
VPC_ID = "vpc-bp1e4rhn51r4wgor8b81"
VSWITCH_ID = "vsw-bp1yg0cajhfcobh1gcyd"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def linux_source(data_disks: int = 1, partitions: int = 1) -> SourceServer:
    """web-prod-02 with `data_disks` data disks of `partitions` partitions each."""
    system = SourceDisk(
        index=0,
        size_gib=40,
        used_bytes=int(13.1 * GIB),
        partitions=(
            Partition(device="0_0", path="/boot", size_bytes=GIB, can_block=True, used_bytes=int(0.2 * GIB)),
            Partition(
                device="0_1", path="/", size_bytes=39 * GIB, can_block=True, used_bytes=int(12.9 * GIB)
            ),
        ),
    )
    data = tuple(
        SourceDisk(
            index=i,
            size_gib=100 * partitions,
            path=f"/data{i}",
            used_bytes=int(38.5 * GIB),
            partitions=tuple(
                Partition(
                    device=f"{i}_{p}",
                    path=f"/data{i}/part{p}",
                    size_bytes=100 * GIB,
                    can_block=p % 2 == 0,
                    used_bytes=int(10.5 * GIB),
                )
                for p in range(partitions)
            ),
        )
        for i in range(1, data_disks + 1)
    )
    return SourceServer(
        id=SOURCE_ID,
        name="web-prod-02",
        state=SourceServerState.AVAILABLE,
        platform="CentOS",
        os_type=OsType.LINUX,
        system_disk=system,
        data_disks=data,
    )


def windows_source() -> SourceServer:
    return SourceServer(
        id=WINDOWS_ID,
        name="win-ad-01",
        state=SourceServerState.AVAILABLE,
        platform="Windows Server 2019",
        os_type=OsType.WINDOWS,
        system_disk=SourceDisk(
            index=0,
            size_gib=80,
            used_bytes=int(31.5 * GIB),
            partitions=(Partition(device="0_0", path="C:\\", size_bytes=80 * GIB, can_block=True),),
        ),
        data_disks=(
            SourceDisk(
                index=1,
                size_gib=200,
                path="D:\\",
                used_bytes=75 * GIB,
                partitions=(Partition(device="1_0", path="D:\\", size_bytes=200 * GIB, can_block=True),),
            ),
        ),
    )


def target_instance() -> InstanceFacts:
    return InstanceFacts(
        instance_id=INSTANCE_ID,
        region_id=REGION,
        os_type=None,
        system_disk_gib=60,
        data_disk_gib=(200,),
        vswitch=VSwitchFacts(
            vswitch_id=VSWITCH_ID, cidr="10.10.1.0/24", free_ips=210, zone_id="cn-hangzhou-h"
        ),
    )


def image_params(**changes: object) -> MigrationParams:
    """A valid image migration of web-prod-02 (one data disk)."""
    values: dict[str, object] = {
        "source_id": SOURCE_ID,
        "target_type": TargetType.IMAGE,
        "region_id": REGION,
        "image_name": "web-prod-02",
        "execution_method": ExecutionMethod.TEST_AND_MIGRATE,
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100),),
    }
    values.update(changes)
    return MigrationParams.model_validate(values)


def everything_params(data_disks: int = 1, partitions: int = 1, *, tags: int = 3) -> MigrationParams:
    """An instance migration over VPC with every optional field set, partitions listed on every disk."""

    def parts(disk: int, count: int, size: int) -> tuple[ParamPartition, ...]:
        return tuple(
            ParamPartition(
                device=f"{disk}_{p}", size_bytes=size * GIB, path=f"/data{disk}/part{p}", block=False
            )
            for p in range(count)
        )

    return MigrationParams(
        source_id=SOURCE_ID,
        target_type=TargetType.TARGET_INSTANCE,
        region_id=REGION,
        instance_id=INSTANCE_ID,
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_LATER,
        scheduled_start=NOW + timedelta(days=1),
        incremental=True,
        sync_interval_hours=24,
        max_reserved_images=5,
        template_name="vpc-hangzhou",
        network_type=NetworkType.VPC,
        vpc_id=VPC_ID,
        vswitch_id=VSWITCH_ID,
        private_ip_mode=PrivateIpMode.MANUAL,
        private_ip="10.10.1.50",
        system_disk=SystemDisk(
            size_gib=60,
            lvm=True,
            partitions=(
                ParamPartition(device="0_0", size_bytes=GIB, path="/boot", block=True),
                ParamPartition(device="0_1", size_bytes=50 * GIB, path="/", block=False),
            ),
        ),
        data_disks=tuple(
            DataDisk(index=i, size_gib=100 * partitions, lvm=i % 2 == 0, partitions=parts(i, partitions, 90))
            for i in range(1, data_disks + 1)
        ),
        job_name="migrate-web-prod-02",
        description="Quarterly-move",
        speed_limit_mbps=100,
        compression_level=3,
        checksum=True,
        license_type=LicenseType.BYOL,
        tags=tuple(Tag(key=f"key{i:02d}", value=f"value-{i:02d}") for i in range(tags)),
    )
