"""SMC parameter rules shared by CreateReplicationJob and ModifyReplicationJobAttribute."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.cloud.api import Context
from sandbox.cloud.protocol import ApiError, Params, invalid_param, missing_param, parse_time
from sandbox.cloud.world import (
    GIB,
    DataDiskSpec,
    Disk,
    JobStatus,
    PartSpec,
    ReplicationJob,
    SourceServer,
    VSwitch,
)

NAME = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5:_-]{1,127}$")
TARGET_TYPES = ("Image", "ContainerImage", "TargetInstance")
MAX_TAGS = 20


def invalid_status(job: ReplicationJob, allowed: str) -> ApiError:
    """400 ReplicationJob.InvalidStatus with the metadata's message."""
    return ApiError(
        400,
        "ReplicationJob.InvalidStatus",
        f"The specified replication job status: {job.status} is invalid. "
        f"This operation can only be performed in the following status: {allowed}.",
    )


def invalid_business_status(job: ReplicationJob, allowed: str) -> ApiError:
    """400 ReplicationJob.InvalidBusinessStatus with the metadata's message."""
    current = job.phase.value if job.phase is not None else ""
    return ApiError(
        400,
        "ReplicationJob.InvalidBusinessStatus",
        f"The specified business status: {current} of the replication job is invalid. "
        f"This operation can only be performed in the following status: {allowed}.",
    )


def invalid_source_state(source: SourceServer, allowed: str) -> ApiError:
    """400 SourceServerState.Invalid with the metadata's message."""
    return ApiError(
        400,
        "SourceServerState.Invalid",
        f"The specified source server status: {source.state} is invalid. "
        f"This operation can only be performed in the following status: {allowed}.",
    )


def check_name(value: str | None, param: str) -> str | None:
    """SMC names: 2-128 chars, start with a letter, then letters, digits, `:`, `_`, `-`."""
    if value is None:
        return None
    if value.lower().startswith(("http://", "https://")) or NAME.match(value) is None:
        raise invalid_param(
            param,
            "It must be 2-128 characters, start with a letter "
            "and contain only letters, digits, ':', '_' or '-'.",
        )
    return value


def check_description(value: str | None, param: str = "Description") -> str | None:
    """Descriptions: at most 256 characters, not a URL."""
    if value is None:
        return None
    if len(value) > 256 or value.lower().startswith(("http://", "https://")):
        raise invalid_param(
            param, "It must be at most 256 characters and must not start with http:// or https://."
        )
    return value


def check_client_token(value: str | None) -> str | None:
    """ClientToken: at most 64 printable ASCII characters."""
    if value is None:
        return None
    if len(value) > 64 or not all(32 < ord(char) < 127 for char in value):
        raise invalid_param("ClientToken", "It must be at most 64 printable ASCII characters.")
    return value


@dataclass(slots=True)
class ReplicationSettings:
    """What `ReplicationParameters` carries."""

    raw: str
    bandwidth_limit_kbps: int = 0
    compress_level: int = 7
    checksum: bool = False


