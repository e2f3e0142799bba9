"""The drill's live facts (PRODUCT §4): looked up through the cloud and this bot's database, then assessed.

Everything here reads; nothing is created and nothing costs money. Cloud errors propagate (the caller
shows them in the thread); a fact the API cannot give (the real quota limits) keeps `drill`'s defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.cloud.ports import DestinationCloud, JobStatus, ReplicationJob
from bot.domain.catalog import domain_os, is_unfinished, source_facts, vswitch_facts
from bot.domain.drill import DrillFacts, DrillReport, JobQuota, MeasuredSpeed, assess
from bot.domain.params import MigrationParams, NetworkType
from bot.domain.validation import InstanceFacts, UnfinishedJob, VpcFacts
from storage import repository as repo
from storage.db import Database
from storage.enums import TargetType

MAX_JOB_PAGES = 20
"""1,000 jobs (the account quota) at 50 a page: every name in a region is seen."""


def measured_speeds(db: Database) -> tuple[MeasuredSpeed, ...]:
    """Average speeds this bot measured on its earlier jobs (`assess` keeps the same region and network)."""
    with db.unit_of_work() as session:
        rows = repo.measured_job_speeds(session)
    found: list[MeasuredSpeed] = []
    for region, params, speed in rows:
        try:
            network = NetworkType(int(params.get("network_type", NetworkType.PUBLIC)))
        except (TypeError, ValueError):
            continue
        found.append(MeasuredSpeed(region_id=region, network_type=network, bytes_per_second=speed))
    return tuple(found)


def gather_facts(
    dest: DestinationCloud,
    params: MigrationParams,
    *,
    now: datetime,
    measured: Sequence[MeasuredSpeed] = (),
    own_job_id: str | None = None,
) -> DrillFacts:
    """Live facts for `drill.assess`; `own_job_id` (the request's own job, if any) is not "another job"."""
    job_names, image_names = _names(dest, params, own_job_id)
    target, target_status = _target_instance(dest, params)
    server = next(
        (s for s in dest.describe_source_servers([params.source_id]) if s.id == params.source_id), None
    )
    return DrillFacts(
        now=now,
        source=source_facts(server) if server is not None else None,
        last_heartbeat=server.last_heartbeat if server is not None else None,
        unfinished_jobs=_unfinished_jobs(dest, params.source_id, own_job_id),
        quota=_quota(dest),
        target_instance=target,
        target_instance_status=target_status,
        vpcs=_vpcs(dest, params),
        job_names=job_names,
        image_names=image_names,
        measured_speeds=tuple(measured),
    )


def run_drill(
    db: Database,
    dest: DestinationCloud,
    params: MigrationParams,
    *,
    clock: Callable[[], datetime],
    own_job_id: str | None = None,
) -> tuple[DrillReport, DrillFacts]:
    """Gather the facts and assess them: the report to store and post, and the facts it was built from."""
    facts = gather_facts(dest, params, now=clock(), measured=measured_speeds(db), own_job_id=own_job_id)
    return assess(params, facts), facts


def _unfinished_jobs(
    dest: DestinationCloud, source_id: str, own_job_id: str | None
) -> tuple[UnfinishedJob, ...]:
    found: list[UnfinishedJob] = []
    for number in range(1, MAX_JOB_PAGES + 1):
        page = dest.list_replication_jobs(source_ids=[source_id], page_number=number)
        found += [
            UnfinishedJob(job_id=job.id, status=job.status.value)
            for job in page.items
            if job.source_id == source_id and job.id != own_job_id and is_unfinished(job)
        ]
        if not page.items or not page.has_more:
            break
    return tuple(found)


def _quota(dest: DestinationCloud) -> JobQuota:
    # SMC does not publish an account's raised quotas: the counts are live, the limits the documented ones.
    total = dest.list_replication_jobs(page_size=1).total or 0
    running = dest.list_replication_jobs(status=JobStatus.RUNNING, page_size=1).total or 0
    return JobQuota(total_jobs=total, running_jobs=running)


def _target_instance(
    dest: DestinationCloud, params: MigrationParams
) -> tuple[InstanceFacts | None, str | None]:
    """The destination instance's facts and its ECS status (None, None for image targets or when gone)."""
    if params.target_type is not TargetType.TARGET_INSTANCE or not params.instance_id:
        return None, None
    region, instance_id = params.region_id, params.instance_id
    instance = next((i for i in dest.describe_instances(region, [instance_id]) if i.id == instance_id), None)
    if instance is None:
        return None, None
    disks = dest.list_instance_disks(region, instance_id)
    system = next((d.size_gib for d in disks if d.type == "system"), 0)
    data = sorted(
        (d for d in disks if d.type == "data"), key=lambda d: (d.device is None, d.device or "", d.id)
    )
    vswitch = None
    if instance.vswitch_id:
        switches = dest.list_vswitches(region, vpc_id=instance.vpc_id)
        vswitch = next((vswitch_facts(v) for v in switches if v.id == instance.vswitch_id), None)
    facts = InstanceFacts(
        instance_id=instance.id,
        region_id=region,
        os_type=domain_os(instance.os_type),
        system_disk_gib=system,
        data_disk_gib=tuple(d.size_gib for d in data),
        vswitch=vswitch,
    )
    return facts, instance.status


def _vpcs(dest: DestinationCloud, params: MigrationParams) -> tuple[VpcFacts, ...]:
    if params.vpc_id is None and params.vswitch_id is None:
        return ()
    vpcs = dest.list_vpcs(params.region_id)
    switches = dest.list_vswitches(params.region_id)
    return tuple(
        VpcFacts(
            vpc_id=vpc.id,
            cidr=vpc.cidr,
            name=vpc.name,
            vswitches=tuple(vswitch_facts(s) for s in switches if s.vpc_id == vpc.id),
        )
        for vpc in vpcs
    )


def _names(
    dest: DestinationCloud, params: MigrationParams, own_job_id: str | None
) -> tuple[frozenset[str], frozenset[str]]:
    """The job name if another job of the account has it; the image names other jobs of the region use."""
    names: set[str] = set()
    if params.job_name is not None:
        page = dest.list_replication_jobs(name=params.job_name)
        if any(_other(job, own_job_id) and job.name == params.job_name for job in page.items):
            names.add(params.job_name)
    images: set[str] = set()
    if params.target_type is TargetType.IMAGE and params.image_name is not None:
        for number in range(1, MAX_JOB_PAGES + 1):
            page = dest.list_replication_jobs(params.region_id, page_number=number)
            images |= {job.image_name for job in page.items if _other(job, own_job_id) and job.image_name}
            if not page.items or not page.has_more:
                break
    return frozenset(names), frozenset(images)


def _other(job: ReplicationJob, own_job_id: str | None) -> bool:
    """Another job that still holds its names (SMC frees them once a job is being deleted)."""
    return job.id != own_job_id and job.status is not JobStatus.DELETING
