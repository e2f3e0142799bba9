"""The exact `CreateReplicationJob` request a migration request implies, in the SDK's API names."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import InvalidParams
from bot.domain.params import (
    GIB,
    KBPS_PER_MBPS,
    TARGET_TYPE_LABELS,
    LicenseType,
    MigrationParams,
    NetworkType,
    Partition,
    bandwidth_limit_kbps,
    describe_bandwidth_limit,
    format_gib,
    format_utc,
)
from bot.domain.validation import validate_static
from storage.enums import ExecutionMethod, TargetType

SERVER_MIGRATION_JOB = 0
"""`JobType` 0: server migration (1 OS, 2 cross-zone, 3 VMware agentless)."""

REPLICATION_PARAMETERS_MAX_CHARS = 2048
CLIENT_TOKEN_MAX_CHARS = 64


def replication_parameters(speed_limit_mbps: int, compression_level: int, checksum: bool) -> str:
    """`ReplicationParameters` JSON (also for `ModifyReplicationJobAttribute`); ≤ 2,048 characters."""
    text = json.dumps(
        {
            "bandwidth_limit": bandwidth_limit_kbps(speed_limit_mbps),
            "compress_level": compression_level,
            "checksum": checksum,
        },
        separators=(",", ":"),
    )
    if len(text) > REPLICATION_PARAMETERS_MAX_CHARS:
        raise ValueError("ReplicationParameters exceeds 2,048 characters")
    return text


def create_replication_job_request(params: MigrationParams, *, client_token: str) -> dict[str, Any]:
    """Input for `CreateReplicationJobRequest().from_map(d)`, in the SDK's normal form (its `to_map()`)."""
    # Only set keys appear, except DataDisk/SystemDiskPart/Tag: the SDK's to_map() always emits those
    # lists, and an empty list puts nothing on the wire. The migration test, template, private IP, SSL,
    # image check and diagnostic logs have no API field. ValidTime is left to SMC's default (30 days)
    # so the request depends on the parameters alone: the approved request is the executed one.
    errors = validate_static(params)
    if errors:
        raise InvalidParams(errors)
    if not client_token or len(client_token) > CLIENT_TOKEN_MAX_CHARS or not client_token.isascii():
        raise ValueError("ClientToken must be 1 to 64 ASCII characters")
    request: dict[str, Any] = {
        "RegionId": params.region_id,
        "ClientToken": client_token,
        "SourceId": params.source_id,
        "TargetType": params.target_type.value,
        "JobType": SERVER_MIGRATION_JOB,
    }
    if params.target_type is TargetType.IMAGE:
        request["ImageName"] = params.image_name
        if params.instance_type is not None:
            request["InstanceType"] = params.instance_type
    else:
        request["InstanceId"] = params.instance_id
    if params.job_name is not None:
        request["Name"] = params.job_name
    if params.description is not None:
        request["Description"] = params.description
    request["NetMode"] = int(params.network_type)
    if params.vpc_id is not None:
        request["VpcId"] = params.vpc_id
    if params.vswitch_id is not None:
        request["VSwitchId"] = params.vswitch_id
    request.update(_disk_fields(params))
    request["ReplicationParameters"] = replication_parameters(
        params.speed_limit_mbps, params.compression_level, params.checksum
    )
    request["RunOnce"] = not params.incremental
    if params.incremental:
        request["Frequency"] = params.sync_interval_hours
        request["MaxNumberOfImageToKeep"] = params.max_reserved_images
    if params.execution_method is ExecutionMethod.MIGRATE_LATER and params.scheduled_start is not None:
        request["ScheduledStartTime"] = format_utc(params.scheduled_start)
    if params.license_type is LicenseType.BYOL:
        request["LicenseType"] = LicenseType.BYOL.value
    request["Tag"] = [{"Key": t.key, "Value": t.value} for t in params.tags]
    return request


def uses_lvm(params: MigrationParams) -> bool:
    """True when a migrated disk is rebuilt as LVM, i.e. when the request carries `Disks` instead."""
    return params.system_disk.lvm or any(d.lvm for d in params.migrated_data_disks())


