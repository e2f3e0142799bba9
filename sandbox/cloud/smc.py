"""SMC 2019-06-01: access tokens, source servers, replication jobs (state rules and quotas), tags."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sandbox.cloud.api import Context, Handler
from sandbox.cloud.ids import secret_token
from sandbox.cloud.protocol import (
    ApiError,
    Params,
    invalid_param,
    missing_param,
    newest_first,
    page_by_number,
    slice_page,
)
from sandbox.cloud.replication import refresh_source_state
from sandbox.cloud.smc_rules import (
    TARGET_TYPES,
    check_client_token,
    check_description,
    check_name,
    check_network,
    check_schedule,
    check_valid_time,
    image_name_taken,
    image_name_used,
    invalid_business_status,
    invalid_source_state,
    invalid_status,
    job_name_taken,
    parse_disks,
    parse_replication_parameters,
    parse_tags,
)
from sandbox.cloud.smc_views import job_view, source_view, token_view
from sandbox.cloud.world import (
    AccessToken,
    JobStatus,
    Phase,
    ReplicationJob,
    SourceServer,
    SourceState,
)

DEFAULT_VALID_DAYS = 30
MAX_JOB_IDS = 50
MAX_PAGE_SIZE = 50


# -- access tokens ------------------------------------------------------------------------------------
def create_access_token(ctx: Context, params: Params) -> dict[str, Any]:
    """CreateAccessToken: an activation code (returned once) with a use count and a TTL."""
    name = check_name(params.text("Name"), "Name")
    description = check_description(params.text("Description"))
    count = params.int_or("Count", 100, minimum=1, maximum=1000)
    ttl = params.int_or("TimeToLiveInDays", 30, minimum=1, maximum=90)
    token = AccessToken(
        token_id=ctx.ids.new("at", None),
        account_uid=ctx.caller.account_uid,
        code=secret_token(32),
        count=count,
        ttl_days=ttl,
        created=ctx.now,
        name=name or "",
        description=description or "",
    )
    ctx.world.access_tokens[token.token_id] = token
    return {"AccessTokenId": token.token_id, "AccessTokenCode": token.code}


def _own_token(ctx: Context, params: Params) -> AccessToken:
    token_id = params.require_text("AccessTokenId")
    token = ctx.world.access_tokens.get(token_id)
    if token is None or token.account_uid != ctx.caller.account_uid:
        raise ApiError(404, "InvalidAccessTokenId.NotFound", "The specified AccessTokenId does not exist.")
    return token


def list_access_tokens(ctx: Context, params: Params) -> dict[str, Any]:
    """ListAccessTokens: by id, name or status (activated / unactivated / expired)."""
    ids = params.repeat("AccessTokenId", max_items=100)
    name = params.text("Name")
    status = params.text("Status")
    rows = [
        token_view(token, ctx.now)
        for token in newest_first(ctx.world.access_tokens.values(), lambda item: item.created)
        if token.account_uid == ctx.caller.account_uid
        and (not ids or token.token_id in ids)
        and (name is None or token.name == name)
    ]
    if status is not None:
        rows = [row for row in rows if row["Status"] == status]
    return {
        "TotalCount": len(rows),
        "PageNumber": 1,
        "PageSize": max(len(rows), 20),
        "AccessTokens": {"AccessToken": rows},
    }


def disable_access_token(ctx: Context, params: Params) -> dict[str, Any]:
    """DisableAccessToken: the code registers no more sources."""
    _own_token(ctx, params).disabled = True
    return {}


def delete_access_token(ctx: Context, params: Params) -> dict[str, Any]:
    """DeleteAccessToken."""
    token = _own_token(ctx, params)
    del ctx.world.access_tokens[token.token_id]
    return {}


# -- source servers -----------------------------------------------------------------------------------
def _own_source(ctx: Context, source_id: str) -> SourceServer:
    source = ctx.world.source_servers.get(source_id)
    if source is None or source.account_uid != ctx.caller.account_uid:
        raise ApiError(404, "InvalidSourceId.NotFound", "The specified SourceId does not exist.")
    return source


def describe_source_servers(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeSourceServers: filters are ANDed; PageSize ≤ 50."""
    ids = params.repeat("SourceId", max_items=100)
    state = params.text("State")
    name = params.text("Name")
    job_id = params.text("JobId")
    related = params.repeat("RelatedJobType")
    tags = parse_tags(params)
    page = page_by_number(params, default_size=10, max_size=MAX_PAGE_SIZE, code="InvalidParameter.PageSize")
    rows = []
    for source in newest_first(ctx.world.source_servers.values(), lambda item: item.created):
        if source.account_uid != ctx.caller.account_uid:
            continue
        if (
            (ids and source.source_id not in ids)
            or (state and source.state != state)
            or (name and source.name != name)
        ):
            continue
        jobs = [job for job in ctx.world.jobs.values() if job.source_id == source.source_id]
        if job_id and all(job.job_id != job_id for job in jobs):
            continue
        if related and not (("Not_Related" in related and not jobs) or ("Server" in related and jobs)):
            continue
        if any(source.tags.get(key) != value for key, value in tags.items()):
            continue
        rows.append(source)
    chunk, _ = slice_page(rows, page)
    return {
        "TotalCount": len(rows),
        "PageNumber": page.number,
        "PageSize": page.size,
        "SourceServers": {"SourceServer": [source_view(source) for source in chunk]},
    }


