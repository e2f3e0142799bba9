"""World mutations shared by several APIs: launch/release instances, images, sources made from instances."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from sandbox.cloud.ids import IdFactory
from sandbox.cloud.world import Disk, Image, Instance, OsInfo, SourceServer, SourceState, World


def clone_disks(disks: list[Disk]) -> list[Disk]:
    """Independent copies of disks (and their partitions)."""
    return copy.deepcopy(disks)


def launch_instance(
    world: World,
    ids: IdFactory,
    *,
    account_uid: str,
    region_id: str,
    zone_id: str,
    name: str,
    instance_type: str,
    os: OsInfo,
    image_id: str,
    disks: list[Disk],
    vswitch_id: str,
    now: datetime,
    private_ip: str | None = None,
    security_group_ids: list[str] | None = None,
    purpose: str = "",
    description: str = "",
) -> Instance:
    """Create an instance that boots (Pending → Running) and whose agent comes online later."""
    instance_id = ids.new("i", region_id, length=17)
    vpc_id = ""
    address = ""
    if vswitch_id:
        vswitch = world.vswitches[vswitch_id]
        vpc_id = vswitch.vpc_id
        address = vswitch.allocate(private_ip)
    for disk in disks:
        if not disk.disk_id:
            disk.disk_id = ids.new("d", region_id)
    instance = Instance(
        instance_id=instance_id,
        account_uid=account_uid,
        region_id=region_id,
        zone_id=zone_id,
        name=name,
        instance_type=instance_type,
        os=os,
        image_id=image_id,
        disks=disks,
        vpc_id=vpc_id,
        vswitch_id=vswitch_id,
        private_ip=address,
        created=now,
        security_group_ids=list(security_group_ids or []),
        hostname=name if not os.is_windows else name[:15],
        description=description,
        status="Pending",
        running_at=now + timedelta(seconds=world.timings.instance_boot),
        assistant_ready_at=now + timedelta(seconds=world.timings.assistant_boot),
        purpose=purpose,
    )
    world.instances[instance_id] = instance
    return instance


def refresh_instance(instance: Instance, now: datetime) -> None:
    """Finish booting once its time has come."""
    if instance.status in ("Pending", "Starting") and instance.running_at is not None:
        if now >= instance.running_at:
            instance.status = "Running"
        elif instance.status == "Pending" and now >= instance.created + timedelta(seconds=5):
            instance.status = "Starting"


def release_instance(world: World, instance_id: str) -> None:
    """Delete an instance and give its private address back to the vSwitch."""
    instance = world.instances.pop(instance_id, None)
    if instance is None:
        return
    vswitch = world.vswitches.get(instance.vswitch_id)
    if vswitch is not None:
        vswitch.allocated.discard(instance.private_ip)


def create_image(
    world: World,
    ids: IdFactory,
    *,
    account_uid: str,
    region_id: str,
    name: str,
    os: OsInfo,
    system_disk: Disk,
    data_disks: list[Disk],
    now: datetime,
    job_id: str = "",
    description: str = "",
) -> Image:
    """Register an account's own image (what an SMC image target produces)."""
    image = Image(
        image_id=ids.new("m", region_id),
        region_id=region_id,
        name=name,
        os=os,
        size_gib=system_disk.size_gib,
        created=now,
        account_uid=account_uid,
        owner_alias="self",
        description=description,
        system_disk=system_disk,
        data_disks=data_disks,
        source_job_id=job_id,
    )
    world.images[image.key] = image
    return image


def source_from_instance(
    world: World,
    ids: IdFactory,
    *,
    account_uid: str,
    instance: Instance,
    now: datetime,
    source_id: str | None = None,
    name: str | None = None,
    state: SourceState = SourceState.AVAILABLE,
) -> SourceServer:
    """A source server describing an ECS instance (its OS, disks and used space) in `account_uid`."""
    disks = clone_disks(instance.disks)
    instance_type = world.instance_types.get(instance.instance_type)
    source = SourceServer(
        source_id=source_id or ids.new("s", instance.region_id),
        account_uid=account_uid,
        name=name or instance.name,
        os=copy.deepcopy(instance.os),
        system_disk=disks[0],
        data_disks=disks[1:],
        created=now,
        state=state,
        description="Source server imported by Cloud Assistant.",
        hostname=instance.hostname or instance.name,
        private_ip=instance.private_ip,
        cores=instance_type.cpu if instance_type else 2,
        memory_gib=instance_type.memory_gib if instance_type else 8.0,
        instance_account_uid=instance.account_uid,
        instance_id=instance.instance_id,
    )
    world.source_servers[source.source_id] = source
    return source