def _disk_fields(params: MigrationParams) -> dict[str, Any]:
    """One representation of the disks: the flat fields, or `Disks` alone when any disk uses LVM.

    Only `Disks` carries LVM, and SMC does not document what it does with both; the sandbox refuses both
    (`DataDisk.DuplicateIndex`). `Disks.Data.N` has no index: without a `DiskId` (DescribeSourceServers
    reports none) entry N is source data disk N, so validation refuses a skipped disk before a migrated one.
    """
    data_disks = params.migrated_data_disks()
    if uses_lvm(params):
        return {
            "DataDisk": [],
            "Disks": {
                "Data": [
                    {"LVM": d.lvm, "Part": [_path_part(p) for p in d.partitions], "Size": d.size_gib}
                    for d in data_disks
                ],
                "System": {
                    "LVM": params.system_disk.lvm,
                    "Part": [_path_part(p) for p in params.system_disk.partitions],
                    "Size": params.system_disk.size_gib,
                },
            },
            "SystemDiskPart": [],
        }
    return {
        "SystemDiskSize": params.system_disk.size_gib,
        "SystemDiskPart": [_part(p) for p in params.system_disk.partitions],
        "DataDisk": [
            {"Index": d.index, "Part": [_part(p) for p in d.partitions], "Size": d.size_gib}
            for d in data_disks
        ],
    }


def _part(part: Partition) -> dict[str, Any]:
    # SMC wants Device and SizeBytes together or not at all; forms prefill the source size.
    return {"Block": part.block, "Device": part.device, "SizeBytes": part.size_bytes}


def _path_part(part: Partition) -> dict[str, Any]:
    # `Disks.*.Part` names a partition by its mount path (the flat fields use the device id).
    return {"Block": part.block, "Path": part.path, "SizeBytes": part.size_bytes}


def flatten(request: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Wire names and values in order, flattened as the SDK does (`DataDisk.1.Size`, `Disks.System.LVM`)."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple):
            for position, inner in enumerate(value, start=1):
                walk(f"{prefix}.{position}", inner)
        else:
            out.append((prefix, value))

    walk("", request)
    return out


def describe_request(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One (wire name, value with its meaning) line per parameter sent, for the approval card."""
    return [(name, _describe(name, value)) for name, value in flatten(request)]


_NOTES: dict[str, str] = {
    "JobType": "server migration",
    "SystemDiskSize": "GiB",
    "MaxNumberOfImageToKeep": "images kept",
    "Frequency": "hours between incremental syncs",
    "ScheduledStartTime": "UTC; SMC starts the job then",
    "LicenseType": "bring your own licence",
    "ClientToken": "idempotency key: a retry never creates a second job",
}


_DISKS_DATA = re.compile(r"Disks\.Data\.(\d+)\.Size")
"""`Disks.Data.N` has no index field: entry N is the source's data disk N."""


def _describe(name: str, value: Any) -> str:
    leaf = name.rsplit(".", 1)[-1]
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    note = _NOTES.get(name)
    if name == "TargetType":
        note = TARGET_TYPE_LABELS.get(value)
    elif name == "NetMode":
        note = "VPC" if value == NetworkType.VPC else "public network"
    elif name == "RunOnce":
        note = "runs once" if value else "incremental job"
    elif name == "ReplicationParameters":
        note = _describe_replication_parameters(str(value))
    elif leaf == "Size":
        note = "GiB"
        data_position = _DISKS_DATA.fullmatch(name)
        if data_position is not None:
            note = f"GiB, source data disk {data_position.group(1)}"
    elif leaf == "Path":
        note = "partition mount path"
    elif leaf == "SizeBytes" and isinstance(value, int):
        note = f"bytes, {format_gib(value / GIB)} GiB"
    elif leaf == "Block":
        note = "block replication" if value else "file-level replication"
    elif leaf == "LVM":
        note = "rebuilt as LVM" if value else "no LVM"
    if name == "ReplicationParameters":
        return f"{shown}: {note}"
    return f"{shown} ({note})" if note else shown


def _describe_replication_parameters(text: str) -> str:
    values = json.loads(text)
    kbps = int(values["bandwidth_limit"])
    bandwidth = describe_bandwidth_limit(kbps // KBPS_PER_MBPS)
    checksum = "on" if values["checksum"] else "off"
    return f"{bandwidth}; compress_level {values['compress_level']}; checksum {checksum}"