def modify_source_server_attribute(ctx: Context, params: Params) -> dict[str, Any]:
    """ModifySourceServerAttribute: Name (unique) and Description."""
    source = _own_source(ctx, params.require_text("SourceId"))
    if source.state == SourceState.DELETING:
        raise invalid_source_state(source, "Available, Unavailable, InUse")
    name = check_name(params.text("Name"), "Name")
    description = check_description(params.text("Description"))
    if name is not None:
        taken = any(
            other.name == name
            and other.source_id != source.source_id
            and other.account_uid == source.account_uid
            for other in ctx.world.source_servers.values()
        )
        if taken:
            raise ApiError(
                400,
                "SourceServerName.Duplicate",
                "The specified source server name already exists. Please modify the source server name.",
            )
        source.name = name
    if description is not None:
        source.description = description
    return {}


def delete_source_server(ctx: Context, params: Params) -> dict[str, Any]:
    """DeleteSourceServer: never with a Running job; with other jobs only when Force (jobs go too)."""
    source = _own_source(ctx, params.require_text("SourceId"))
    force = params.bool_or("Force", False)
    if source.state == SourceState.DELETING:
        raise invalid_source_state(source, "Available, Unavailable, InUse")
    jobs = [
        job
        for job in ctx.world.jobs.values()
        if job.source_id == source.source_id and job.status != JobStatus.DELETING
    ]
    if any(job.status == JobStatus.RUNNING for job in jobs):
        raise ApiError(
            400,
            "SourceServer.WithRunningReplicationJob",
            "The specified source server has related replication jobs that are running.",
        )
    if jobs and not force:
        raise ApiError(
            400,
            "ReplicationJob.Related",
            "The specified source server has related replication jobs. Please delete replication jobs: "
            f"{','.join(job.job_id for job in jobs)} before delete this source server.",
        )
    for job in jobs:
        ctx.engine.delete(job, ctx.now)
    source.state = SourceState.DELETING
    source.gone_at = ctx.now + timedelta(seconds=ctx.world.timings.source_deleting)
    return {}


# -- replication jobs ---------------------------------------------------------------------------------
def _own_job(ctx: Context, job_id: str) -> ReplicationJob:
    job = ctx.world.jobs.get(job_id)
    if job is None or job.account_uid != ctx.caller.account_uid:
        raise ApiError(404, "InvalidJobId.NotFound", "The specified JobId does not exist.")
    return job