def parse_replication_parameters(value: str | None) -> ReplicationSettings | None:
    """JSON `{bandwidth_limit (KB/s, 0 = unlimited), compress_level 0-10, checksum}`, ≤ 2,048 chars."""
    if value is None:
        return None
    if len(value) > 2048:
        raise invalid_param("ReplicationParameters", "It must be at most 2048 characters.")
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise invalid_param("ReplicationParameters", "It must be a JSON object.") from None
    if not isinstance(data, dict):
        raise invalid_param("ReplicationParameters", "It must be a JSON object.")
    settings = ReplicationSettings(raw=value)
    if "bandwidth_limit" in data:
        limit = data["bandwidth_limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise invalid_param("ReplicationParameters", "bandwidth_limit must be an integer >= 0 (KB/s).")
        settings.bandwidth_limit_kbps = limit
    if "compress_level" in data:
        level = data["compress_level"]
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 10:
            raise invalid_param("ReplicationParameters", "compress_level must be an integer 0-10.")
        settings.compress_level = level
    if "checksum" in data:
        if not isinstance(data["checksum"], bool):
            raise invalid_param("ReplicationParameters", "checksum must be true or false.")
        settings.checksum = data["checksum"]
    return settings


def check_schedule(value: str | None, now: datetime) -> datetime | None:
    """ScheduledStartTime: ISO-8601 UTC, in the future and at most 30 days ahead."""
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise invalid_param("ScheduledStartTime", "Use the format yyyy-MM-ddTHH:mm:ssZ (UTC).")
    if moment <= now:
        raise invalid_param("ScheduledStartTime", "It must be later than the current time.")
    if moment > now + timedelta(days=30):
        raise invalid_param("ScheduledStartTime", "It must be within 30 days from now.")
    return moment


def check_valid_time(value: str | None, created: datetime) -> datetime | None:
    """ValidTime: between creation + 7 days and creation + 90 days."""
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise invalid_param("ValidTime", "Use the format yyyy-MM-ddTHH:mm:ssZ (UTC).")
    if not created + timedelta(days=7) <= moment <= created + timedelta(days=90):
        raise invalid_param("ValidTime", "It must be 7 to 90 days after the job's creation time.")
    return moment


def parse_tags(params: Params) -> dict[str, str]:
    """Tag.N.Key / Tag.N.Value, at most 20."""
    items = params.objects("Tag")
    if len(items) > MAX_TAGS:
        raise ApiError(400, "NumberExceed.Tags", "The maximum number of the Tag parameters cannot exceed 20.")
    tags: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        key = str(item.get("Key", ""))
        value = str(item.get("Value", ""))
        if not key or len(key) > 128 or key.startswith(("aliyun", "acs:", "http://", "https://")):
            raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.")
        if len(value) > 128 or value.startswith(("http://", "https://")):
            raise ApiError(400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.")
        tags[key] = value
    return tags


def _used_gib(disk: Disk) -> int:
    return max(math.ceil(disk.used_bytes / GIB), 1)


def _as_bool(value: Any, param: str) -> bool:
    text = str(value).lower()
    if text not in ("true", "false"):
        raise invalid_param(param, "It must be true or false.")
    return text == "true"


def _as_int(value: Any, param: str, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise invalid_param(param, "It must be an integer.") from None
    if not low <= number <= high:
        raise invalid_param(param, f"It must be between {low} and {high}.")
    return number


def _parts_by_device(items: list[Any], disk: Disk, param: str) -> list[PartSpec]:
    specs: list[PartSpec] = []
    devices = {disk.device_id(position): part for position, part in enumerate(disk.partitions)}
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue
        label = f"{param}.{position}"
        device = str(item.get("Device", ""))
        size_text = item.get("SizeBytes")
        if device not in devices:
            if size_text is not None or device:
                raise invalid_param(f"{label}.Device", f"The source disk has no partition {device!r}.")
            continue
        size = _as_int(size_text, f"{label}.SizeBytes", 1, 2**63) if size_text is not None else None
        block = _as_bool(item.get("Block", "true"), f"{label}.Block")
        specs.append(PartSpec(device=device, size_bytes=size, block=block, path=devices[device].path))
    return specs


def _parts_by_path(items: list[Any], disk: Disk, param: str) -> list[PartSpec]:
    specs: list[PartSpec] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue
        label = f"{param}.{position}"
        path = str(item.get("Path", ""))
        index = next((i for i, part in enumerate(disk.partitions) if part.path == path), None)
        if index is None:
            raise invalid_param(f"{label}.Path", f"The source disk has no partition mounted at {path!r}.")
        size_text = item.get("SizeBytes")
        size = _as_int(size_text, f"{label}.SizeBytes", 1, 2**63) if size_text is not None else None
        block = _as_bool(item.get("Block", "true"), f"{label}.Block")
        specs.append(PartSpec(device=disk.device_id(index), size_bytes=size, block=block, path=path))
    return specs


def _check_fits(disk_size_gib: int, disk: Disk, specs: list[PartSpec], param: str) -> None:
    if disk_size_gib < _used_gib(disk):
        raise invalid_param(
            param, f"It must be larger than the used space of the source disk ({_used_gib(disk)} GiB)."
        )
    total = 0
    for position in range(len(disk.partitions)):
        spec = next((item for item in specs if item.device == disk.device_id(position)), None)
        if spec is not None and spec.size_bytes is not None:
            total += spec.size_bytes
    if total > disk_size_gib * GIB:
        raise invalid_param(param, "The partitions do not fit in the disk.")


@dataclass(slots=True)
class DiskPlan:
    """Target disks a job asks for, validated against its source."""

    system_size: int | None = None
    system_parts: list[PartSpec] = field(default_factory=list)
    system_lvm: bool | None = None
    data_disks: list[DataDiskSpec] = field(default_factory=list)
    disks_request: dict[str, Any] | None = None
    touched: bool = False


def parse_disks(params: Params, source: SourceServer) -> DiskPlan:
    """SystemDiskSize / SystemDiskPart.N / DataDisk.N and the newer Disks.System / Disks.Data.N forms."""
    plan = DiskPlan()
    system_size = params.integer("SystemDiskSize", minimum=20, maximum=2048)
    system_parts_raw = params.objects("SystemDiskPart", max_items=32)
    data_raw = params.objects("DataDisk", max_items=16)
    disks_raw = params.tree("Disks")
    plan.touched = bool(system_size is not None or system_parts_raw or data_raw or disks_raw)
    plan.system_size = system_size
    plan.system_parts = _parts_by_device(system_parts_raw, source.system_disk, "SystemDiskPart")
    seen: set[int] = set()
    for position, item in enumerate(data_raw, start=1):
        if not isinstance(item, dict):
            continue
        label = f"DataDisk.{position}"
        if "Index" not in item:
            raise missing_param(f"{label}.Index")
        index = _as_int(item["Index"], f"{label}.Index", 1, 16)
        if index in seen:
            raise ApiError(
                400, "DataDisk.DuplicateIndex", "The source server data disk cannot contain the same index."
            )
        seen.add(index)
        disk = next((candidate for candidate in source.data_disks if candidate.index == index), None)
        if disk is None:
            raise ApiError(
                400,
                "ReplicationJobDataDiskIndex.Invalid",
                "The specified replication job contains data disk index not found in source server.",
            )
        if "Size" not in item:
            raise missing_param(f"{label}.Size")
        size = _as_int(item["Size"], f"{label}.Size", 20, 32768)
        parts = _parts_by_device(item.get("Part") or [], disk, f"{label}.Part")
        _check_fits(size, disk, parts, f"{label}.Size")
        plan.data_disks.append(DataDiskSpec(index=index, size_gib=size, parts=parts))
    if isinstance(disks_raw, dict) and disks_raw:
        _parse_disks_tree(disks_raw, source, plan, seen)
    if plan.system_size is not None:
        _check_fits(plan.system_size, source.system_disk, plan.system_parts, "SystemDiskSize")
    return plan


def _parse_disks_tree(tree: dict[str, Any], source: SourceServer, plan: DiskPlan, seen: set[int]) -> None:
    system = tree.get("System") or {}
    echo: dict[str, Any] = {}
    if isinstance(system, dict) and system:
        if "Size" in system:
            plan.system_size = _as_int(system["Size"], "Disks.System.Size", 20, 2048)
        if "LVM" in system:
            plan.system_lvm = _as_bool(system["LVM"], "Disks.System.LVM")
            if plan.system_lvm and source.os.is_windows:
                raise invalid_param("Disks.System.LVM", "LVM is not supported for Windows source servers.")
        parts = system.get("Part") or []
        if parts:
            plan.system_parts = _parts_by_path(
                parts if isinstance(parts, list) else [], source.system_disk, "Disks.System.Part"
            )
        echo["System"] = {"Size": plan.system_size, "LVM": plan.system_lvm, "Parts": plan.system_parts}
    data = tree.get("Data") or []
    echo_data = []
    for position, item in enumerate(data if isinstance(data, list) else [], start=1):
        if not isinstance(item, dict):
            continue
        label = f"Disks.Data.{position}"
        disk_id = str(item.get("DiskId", ""))
        if disk_id:
            disk = next((candidate for candidate in source.data_disks if candidate.disk_id == disk_id), None)
        else:
            disk = next((candidate for candidate in source.data_disks if candidate.index == position), None)
        if disk is None:
            raise ApiError(
                400,
                "ReplicationJobDataDiskIndex.Invalid",
                "The specified replication job contains data disk index not found in source server.",
            )
        if disk.index in seen:
            raise ApiError(
                400, "DataDisk.DuplicateIndex", "The source server data disk cannot contain the same index."
            )
        seen.add(disk.index)
        if "Size" not in item:
            raise missing_param(f"{label}.Size")
        size = _as_int(item["Size"], f"{label}.Size", 20, 32768)
        lvm = _as_bool(item["LVM"], f"{label}.LVM") if "LVM" in item else None
        if lvm and source.os.is_windows:
            raise invalid_param(f"{label}.LVM", "LVM is not supported for Windows source servers.")
        raw_parts = item.get("Part") or []
        parts = _parts_by_path(raw_parts if isinstance(raw_parts, list) else [], disk, f"{label}.Part")
        _check_fits(size, disk, parts, f"{label}.Size")
        plan.data_disks.append(
            DataDiskSpec(index=disk.index, size_gib=size, parts=parts, lvm=lvm, disk_id=disk_id)
        )
        echo_data.append({"DiskId": disk_id, "Size": size, "LVM": lvm, "Parts": parts})
    if echo_data:
        echo["Data"] = echo_data
    plan.disks_request = echo


def check_network(
    ctx: Context, region_id: str, net_mode: int, vpc_id: str | None, vswitch_id: str | None
) -> VSwitch | None:
    """NetMode 0 (Internet) or 2 (VPC, needs VSwitchId); a given VpcId must own the vSwitch."""
    if net_mode not in (0, 2):
        raise invalid_param("NetMode", "It must be 0 (Internet) or 2 (VPC).")
    if net_mode == 2 and vswitch_id is None:
        raise missing_param("VSwitchId")
    vswitch = None
    if vswitch_id is not None:
        vswitch = ctx.world.vswitches.get(vswitch_id)
        if vswitch is None or vswitch.account_uid != ctx.caller.account_uid or vswitch.region_id != region_id:
            raise ApiError(404, "InvalidVSwitchId.NotFound", "The specified VSwitchId does not exist.")
    if vpc_id is not None:
        vpc = ctx.world.vpcs.get(vpc_id)
        if vpc is None or vpc.account_uid != ctx.caller.account_uid or vpc.region_id != region_id:
            raise ApiError(404, "InvalidVpcId.NotFound", "The specified VpcId does not exist.")
        if vswitch is not None and vswitch.vpc_id != vpc_id:
            raise ApiError(
                400, "VSwitchIdVpcId.Mismatch", "The specified VSwitchId and VpcId does not match."
            )
    return vswitch


def image_name_taken(ctx: Context, region_id: str, image_name: str, *, except_job: str = "") -> bool:
    """Another (not yet deleted) job of the account already delivers this image name in the region."""
    return any(
        job.image_name == image_name and job.region_id == region_id and job.job_id != except_job
        for job in ctx.world.account_jobs(ctx.caller.account_uid)
        if job.status != JobStatus.DELETING
    )


def image_name_used(image_name: str) -> ApiError:
    """400 ImageName.UsedByReplicationJob with the metadata's message."""
    return ApiError(
        400,
        "ImageName.UsedByReplicationJob",
        f'The specified imageName: "{image_name}" was used by another replication job in the current region.',
    )


def job_name_taken(ctx: Context, name: str, *, except_job: str = "") -> bool:
    """Another job of the account already has this name."""
    return any(
        job.name == name and job.job_id != except_job
        for job in ctx.world.account_jobs(ctx.caller.account_uid)
        if job.status != JobStatus.DELETING
    )
