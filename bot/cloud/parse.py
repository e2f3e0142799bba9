"""Response bodies (dicts in API field names) → port values; tolerant of absent fields."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.cloud.ports import (
    AccessToken,
    AccessTokenStatus,
    BusinessStatus,
    CallerIdentity,
    CloudAssistantStatus,
    Image,
    Instance,
    InstanceDisk,
    InstanceInvocation,
    InstanceType,
    Invocation,
    InvocationStatus,
    JobStatus,
    OsType,
    Partition,
    Region,
    ReplicationJob,
    ReplicationJobRun,
    SecurityGroup,
    SourceDisk,
    SourceServer,
    SourceServerState,
    Vpc,
    VSwitch,
    Zone,
)

OUTPUT_TAIL_CHARS = 4000

Body = Mapping[str, Any]


def items(body: Body | None, *path: str) -> list[Body]:
    """The list at `path` (Alibaba wraps lists: {"Instances": {"Instance": [...]}})."""
    node: Any = body
    for key in path:
        if not (type(node) is dict or isinstance(node, Mapping)):
            return []
        node = node.get(key)
    if isinstance(node, list):
        # JSON objects are dicts: the exact type check first spares the (slow) ABC check per element.
        return [n for n in node if type(n) is dict or isinstance(n, Mapping)]
    return []


def strings(body: Body | None, *path: str) -> list[str]:
    node: Any = body
    for key in path:
        if not isinstance(node, Mapping):
            return []
        node = node.get(key)
    return [str(n) for n in node] if isinstance(node, list) else []


def text(body: Body | None, key: str, default: str = "") -> str:
    value = body.get(key) if body else None
    return default if value is None else str(value)


def opt_text(body: Body | None, key: str) -> str | None:
    return _opt_text(body.get(key) if body else None)


def opt_int(body: Body | None, key: str) -> int | None:
    return _opt_int(body.get(key) if body else None)


def opt_float(body: Body | None, key: str) -> float | None:
    return _opt_float(body.get(key) if body else None)


def opt_bool(body: Body | None, key: str) -> bool | None:
    return _opt_bool(body.get(key) if body else None)


def timestamp(body: Body | None, key: str) -> datetime | None:
    """Alibaba's UTC times: 2019-06-04T13:35:00Z, and ECS's minute form 2017-12-10T04:04Z."""
    return _timestamp(body.get(key) if body else None)


def parse_time(value: str) -> datetime | None:
    raw = value.strip().replace("Z", "+00:00")
    for candidate in (raw, raw.replace("+00:00", ":00+00:00")):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# The same rules on a value already looked up: the hot path (a poll describes thousands of jobs).


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _opt_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _opt_int(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _opt_float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(str(value).rstrip("%"))
    except (TypeError, ValueError):
        return None


def _opt_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if type(value) is str and len(value) == 20 and value[10] == "T" and value[19] == "Z":
        # The canonical 2019-06-04T13:35:00Z: fromisoformat reads its Z as UTC, as parse_time does.
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return parse_time(str(value))


def os_type(value: str | None, hint: str = "") -> OsType:
    if value:
        return OsType(value.lower())
    return OsType.WINDOWS if "windows" in hint.lower() else (OsType.LINUX if hint else OsType.UNKNOWN)


# ---- STS ----------------------------------------------------------------------------------------


def caller_identity(body: Body) -> CallerIdentity:
    return CallerIdentity(
        account_id=text(body, "AccountId"),
        arn=text(body, "Arn"),
        identity_type=text(body, "IdentityType"),
        principal_id=opt_text(body, "PrincipalId"),
    )


# ---- ECS ----------------------------------------------------------------------------------------


def region(body: Body) -> Region:
    return Region(id=text(body, "RegionId"), name=text(body, "LocalName") or text(body, "RegionId"))


def zone(body: Body) -> Zone:
    return Zone(id=text(body, "ZoneId"), name=text(body, "LocalName") or text(body, "ZoneId"))


def instance(body: Body) -> Instance:
    vpc = body.get("VpcAttributes") if isinstance(body.get("VpcAttributes"), Mapping) else {}
    private_ips = strings(vpc, "PrivateIpAddress", "IpAddress") or strings(
        body, "InnerIpAddress", "IpAddress"
    )
    if not private_ips:
        primary = [text(n, "PrimaryIpAddress") for n in items(body, "NetworkInterfaces", "NetworkInterface")]
        private_ips = [ip for ip in primary if ip]
    eip = body.get("EipAddress") if isinstance(body.get("EipAddress"), Mapping) else {}
    public_ips = strings(body, "PublicIpAddress", "IpAddress") or (
        [text(eip, "IpAddress")] if opt_text(eip, "IpAddress") else []
    )
    os_name = text(body, "OSNameEn") or text(body, "OSName")
    return Instance(
        id=text(body, "InstanceId"),
        name=text(body, "InstanceName"),
        region=text(body, "RegionId"),
        zone=text(body, "ZoneId"),
        os_type=os_type(opt_text(body, "OSType"), os_name),
        os_name=os_name,
        status=text(body, "Status"),
        private_ip=private_ips[0] if private_ips else None,
        vpc_id=opt_text(vpc, "VpcId"),
        vswitch_id=opt_text(vpc, "VSwitchId"),
        instance_type=text(body, "InstanceType"),
        cpu=opt_int(body, "Cpu"),
        memory_mib=opt_int(body, "Memory"),
        image_id=opt_text(body, "ImageId"),
        public_ip=public_ips[0] if public_ips else None,
    )


def instance_disk(body: Body) -> InstanceDisk:
    return InstanceDisk(
        id=text(body, "DiskId"),
        instance_id=opt_text(body, "InstanceId"),
        type=text(body, "Type"),
        size_gib=opt_int(body, "Size") or 0,
        device=opt_text(body, "Device"),
        category=opt_text(body, "Category"),
    )


def vpc(body: Body) -> Vpc:
    return Vpc(
        id=text(body, "VpcId"),
        name=text(body, "VpcName"),
        region=text(body, "RegionId"),
        cidr=text(body, "CidrBlock"),
        status=text(body, "Status"),
        is_default=bool(opt_bool(body, "IsDefault")),
    )


def vswitch(body: Body) -> VSwitch:
    return VSwitch(
        id=text(body, "VSwitchId"),
        vpc_id=text(body, "VpcId"),
        zone=text(body, "ZoneId"),
        cidr=text(body, "CidrBlock"),
        available_ips=opt_int(body, "AvailableIpAddressCount") or 0,
        name=text(body, "VSwitchName"),
        status=text(body, "Status"),
    )


def security_group(body: Body) -> SecurityGroup:
    return SecurityGroup(
        id=text(body, "SecurityGroupId"),
        name=text(body, "SecurityGroupName"),
        vpc_id=text(body, "VpcId"),
        description=text(body, "Description"),
        type=text(body, "SecurityGroupType") or "normal",
    )


def image(body: Body, region_id: str) -> Image:
    os_name = text(body, "OSNameEn") or text(body, "OSName")
    return Image(
        id=text(body, "ImageId"),
        name=text(body, "ImageName"),
        region=region_id,
        status=text(body, "Status"),
        os_type=os_type(opt_text(body, "OSType"), os_name or text(body, "Platform")),
        os_name=os_name,
        platform=text(body, "Platform"),
        size_gib=opt_int(body, "Size"),
        owner=text(body, "ImageOwnerAlias"),
        creation_time=timestamp(body, "CreationTime"),
    )


def instance_type(body: Body) -> InstanceType:
    return InstanceType(
        id=text(body, "InstanceTypeId"),
        family=text(body, "InstanceTypeFamily"),
        cpu_cores=opt_int(body, "CpuCoreCount"),
        memory_gib=opt_float(body, "MemorySize"),
    )


def cloud_assistant_status(body: Body) -> CloudAssistantStatus:
    return CloudAssistantStatus(
        instance_id=text(body, "InstanceId"),
        online=text(body, "CloudAssistantStatus").lower() == "true",
        version=opt_text(body, "CloudAssistantVersion"),
        os_type=os_type(opt_text(body, "OSType")),
        last_heartbeat=timestamp(body, "LastHeartbeatTime"),
    )


def decode_output(raw: str, base64_encoded: bool) -> str:
    """Cloud Assistant output (Base64 unless PlainText was asked for), tail only."""
    value = raw
    if base64_encoded and raw:
        try:
            value = base64.b64decode(raw, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            value = raw
    return value[-OUTPUT_TAIL_CHARS:]


def invocation(body: Body, *, base64_output: bool = True) -> Invocation:
    instances = tuple(
        InstanceInvocation(
            instance_id=text(i, "InstanceId"),
            status=InvocationStatus(text(i, "InvocationStatus") or "Unknown"),
            exit_code=opt_int(i, "ExitCode"),
            error_code=opt_text(i, "ErrorCode"),
            error_info=opt_text(i, "ErrorInfo"),
            output=decode_output(text(i, "Output"), base64_output),
            finished_at=timestamp(i, "FinishTime"),
        )
        for i in items(body, "InvokeInstances", "InvokeInstance")
    )
    return Invocation(
        invoke_id=text(body, "InvokeId"),
        status=InvocationStatus(text(body, "InvocationStatus") or "Unknown"),
        instances=instances,
    )


# ---- SMC ----------------------------------------------------------------------------------------


def access_token(body: Body) -> AccessToken:
    return AccessToken(
        id=text(body, "AccessTokenId"),
        name=text(body, "Name"),
        status=AccessTokenStatus(text(body, "Status") or "unknown"),
        count=opt_int(body, "Count"),
        registered_count=opt_int(body, "RegisteredCount"),
        ttl_days=opt_int(body, "TimeToLiveInDays"),
        creation_time=timestamp(body, "CreationTime"),
        description=text(body, "Description"),
    )


def _system_info(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): v for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def _flat(info: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in info.items()}


def _disk_used_bytes(info: Mapping[str, Any]) -> dict[int, int]:
    """Used bytes per disk index (0 = system) from SystemInfo; the API itself has no used-space field."""
    raw = info.get("disk_used_bytes")
    if not isinstance(raw, Mapping):
        return {}
    used: dict[int, int] = {}
    for index, value in raw.items():
        try:
            used[int(index)] = int(value)
        except (TypeError, ValueError):
            continue
    return used


def _partitions(parts: Sequence[Body]) -> tuple[Partition, ...]:
    return tuple(
        Partition(
            device=text(p, "Device"),
            path=text(p, "Path"),
            size_bytes=opt_int(p, "SizeBytes") or 0,
            can_block=bool(opt_bool(p, "CanBlock")),
            need=opt_bool(p, "Need") is not False,
            used_bytes=opt_int(p, "UsedSizeBytes"),
        )
        for p in parts
    )


def _disk_used(index: int, partitions: Sequence[Partition], reported: Mapping[int, int]) -> int | None:
    if index in reported:
        return reported[index]
    used = [p.used_bytes for p in partitions]
    if not used or any(u is None for u in used):
        return None
    return sum(u for u in used if u is not None)


def source_server(body: Body) -> SourceServer:
    info = _system_info(text(body, "SystemInfo"))
    used = _disk_used_bytes(info)
    system_parts = _partitions(items(body, "SystemDiskParts", "SystemDiskPart"))
    system_size = opt_int(body, "SystemDiskSize")
    system = body.get("Disks", {}).get("System") if isinstance(body.get("Disks"), Mapping) else None
    if system_size is None and isinstance(system, Mapping):
        system_size = opt_int(system, "Size")
        system_parts = system_parts or _partitions(items(system, "Parts", "Part"))
    data_disks: list[SourceDisk] = []
    for disk in items(body, "DataDisks", "DataDisk"):
        parts = _partitions(items(disk, "Parts", "Part"))
        index = opt_int(disk, "Index") or len(data_disks) + 1
        data_disks.append(
            SourceDisk(
                index=index,
                size_gib=opt_int(disk, "Size") or 0,
                path=text(disk, "Path"),
                used_bytes=_disk_used(index, parts, used),
                partitions=parts,
            )
        )
    platform = text(body, "Platform")
    reported_os = info.get("os_type")
    heartbeat = info.get("last_heartbeat")
    return SourceServer(
        id=text(body, "SourceId"),
        name=text(body, "Name"),
        state=SourceServerState(text(body, "State") or "Unknown"),
        platform=platform,
        os_type=os_type(reported_os if isinstance(reported_os, str) else None, platform),
        architecture=text(body, "Architecture"),
        agent_version=text(body, "AgentVersion"),
        heartbeat_rate_s=opt_int(body, "HeartbeatRate"),
        last_heartbeat=parse_time(heartbeat) if isinstance(heartbeat, str) else None,
        job_id=opt_text(body, "JobId"),
        error_code=opt_text(body, "ErrorCode"),
        status_info=text(body, "StatusInfo"),
        description=text(body, "Description"),
        creation_time=timestamp(body, "CreationTime"),
        system_disk=(
            SourceDisk(
                index=0,
                size_gib=system_size,
                used_bytes=_disk_used(0, system_parts, used),
                partitions=system_parts,
            )
            if system_size is not None
            else None
        ),
        data_disks=tuple(sorted(data_disks, key=lambda d: d.index)),
        system_info=_flat(info),
    )


def replication_job(body: Body) -> ReplicationJob:
    get = body.get
    business = _opt_text(get("BusinessStatus"))
    runs = tuple(
        ReplicationJobRun(
            image_id=_opt_text(r.get("ImageId")),
            type=_text(r.get("Type")),
            start_time=_timestamp(r.get("StartTime")),
            end_time=_timestamp(r.get("EndTime")),
        )
        for r in items(body, "ReplicationJobRuns", "ReplicationJobRun")
    )
    tags = tuple((_text(t.get("Key")), _text(t.get("Value"))) for t in items(body, "Tags", "Tag"))
    return ReplicationJob(
        id=_text(get("JobId")),
        name=_text(get("Name")),
        source_id=_text(get("SourceId")),
        region=_text(get("RegionId")),
        status=JobStatus(_text(get("Status")) or "Unknown"),
        business_status=BusinessStatus(business) if business else None,
        progress=_opt_float(get("Progress")) or 0.0,
        error_code=_opt_text(get("ErrorCode")),
        status_info=_text(get("StatusInfo")),
        description=_text(get("Description")),
        target_type=_text(get("TargetType")),
        job_type=_opt_int(get("JobType")),
        image_id=_opt_text(get("ImageId")),
        image_name=_opt_text(get("ImageName")),
        instance_id=_opt_text(get("InstanceId")),
        transition_instance_id=_opt_text(get("TransitionInstanceId")),
        instance_type=_opt_text(get("InstanceType")),
        net_mode=_opt_int(get("NetMode")),
        vpc_id=_opt_text(get("VpcId")),
        vswitch_id=_opt_text(get("VSwitchId")),
        system_disk_size=_opt_int(get("SystemDiskSize")),
        license_type=_opt_text(get("LicenseType")),
        runs=runs,
        creation_time=_timestamp(get("CreationTime")),
        start_time=_timestamp(get("StartTime")),
        end_time=_timestamp(get("EndTime")),
        scheduled_start_time=_timestamp(get("ScheduledStartTime")),
        valid_time=_timestamp(get("ValidTime")),
        run_once=_opt_bool(get("RunOnce")),
        frequency=_opt_int(get("Frequency")),
        max_images=_opt_int(get("MaxNumberOfImageToKeep")),
        replication_parameters=_text(get("ReplicationParameters")),
        tags=tags,
    )