def _fingerprint(params: Params) -> str:
    items = sorted((key, value) for key, value in params.as_dict().items() if key != "ClientToken")
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def create_replication_job(ctx: Context, params: Params) -> dict[str, Any]:
    """CreateReplicationJob: every SMC state rule, range and quota; ClientToken makes it idempotent."""
    account = ctx.account
    region_id = ctx.require_region(params.text("RegionId"))
    client_token = check_client_token(params.text("ClientToken"))
    if client_token is not None:
        known = ctx.world.client_tokens.get((account.uid, client_token))
        if known is not None:
            job_id, fingerprint = known
            if fingerprint != _fingerprint(params):
                raise ApiError(
                    400,
                    "IdempotentParameterMismatch",
                    "The specified parameter has changed while using an already used clientToken.",
                )
            return {"JobId": job_id}
    if not account.smc_service_role:
        raise ApiError(
            403,
            "EntityNotExist.Role",
            "The account is unauthorized. Please assign the role AliyunServiceRoleForSMC to your account.",
        )
    source = _own_source(ctx, params.require_text("SourceId"))
    if source.state != SourceState.AVAILABLE:
        raise invalid_source_state(source, "Available")
    if len(ctx.world.account_jobs(account.uid)) >= account.quotas.max_jobs:
        raise ApiError(
            400,
            "QuotaExceeded.ReplicationJob",
            "The maximum number of replication jobs is exceeded. Please submit a ticket to raise the quota.",
        )
    name = check_name(params.text("Name"), "Name")
    if name is not None and job_name_taken(ctx, name):
        raise ApiError(
            400, "ReplicationJobName.Duplicate", "The specified replication job name already exists."
        )
    description = check_description(params.text("Description"))
    target_type = params.text("TargetType") or "Image"
    if target_type not in TARGET_TYPES:
        raise invalid_param("TargetType", f"It must be one of {', '.join(TARGET_TYPES)}.")
    job_type = params.int_or("JobType", 0, minimum=0, maximum=3)
    disks = parse_disks(params, source)
    image_name = check_name(params.text("ImageName"), "ImageName")
    instance_id = params.text("InstanceId")
    if target_type == "Image":
        if image_name is None:
            raise missing_param("ImageName")
        if disks.system_size is None:
            raise missing_param("SystemDiskSize")
    if image_name is not None and image_name_taken(ctx, region_id, image_name):
        raise image_name_used(image_name)
    if target_type == "TargetInstance":
        if instance_id is None:
            raise missing_param("InstanceId")
        target = ctx.world.instances.get(instance_id)
        if target is None or target.account_uid != account.uid or target.region_id != region_id:
            raise ApiError(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
    if target_type == "ContainerImage":
        for field_name in ("ContainerNamespace", "ContainerRepository", "ContainerTag"):
            params.require_text(field_name)
    net_mode = params.int_or("NetMode", 0)
    vpc_id = params.text("VpcId")
    vswitch = check_network(ctx, region_id, net_mode, vpc_id, params.text("VSwitchId"))
    settings = parse_replication_parameters(params.text("ReplicationParameters"))
    run_once = params.bool_or("RunOnce", True)
    frequency = params.integer("Frequency", minimum=1, maximum=168)
    max_images = params.integer("MaxNumberOfImageToKeep", minimum=1, maximum=10)
    if not run_once:
        if frequency is None:
            raise missing_param("Frequency")
        if max_images is None:
            raise missing_param("MaxNumberOfImageToKeep")
    instance_type = params.text("InstanceType")
    if instance_type is not None and instance_type not in ctx.world.instance_types:
        raise ApiError(
            400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist."
        )
    license_type = params.text("LicenseType") or ""
    if license_type not in ("", "BYOL"):
        raise invalid_param("LicenseType", "It must be empty or BYOL.")
    scheduled = check_schedule(params.text("ScheduledStartTime"), ctx.now)
    valid_time = check_valid_time(params.text("ValidTime"), ctx.now) or ctx.now + timedelta(
        days=DEFAULT_VALID_DAYS
    )
    tags = parse_tags(params)
    job = ReplicationJob(
        job_id=ctx.ids.new("j", region_id),
        account_uid=account.uid,
        region_id=region_id,
        source_id=source.source_id,
        created=ctx.now,
        name=name or "",
        description=description or "",
        target_type=target_type,
        image_name=image_name or "",
        instance_id=instance_id or "",
        system_disk_size=disks.system_size,
        system_parts=disks.system_parts,
        data_disks=disks.data_disks,
        disks_request=disks.disks_request,
        system_lvm=disks.system_lvm,
        net_mode=net_mode,
        vpc_id=vpc_id or (vswitch.vpc_id if vswitch is not None else ""),
        vswitch_id=vswitch.vswitch_id if vswitch is not None else "",
        replication_parameters=settings.raw if settings else "",
        bandwidth_limit_kbps=settings.bandwidth_limit_kbps if settings else 0,
        compress_level=settings.compress_level if settings else 7,
        checksum=settings.checksum if settings else False,
        run_once=run_once,
        frequency=frequency,
        max_images=max_images,
        instance_type=instance_type or "",
        launch_template_id=params.text("LaunchTemplateId") or "",
        launch_template_version=params.text("LaunchTemplateVersion") or "",
        instance_ram_role=params.text("InstanceRamRole") or "",
        container_namespace=params.text("ContainerNamespace") or "",
        container_repository=params.text("ContainerRepository") or "",
        container_tag=params.text("ContainerTag") or "",
        license_type=license_type,
        job_type=job_type,
        resource_group_id=params.text("ResourceGroupId") or "",
        tags=tags,
        client_token=client_token or "",
        scheduled_start=scheduled,
        valid_time=valid_time,
        last_tick=ctx.now,
    )
    ctx.world.jobs[job.job_id] = job
    source.last_job_id = job.job_id
    if client_token is not None:
        ctx.world.client_tokens[(account.uid, client_token)] = (job.job_id, _fingerprint(params))
    refresh_source_state(ctx.world, source.source_id)
    return {"JobId": job.job_id}


def describe_replication_jobs(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeReplicationJobs: JobId.N ≤ 50, SourceId.N ≤ 50, PageSize 1-50; newest first."""
    job_ids = params.repeat("JobId", max_items=MAX_JOB_IDS, code="InvalidParameter.JobId")
    source_ids = params.repeat("SourceId", max_items=MAX_JOB_IDS, code="InvalidParameter.SourceId")
    instance_ids = params.repeat("InstanceId", max_items=20)
    name = params.text("Name")
    status = params.text("Status")
    business_status = params.text("BusinessStatus")
    region_id = params.text("RegionId")
    job_type = params.integer("JobType", minimum=0, maximum=3)
    tags = parse_tags(params)
    page = page_by_number(params, default_size=10, max_size=MAX_PAGE_SIZE, code="InvalidParameter.PageSize")
    rows = []
    for job in newest_first(ctx.world.account_jobs(ctx.caller.account_uid), lambda item: item.created):
        view = job_view(job)
        if (job_ids and job.job_id not in job_ids) or (source_ids and job.source_id not in source_ids):
            continue
        if (instance_ids and job.instance_id not in instance_ids) or (name and job.name != name):
            continue
        if (status and view["Status"] != status) or (
            business_status and view["BusinessStatus"] != business_status
        ):
            continue
        if (region_id and job.region_id != region_id) or (job_type is not None and job.job_type != job_type):
            continue
        if any(job.tags.get(key) != value for key, value in tags.items()):
            continue
        rows.append(view)
    chunk, _ = slice_page(rows, page)
    return {
        "TotalCount": len(rows),
        "PageNumber": page.number,
        "PageSize": page.size,
        "ReplicationJobs": {"ReplicationJob": chunk},
    }


def _running_count(ctx: Context) -> int:
    return sum(1 for job in ctx.world.account_jobs(ctx.caller.account_uid) if job.status == JobStatus.RUNNING)


def start_replication_job(ctx: Context, params: Params) -> dict[str, Any]:
    """StartReplicationJob: from Ready, Stopped or InError; ≤ 50 running jobs per account."""
    job = _own_job(ctx, params.require_text("JobId"))
    if job.status not in (JobStatus.READY, JobStatus.STOPPED, JobStatus.IN_ERROR):
        raise invalid_status(job, "Ready, Stopped, InError")
    source = ctx.world.source_servers.get(job.source_id)
    if source is None or source.state in (SourceState.UNAVAILABLE, SourceState.DELETING):
        if source is not None:
            raise invalid_source_state(source, "Available, InUse")
        raise ApiError(404, "InvalidSourceId.NotFound", "The source server of this job no longer exists.")
    if _running_count(ctx) >= ctx.account.quotas.max_running_jobs:
        raise ApiError(
            400,
            "QuotaExceeded.ReplicationJob",
            "The maximum number of running replication jobs is exceeded. "
            "Please submit a ticket to raise the quota.",
        )
    ctx.engine.start(job, ctx.now, "Manual")
    return {}


def stop_replication_job(ctx: Context, params: Params) -> dict[str, Any]:
    """StopReplicationJob: only Running with BusinessStatus Syncing."""
    job = _own_job(ctx, params.require_text("JobId"))
    if job.status != JobStatus.RUNNING:
        raise invalid_status(job, "Running")
    if job.phase != Phase.SYNCING:
        raise invalid_business_status(job, "Syncing")
    ctx.engine.stop(job, ctx.now)
    return {}


def cut_over_replication_job(ctx: Context, params: Params) -> dict[str, Any]:
    """CutOverReplicationJob: only Waiting; SyncData=true runs one last sync before Finished."""
    job = _own_job(ctx, params.require_text("JobId"))
    if job.status != JobStatus.WAITING:
        raise invalid_status(job, "Waiting")
    source = ctx.world.source_servers.get(job.source_id)
    sync_data = params.bool_or("SyncData", False)
    if sync_data and (source is None or source.state in (SourceState.UNAVAILABLE, SourceState.DELETING)):
        if source is not None:
            raise invalid_source_state(source, "Available, InUse")
        raise ApiError(404, "InvalidSourceId.NotFound", "The source server of this job no longer exists.")
    ctx.engine.cut_over(job, ctx.now, sync_data)
    return {}


def delete_replication_job(ctx: Context, params: Params) -> dict[str, Any]:
    """DeleteReplicationJob: Deleting, then gone; the intermediate instance is released."""
    job = _own_job(ctx, params.require_text("JobId"))
    if job.status == JobStatus.DELETING:
        raise invalid_status(job, "Ready, Running, Stopped, InError, Finished, Waiting, Expired")
    ctx.engine.delete(job, ctx.now)
    return {}


_ALWAYS = frozenset({"Name", "Description"})
_BEFORE_RUN_OR_WAITING = frozenset({"Frequency", "MaxNumberOfImageToKeep"})
_VALID_TIME_STATUSES = (
    JobStatus.READY,
    JobStatus.RUNNING,
    JobStatus.STOPPED,
    JobStatus.IN_ERROR,
    JobStatus.WAITING,
)


def modify_replication_job_attribute(ctx: Context, params: Params) -> dict[str, Any]:
    """ModifyReplicationJobAttribute: Name/Description always; Frequency/MaxNumberOfImageToKeep before
    the first run or in Waiting; ValidTime while unfinished; everything else only before the first run."""
    job = _own_job(ctx, params.require_text("JobId"))
    sent = {key.split(".")[0] for key in params if key != "JobId"}
    before_run = job.status == JobStatus.READY and not job.has_run
    if sent & _BEFORE_RUN_OR_WAITING and not (before_run or job.status == JobStatus.WAITING):
        raise invalid_status(job, "Ready (before the first run), Waiting")
    if "ValidTime" in sent and job.status not in _VALID_TIME_STATUSES:
        raise invalid_status(job, "Ready, Running, Stopped, InError, Waiting")
    frozen = sent - _ALWAYS - _BEFORE_RUN_OR_WAITING - {"ValidTime"}
    if frozen and not before_run:
        raise invalid_status(job, "Ready (before the first run)")
    name = check_name(params.text("Name"), "Name")
    if name is not None and job_name_taken(ctx, name, except_job=job.job_id):
        raise ApiError(
            400, "ReplicationJobName.Duplicate", "The specified replication job name already exists."
        )
    description = check_description(params.text("Description"))
    frequency = params.integer("Frequency", minimum=1, maximum=168)
    max_images = params.integer("MaxNumberOfImageToKeep", minimum=1, maximum=10)
    valid_time = check_valid_time(params.text("ValidTime"), job.created)
    changes: dict[str, Any] = {}
    if frozen:
        changes = _frozen_changes(ctx, params, job)
    if name is not None:
        job.name = name
    if description is not None:
        job.description = description
    if frequency is not None:
        job.frequency = frequency
        if job.status == JobStatus.WAITING and job.runs:
            job.next_cycle_at = job.runs[-1].end + timedelta(hours=frequency)
    if max_images is not None:
        job.max_images = max_images
    if valid_time is not None:
        job.valid_time = valid_time
    for attribute, value in changes.items():
        setattr(job, attribute, value)
    return {}


def _frozen_changes(ctx: Context, params: Params, job: ReplicationJob) -> dict[str, Any]:
    """Validate the attributes that can only change before a job first runs."""
    changes: dict[str, Any] = {}
    source = ctx.world.source_servers.get(job.source_id)
    target_type = params.text("TargetType")
    if target_type is not None:
        if target_type not in TARGET_TYPES:
            raise invalid_param("TargetType", f"It must be one of {', '.join(TARGET_TYPES)}.")
        changes["target_type"] = target_type
    image_name = check_name(params.text("ImageName"), "ImageName")
    if image_name is not None:
        if image_name_taken(ctx, job.region_id, image_name, except_job=job.job_id):
            raise image_name_used(image_name)
        changes["image_name"] = image_name
    instance_id = params.text("InstanceId")
    if instance_id is not None:
        target = ctx.world.instances.get(instance_id)
        if target is None or target.account_uid != job.account_uid or target.region_id != job.region_id:
            raise ApiError(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
        changes["instance_id"] = instance_id
    if source is not None:
        disks = parse_disks(params, source)
        if disks.system_size is not None:
            changes["system_disk_size"] = disks.system_size
        if params.objects("SystemDiskPart"):
            changes["system_parts"] = disks.system_parts
        if params.objects("DataDisk"):
            changes["data_disks"] = disks.data_disks
    if {"NetMode", "VSwitchId", "VpcId"} & set(params):
        net_mode = params.int_or("NetMode", job.net_mode)
        vpc_id = params.text("VpcId") or (job.vpc_id or None)
        vswitch_id = params.text("VSwitchId") or (job.vswitch_id or None)
        vswitch = check_network(ctx, job.region_id, net_mode, vpc_id, vswitch_id)
        changes["net_mode"] = net_mode
        changes["vswitch_id"] = vswitch.vswitch_id if vswitch is not None else ""
        changes["vpc_id"] = vpc_id or (vswitch.vpc_id if vswitch is not None else "")
    settings = parse_replication_parameters(params.text("ReplicationParameters"))
    if settings is not None:
        changes["replication_parameters"] = settings.raw
        changes["bandwidth_limit_kbps"] = settings.bandwidth_limit_kbps
        changes["compress_level"] = settings.compress_level
        changes["checksum"] = settings.checksum
    if "ScheduledStartTime" in params:
        changes["scheduled_start"] = check_schedule(params.text("ScheduledStartTime"), ctx.now)
    instance_type = params.text("InstanceType")
    if instance_type is not None:
        if instance_type not in ctx.world.instance_types:
            raise ApiError(
                400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist."
            )
        changes["instance_type"] = instance_type
    simple = {
        "LaunchTemplateId": "launch_template_id",
        "LaunchTemplateVersion": "launch_template_version",
        "InstanceRamRole": "instance_ram_role",
        "ContainerNamespace": "container_namespace",
        "ContainerRepository": "container_repository",
        "ContainerTag": "container_tag",
    }
    for param, attribute in simple.items():
        value = params.text(param)
        if value is not None:
            changes[attribute] = value
    return changes


# -- tags ---------------------------------------------------------------------------------------------
_RESOURCE_TYPES = {
    "sourceserver": "ALIYUN::SMC::SOURCESERVER",
    "replicationjob": "ALIYUN::SMC::REPLICATIONJOB",
}


def _tag_targets(ctx: Context, params: Params, *, required: bool) -> tuple[str, list[dict[str, str]]]:
    resource_type = params.text("ResourceType")
    if resource_type is None:
        raise ApiError(400, "MissingParameter.ResourceType", "You must specify ResourceType.")
    kind = resource_type.lower()
    if kind not in _RESOURCE_TYPES:
        raise ApiError(400, "InvalidResourceType.NotFound", "The specified ResourceType does not exist.")
    ids = params.repeat("ResourceId")
    if len(ids) > 50:
        raise ApiError(
            400, "NumberExceed.ResourceIds", "The maximum number of ResourceId parameters cannot exceed 50."
        )
    if len(set(ids)) != len(ids):
        raise ApiError(400, "Duplicate.ResourceId", "The ResourceId contains duplicate values.")
    if required and not ids:
        raise missing_param("ResourceId")
    targets: list[dict[str, str]] = []
    for resource_id in ids:
        if kind == "sourceserver":
            source = ctx.world.source_servers.get(resource_id)
            found = source is not None and source.account_uid == ctx.caller.account_uid
            tags = source.tags if source is not None else {}
        else:
            job = ctx.world.jobs.get(resource_id)
            found = job is not None and job.account_uid == ctx.caller.account_uid
            tags = job.tags if job is not None else {}
        if not found:
            raise ApiError(400, "InvalidResourceId.NotFound", "The specified ResourceIds do not exist.")
        targets.append(tags)
    return kind, targets


def tag_resources(ctx: Context, params: Params) -> dict[str, Any]:
    """TagResources: ≤ 50 resources, ≤ 20 tags."""
    _, targets = _tag_targets(ctx, params, required=True)
    tags = parse_tags(params)
    if not tags:
        raise missing_param("Tag")
    for existing in targets:
        existing.update(tags)
    return {}


def untag_resources(ctx: Context, params: Params) -> dict[str, Any]:
    """UntagResources: by TagKey.N, or All=true."""
    _, targets = _tag_targets(ctx, params, required=True)
    keys = params.repeat("TagKey")
    if len(keys) > 20:
        raise ApiError(400, "NumberExceed.Tags", "The maximum number of the Tag parameters cannot exceed 20.")
    remove_all = params.bool_or("All", False)
    for existing in targets:
        if keys:
            for key in keys:
                existing.pop(key, None)
        elif remove_all:
            existing.clear()
    return {}


def list_tag_resources(ctx: Context, params: Params) -> dict[str, Any]:
    """ListTagResources: one row per (resource, tag)."""
    kind, _ = _tag_targets(ctx, params, required=False)
    ids = set(params.repeat("ResourceId"))
    wanted = parse_tags(params)
    resources: list[tuple[str, dict[str, str]]]
    if kind == "sourceserver":
        resources = [
            (source.source_id, source.tags)
            for source in ctx.world.source_servers.values()
            if source.account_uid == ctx.caller.account_uid
        ]
    else:
        resources = [(job.job_id, job.tags) for job in ctx.world.account_jobs(ctx.caller.account_uid)]
    rows = [
        {"ResourceId": resource_id, "ResourceType": _RESOURCE_TYPES[kind], "TagKey": key, "TagValue": value}
        for resource_id, tags in resources
        if (not ids or resource_id in ids) and all(tags.get(k) == v for k, v in wanted.items())
        for key, value in tags.items()
    ]
    return {"NextToken": "", "TagResources": {"TagResource": rows}}


ACTIONS: dict[str, Handler] = {
    "CreateAccessToken": create_access_token,
    "ListAccessTokens": list_access_tokens,
    "DisableAccessToken": disable_access_token,
    "DeleteAccessToken": delete_access_token,
    "DescribeSourceServers": describe_source_servers,
    "ModifySourceServerAttribute": modify_source_server_attribute,
    "DeleteSourceServer": delete_source_server,
    "CreateReplicationJob": create_replication_job,
    "DescribeReplicationJobs": describe_replication_jobs,
    "StartReplicationJob": start_replication_job,
    "StopReplicationJob": stop_replication_job,
    "CutOverReplicationJob": cut_over_replication_job,
    "DeleteReplicationJob": delete_replication_job,
    "ModifyReplicationJobAttribute": modify_replication_job_attribute,
    "TagResources": tag_resources,
    "UntagResources": untag_resources,
    "ListTagResources": list_tag_resources,
}
