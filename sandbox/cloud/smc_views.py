"""SMC response shapes: source servers, replication jobs and access tokens in the metadata's nesting."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sandbox.cloud.protocol import iso
from sandbox.cloud.world import (
    AccessToken,
    Disk,
    JobStatus,
    PartSpec,
    ReplicationJob,
    SourceServer,
)

_NEEDED_PATHS = frozenset({"/", "/boot", "C:\\"})


def _part_view(disk: Disk, position: int) -> dict[str, Any]:
    part = disk.partitions[position]
    return {
        "Device": disk.device_id(position),
        "Path": part.path,
        "SizeBytes": part.size_bytes,
        "CanBlock": part.can_block,
        "Need": part.need or part.path in _NEEDED_PATHS,
    }


def source_view(source: SourceServer) -> dict[str, Any]:
    """A source server as DescribeSourceServers returns it."""
    disks = [source.system_disk, *source.data_disks]
    system_info: dict[str, object] = {
        "agent_mode": "daemon",
        "agent_type": "aliyun",
        "client_type": "",
        "cores": str(source.cores),
        "cpu_usage": "3.20",
        "hostname": source.hostname,
        "ipv4": source.private_ip,
        "memory": f"{source.memory_gib:.2f}",
        "memory_usage": "2.10",
        "os_type": source.os.os_type,
        "os_name": source.os.name_en,
    }
    if source.reports_used_space:
        # Sandbox extension: the API has no used-space field; used bytes per disk index (0 = system).
        system_info["disk_used_bytes"] = {str(disk.index): str(disk.used_bytes) for disk in disks}
    return {
        "SourceId": source.source_id,
        "Name": source.name,
        "Description": source.description,
        "State": source.state.value,
        "CreationTime": iso(source.created),
        "Platform": source.os.platform,
        "Architecture": source.os.architecture,
        "AgentVersion": source.agent_version,
        "KernelLevel": 0 if source.os.is_windows else 1,
        "ReplicationDriver": "SMT",
        "HeartbeatRate": source.heartbeat_rate,
        "SystemDiskSize": source.system_disk.size_gib,
        "SystemDiskParts": {
            "SystemDiskPart": [
                _part_view(source.system_disk, i) for i in range(len(source.system_disk.partitions))
            ]
        },
        "DataDisks": {
            "DataDisk": [
                {
                    "Index": disk.index,
                    "Size": disk.size_gib,
                    "Path": disk.partitions[0].path if disk.partitions else "",
                    "Parts": {"Part": [_part_view(disk, i) for i in range(len(disk.partitions))]},
                }
                for disk in source.data_disks
            ]
        },
        "SystemInfo": json.dumps(system_info, separators=(",", ":")),
        "ErrorCode": source.error_code,
        "StatusInfo": source.status_info,
        "JobId": source.last_job_id,
        "ResourceGroupId": "",
        "WorkgroupId": "",
        "Tags": {"Tag": [{"Key": key, "Value": value} for key, value in source.tags.items()]},
    }


def _iso_or_empty(moment: datetime | None) -> str:
    return iso(moment) if moment is not None else ""


def _spec_parts(parts: list[PartSpec]) -> list[dict[str, Any]]:
    return [{"Device": spec.device, "SizeBytes": spec.size_bytes or 0, "Block": spec.block} for spec in parts]


def _disks_echo(job: ReplicationJob) -> dict[str, Any]:
    request = job.disks_request or {}
    result: dict[str, Any] = {}
    system = request.get("System")
    if isinstance(system, dict):
        parts = system.get("Parts") or []
        result["System"] = {
            "DiskId": "",
            "Size": system.get("Size") or job.system_disk_size or 0,
            "LVM": bool(system.get("LVM")),
            "Parts": {
                "Part": [
                    {"Path": spec.path, "SizeBytes": spec.size_bytes or 0, "Block": spec.block}
                    for spec in parts
                    if isinstance(spec, PartSpec)
                ]
            },
        }
    data = request.get("Data")
    if isinstance(data, list):
        # The SDK nests the list one level deeper than the request: Disks.Data.Data[].
        result["Data"] = {
            "Data": [
                {
                    "DiskId": item.get("DiskId", ""),
                    "Size": item.get("Size", 0),
                    "LVM": bool(item.get("LVM")),
                    "Parts": {
                        "Part": [
                            {"Path": spec.path, "SizeBytes": spec.size_bytes or 0, "Block": spec.block}
                            for spec in item.get("Parts") or []
                            if isinstance(spec, PartSpec)
                        ]
                    },
                }
                for item in data
                if isinstance(item, dict)
            ]
        }
    return result


def _business_status(job: ReplicationJob) -> str:
    if job.status in (JobStatus.RUNNING, JobStatus.IN_ERROR, JobStatus.STOPPED) and job.phase is not None:
        return job.phase.value
    return ""


def job_view(job: ReplicationJob) -> dict[str, Any]:
    """A replication job as DescribeReplicationJobs returns it."""
    view: dict[str, Any] = {
        "JobId": job.job_id,
        "Name": job.name,
        "Description": job.description,
        "SourceId": job.source_id,
        "RegionId": job.region_id,
        "Status": job.status.value,
        "BusinessStatus": _business_status(job),
        "Progress": float(job.progress),
        "ErrorCode": job.error_code,
        "StatusInfo": job.status_info,
        "TargetType": job.target_type,
        "ImageName": job.image_name,
        "ImageId": job.image_id,
        "InstanceId": job.instance_id,
        "TransitionInstanceId": job.transition_instance_id,
        "SystemDiskSize": job.system_disk_size or 0,
        "SystemDiskParts": {"SystemDiskPart": _spec_parts(job.system_parts)},
        "DataDisks": {
            "DataDisk": [
                {"Index": spec.index, "Size": spec.size_gib, "Parts": {"Part": _spec_parts(spec.parts)}}
                for spec in job.data_disks
            ]
        },
        "NetMode": job.net_mode,
        "VpcId": job.vpc_id,
        "VSwitchId": job.vswitch_id,
        "ReplicationParameters": job.replication_parameters,
        "RunOnce": job.run_once,
        "Frequency": job.frequency or 0,
        "MaxNumberOfImageToKeep": job.max_images or 0,
        "InstanceType": job.instance_type,
        "LaunchTemplateId": job.launch_template_id,
        "LaunchTemplateVersion": job.launch_template_version,
        "InstanceRamRole": job.instance_ram_role,
        "ContainerNamespace": job.container_namespace,
        "ContainerRepository": job.container_repository,
        "ContainerTag": job.container_tag,
        "LicenseType": job.license_type,
        "JobType": job.job_type,
        "ResourceGroupId": job.resource_group_id,
        "WorkgroupId": "",
        "CreationTime": iso(job.created),
        "StartTime": _iso_or_empty(job.start_time),
        "EndTime": _iso_or_empty(job.end_time),
        "ScheduledStartTime": _iso_or_empty(job.scheduled_start),
        "ValidTime": _iso_or_empty(job.valid_time),
        "ReplicationJobRuns": {
            "ReplicationJobRun": [
                {
                    "StartTime": iso(run.start),
                    "EndTime": iso(run.end),
                    "Type": run.run_type,
                    "ImageId": run.image_id,
                }
                for run in job.runs
            ]
        },
        "Tags": {"Tag": [{"Key": key, "Value": value} for key, value in job.tags.items()]},
    }
    if job.disks_request:
        view["Disks"] = _disks_echo(job)
    return view


def token_status(token: AccessToken, now: datetime) -> str:
    """activated (used), unactivated (not used yet) or expired (past TTL or disabled)."""
    if token.disabled or now >= token.expires():
        return "expired"
    return "activated" if token.registered_count > 0 else "unactivated"


def token_view(token: AccessToken, now: datetime) -> dict[str, Any]:
    """An access token as ListAccessTokens returns it (never its code)."""
    return {
        "AccessTokenId": token.token_id,
        "Name": token.name,
        "Description": token.description,
        "Count": str(token.count),
        "TimeToLiveInDays": str(token.ttl_days),
        "RegisteredCount": str(token.registered_count),
        "CreationTime": iso(token.created),
        "Status": token_status(token, now),
    }
