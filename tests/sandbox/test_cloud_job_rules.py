"""Every SMC state rule, range, quota and batch limit answers with its documented code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alibabacloud_smc20190601 import models as smc_models

from sandbox.cloud import CloudSimulator
from sandbox.cloud.protocol import iso
from sandbox.cloud.world import JobStatus, Phase, ReplicationJob, SourceState
from tests.sandbox.test_cloud_support import (
    DEST,
    PROD_VPC,
    SOURCE_LINUX,
    SOURCE_WINDOWS,
    TARGET_LINUX,
    TARGET_VPC,
    TARGET_VSWITCH,
    describe_job,
    error_of,
    image_job,
    smc,
)

DataDisk = smc_models.CreateReplicationJobRequestDataDisk
Tag = smc_models.CreateReplicationJobRequestTag


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(time_scale=0) as simulator:
        yield simulator


def _create(sim: CloudSimulator, **overrides: Any) -> str:
    return str(smc(sim).create_replication_job(image_job(**overrides)).body.job_id)


def _windows_job(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source_id": SOURCE_WINDOWS,
        "name": "migrate-win-ad-01",
        "image_name": "win-ad-01-image",
        "system_disk_size": 100,
        "data_disk": [DataDisk(index=1, size=200)],
    }
    fields.update(overrides)
    return fields


def _seed_jobs(sim: CloudSimulator, count: int, status: JobStatus, phase: Phase | None = None) -> None:
    now = sim.clock.now()
    for number in range(count):
        job_id = f"j-bp1seed{number:012d}"
        sim.world.jobs[job_id] = ReplicationJob(
            job_id=job_id,
            account_uid=DEST,
            region_id="cn-hangzhou",
            source_id=f"s-bp1seed{number:012d}",
            created=now,
            status=status,
            phase=phase,
            target_type="TargetInstance",
            cycle_bytes=10**15,
            last_tick=now,
            start_time=now if status != JobStatus.READY else None,
        )


def test_create_needs_an_available_source(sim: CloudSimulator) -> None:
    sim.world.source_servers[SOURCE_LINUX].state = SourceState.UNAVAILABLE
    error = error_of(lambda: _create(sim))
    assert error.code == "SourceServerState.Invalid"
    assert "Unavailable" in error.message


def test_one_unfinished_job_per_source(sim: CloudSimulator) -> None:
    first = _create(sim)
    second = {"name": "second-try", "image_name": "second-image"}
    assert error_of(lambda: _create(sim, **second)).code == "SourceServerState.Invalid"
    smc(sim).delete_replication_job(smc_models.DeleteReplicationJobRequest(job_id=first))
    assert describe_job(sim, first).status == "Deleting"
    assert _create(sim, **second).startswith("j-bp1")


def test_a_finished_job_frees_its_source(sim: CloudSimulator) -> None:
    first = _create(sim)
    _start(sim, first)
    sim.clock.advance(86400)
    assert describe_job(sim, first).status == "Finished"
    assert _create(sim, name="second-run", image_name="second-image").startswith("j-bp1")


def test_expired_jobs_still_hold_their_source_until_cleaned_up(sim: CloudSimulator) -> None:
    valid_until = iso(sim.clock.now() + timedelta(days=7, seconds=5))
    job_id = _create(sim, valid_time=valid_until)
    sim.clock.advance(7 * 86400 + 10)
    assert describe_job(sim, job_id).status == "Expired"
    assert (
        error_of(lambda: _create(sim, name="after-expiry", image_name="x-image")).code
        == "SourceServerState.Invalid"
    )
    sim.clock.advance(7 * 86400)
    assert sim.world.jobs == {}
    assert _create(sim, name="after-cleanup", image_name="y-image").startswith("j-")


def test_at_most_one_thousand_jobs_per_account(sim: CloudSimulator) -> None:
    _seed_jobs(sim, 999, JobStatus.FINISHED)
    _create(sim)
    error = error_of(lambda: _create(sim, **_windows_job()))
    assert (error.code, error.status_code) == ("QuotaExceeded.ReplicationJob", 400)


def test_at_most_fifty_running_jobs_per_account(sim: CloudSimulator) -> None:
    _seed_jobs(sim, 50, JobStatus.RUNNING, Phase.SYNCING)
    job_id = _create(sim)
    start = smc_models.StartReplicationJobRequest(job_id=job_id)
    assert error_of(lambda: smc(sim).start_replication_job(start)).code == "QuotaExceeded.ReplicationJob"


def test_image_names_are_unique_per_region(sim: CloudSimulator) -> None:
    _create(sim, image_name="shared-name")
    error = error_of(lambda: _create(sim, **_windows_job(image_name="shared-name")))
    assert error.code == "ImageName.UsedByReplicationJob"
    assert _create(sim, **_windows_job(image_name="shared-name", region_id="cn-shanghai")).startswith("j-uf6")


def test_job_names_are_unique(sim: CloudSimulator) -> None:
    _create(sim, name="the-migration")
    error = error_of(lambda: _create(sim, **_windows_job(name="the-migration")))
    assert error.code == "ReplicationJobName.Duplicate"


def test_vswitch_must_belong_to_the_given_vpc(sim: CloudSimulator) -> None:
    error = error_of(lambda: _create(sim, net_mode=2, v_switch_id=TARGET_VSWITCH, vpc_id=PROD_VPC))
    assert error.code == "VSwitchIdVpcId.Mismatch"
    job_id = _create(sim, net_mode=2, v_switch_id=TARGET_VSWITCH, vpc_id=TARGET_VPC)
    assert describe_job(sim, job_id).vpc_id == TARGET_VPC


def test_vpc_mode_needs_a_vswitch(sim: CloudSimulator) -> None:
    assert error_of(lambda: _create(sim, net_mode=2)).code == "MissingParameter"


def test_missing_smc_service_role_is_forbidden(sim: CloudSimulator) -> None:
    sim.world.accounts[DEST].smc_service_role = False
    error = error_of(lambda: _create(sim))
    assert (error.code, error.status_code) == ("EntityNotExist.Role", 403)


def _in(days: float, sim: CloudSimulator) -> str:
    return iso(sim.clock.now() + timedelta(days=days))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"system_disk_size": 19}, "InvalidParameter.SystemDiskSize"),
        ({"system_disk_size": 2049}, "InvalidParameter.SystemDiskSize"),
        ({"data_disk": [DataDisk(index=17, size=100)]}, "InvalidParameter.DataDisk.1.Index"),
        ({"data_disk": [DataDisk(index=0, size=100)]}, "InvalidParameter.DataDisk.1.Index"),
        ({"data_disk": [DataDisk(index=2, size=100)]}, "ReplicationJobDataDiskIndex.Invalid"),
        ({"data_disk": [DataDisk(index=1, size=19)]}, "InvalidParameter.DataDisk.1.Size"),
        ({"data_disk": [DataDisk(index=1, size=32769)]}, "InvalidParameter.DataDisk.1.Size"),
        (
            {"data_disk": [DataDisk(index=1, size=100), DataDisk(index=1, size=100)]},
            "DataDisk.DuplicateIndex",
        ),
        ({"run_once": False, "frequency": 0, "max_number_of_image_to_keep": 2}, "InvalidParameter.Frequency"),
        (
            {"run_once": False, "frequency": 169, "max_number_of_image_to_keep": 2},
            "InvalidParameter.Frequency",
        ),
        (
            {"run_once": False, "frequency": 12, "max_number_of_image_to_keep": 11},
            "InvalidParameter.MaxNumberOfImageToKeep",
        ),
        (
            {"run_once": False, "frequency": 12, "max_number_of_image_to_keep": 0},
            "InvalidParameter.MaxNumberOfImageToKeep",
        ),
        ({"run_once": False, "max_number_of_image_to_keep": 2}, "MissingParameter"),
        ({"client_token": "x" * 65}, "InvalidParameter.ClientToken"),
        ({"client_token": "café"}, "InvalidParameter.ClientToken"),
        ({"tag": [Tag(key=f"k{n}", value="v") for n in range(21)]}, "NumberExceed.Tags"),
        ({"name": "1-starts-with-a-digit"}, "InvalidParameter.Name"),
        ({"name": "https://example.com"}, "InvalidParameter.Name"),
        ({"image_name": None}, "MissingParameter"),
        ({"system_disk_size": None}, "MissingParameter"),
        ({"net_mode": 1}, "InvalidParameter.NetMode"),
        ({"target_type": "Snapshot"}, "InvalidParameter.TargetType"),
        (
            {"target_type": "TargetInstance", "instance_id": "i-bp1nosuchinstance000"},
            "InvalidInstanceId.NotFound",
        ),
        ({"replication_parameters": '{"bandwidth_limit": -1}'}, "InvalidParameter.ReplicationParameters"),
        ({"replication_parameters": '{"compress_level": 11}'}, "InvalidParameter.ReplicationParameters"),
        ({"replication_parameters": "bandwidth=1"}, "InvalidParameter.ReplicationParameters"),
        ({"replication_parameters": "{" + " " * 2048 + "}"}, "InvalidParameter.ReplicationParameters"),
        ({"source_id": "s-bp1doesnotexist0000"}, "InvalidSourceId.NotFound"),
        ({"region_id": "mars-north-1"}, "InvalidRegionId.NotFound"),
    ],
)
def test_create_ranges_and_formats(sim: CloudSimulator, overrides: dict[str, Any], code: str) -> None:
    assert error_of(lambda: _create(sim, **overrides)).code == code


@pytest.mark.parametrize(
    ("days", "field"),
    [
        (-0.01, "scheduled_start_time"),
        (30.1, "scheduled_start_time"),
        (6.9, "valid_time"),
        (90.1, "valid_time"),
    ],
)
def test_schedule_and_validity_windows(sim: CloudSimulator, days: float, field: str) -> None:
    code = (
        "InvalidParameter.ScheduledStartTime"
        if field == "scheduled_start_time"
        else "InvalidParameter.ValidTime"
    )
    assert error_of(lambda: _create(sim, **{field: _in(days, sim)})).code == code
    inside = 29.9 if field == "scheduled_start_time" else 89.9
    assert _create(sim, **{field: _in(inside, sim)}).startswith("j-")


def test_system_disk_must_exceed_the_used_space(sim: CloudSimulator) -> None:
    error = error_of(lambda: _create(sim, **_windows_job(system_disk_size=31)))
    assert error.code == "InvalidParameter.SystemDiskSize"
    assert "32 GiB" in error.message


def test_data_disk_must_exceed_the_used_space(sim: CloudSimulator) -> None:
    error = error_of(lambda: _create(sim, data_disk=[DataDisk(index=1, size=38)]))
    assert error.code == "InvalidParameter.DataDisk.1.Size"


def test_client_token_makes_create_idempotent(sim: CloudSimulator) -> None:
    first = _create(sim, client_token="request-42")
    again = _create(sim, client_token="request-42")
    assert again == first
    assert list(sim.world.jobs) == [first]
    changed = {"client_token": "request-42", "name": "another-name"}
    assert error_of(lambda: _create(sim, **changed)).code == "IdempotentParameterMismatch"


def _start(sim: CloudSimulator, job_id: str) -> None:
    smc(sim).start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))


def test_invalid_state_transitions(sim: CloudSimulator) -> None:
    client = smc(sim)
    job_id = _create(sim)
    stop = smc_models.StopReplicationJobRequest(job_id=job_id)
    cut_over = smc_models.CutOverReplicationJobRequest(job_id=job_id, sync_data=True)
    assert error_of(lambda: client.stop_replication_job(stop)).code == "ReplicationJob.InvalidStatus"
    assert error_of(lambda: client.cut_over_replication_job(cut_over)).code == "ReplicationJob.InvalidStatus"
    _start(sim, job_id)
    assert describe_job(sim, job_id).business_status == "Preparing"
    assert error_of(lambda: _start(sim, job_id)).code == "ReplicationJob.InvalidStatus"
    error = error_of(lambda: client.stop_replication_job(stop))
    assert error.code == "ReplicationJob.InvalidBusinessStatus"
    assert "Preparing" in error.message
    sim.clock.advance(200)
    assert describe_job(sim, job_id).business_status == "Syncing"
    client.stop_replication_job(stop)
    assert describe_job(sim, job_id).status == "Stopped"
    assert error_of(lambda: client.stop_replication_job(stop)).code == "ReplicationJob.InvalidStatus"
    client.delete_replication_job(smc_models.DeleteReplicationJobRequest(job_id=job_id))
    delete_again = smc_models.DeleteReplicationJobRequest(job_id=job_id)
    assert (
        error_of(lambda: client.delete_replication_job(delete_again)).code == "ReplicationJob.InvalidStatus"
    )


def test_cut_over_of_a_one_time_job_is_refused(sim: CloudSimulator) -> None:
    job_id = _create(sim)
    _start(sim, job_id)
    sim.clock.advance(86400)
    assert describe_job(sim, job_id).status == "Finished"
    cut_over = smc_models.CutOverReplicationJobRequest(job_id=job_id)
    assert (
        error_of(lambda: smc(sim).cut_over_replication_job(cut_over)).code == "ReplicationJob.InvalidStatus"
    )
    assert error_of(lambda: _start(sim, job_id)).code == "ReplicationJob.InvalidStatus"


def test_unknown_job_is_not_found(sim: CloudSimulator) -> None:
    assert error_of(lambda: _start(sim, "j-bp1doesnotexist0000")).code == "InvalidJobId.NotFound"


def _modify(sim: CloudSimulator, job_id: str, **fields: Any) -> None:
    request = smc_models.ModifyReplicationJobAttributeRequest(job_id=job_id, **fields)
    smc(sim).modify_replication_job_attribute(request)


def test_modify_rules_follow_the_job_lifecycle(sim: CloudSimulator) -> None:
    job_id = _create(sim, run_once=False, frequency=12, max_number_of_image_to_keep=3)
    _modify(sim, job_id, image_name="renamed-image", system_disk_size=60, frequency=6)
    _start(sim, job_id)
    _modify(sim, job_id, name="renamed-job", description="Rehearsal")
    assert (
        error_of(lambda: _modify(sim, job_id, image_name="too-late")).code == "ReplicationJob.InvalidStatus"
    )
    assert error_of(lambda: _modify(sim, job_id, frequency=2)).code == "ReplicationJob.InvalidStatus"
    _modify(sim, job_id, valid_time=iso(describe_job_created(sim, job_id) + timedelta(days=60)))
    sim.clock.advance(6 * 3600)
    job = describe_job(sim, job_id)
    assert (job.status, job.name, job.image_name, job.system_disk_size) == (
        "Waiting",
        "renamed-job",
        "renamed-image",
        60,
    )
    _modify(sim, job_id, frequency=2, max_number_of_image_to_keep=5)
    job = describe_job(sim, job_id)
    assert (job.frequency, job.max_number_of_image_to_keep) == (2, 5)
    assert error_of(
        lambda: _modify(sim, job_id, valid_time=iso(sim.clock.now() + timedelta(days=100)))
    ).code == ("InvalidParameter.ValidTime")


def describe_job_created(sim: CloudSimulator, job_id: str) -> Any:
    return sim.world.jobs[job_id].created


def test_modified_names_stay_unique(sim: CloudSimulator) -> None:
    first = _create(sim)
    _create(sim, **_windows_job())
    assert (
        error_of(lambda: _modify(sim, first, name="migrate-win-ad-01")).code == "ReplicationJobName.Duplicate"
    )
    assert (
        error_of(lambda: _modify(sim, first, image_name="win-ad-01-image")).code
        == "ImageName.UsedByReplicationJob"
    )


def test_describe_takes_at_most_fifty_job_ids_and_pages_of_fifty(sim: CloudSimulator) -> None:
    client = smc(sim)
    ids = [f"j-bp1seed{number:012d}" for number in range(51)]
    too_many = smc_models.DescribeReplicationJobsRequest(job_id=ids)
    assert error_of(lambda: client.describe_replication_jobs(too_many)).code == "InvalidParameter.JobId"
    big_page = smc_models.DescribeReplicationJobsRequest(page_size=51)
    assert error_of(lambda: client.describe_replication_jobs(big_page)).code == "InvalidParameter.PageSize"
    _seed_jobs(sim, 60, JobStatus.FINISHED)
    body = client.describe_replication_jobs(
        smc_models.DescribeReplicationJobsRequest(job_id=ids[:50], page_size=50)
    ).body
    assert (body.total_count, len(body.replication_jobs.replication_job)) == (50, 50)
    second = client.describe_replication_jobs(
        smc_models.DescribeReplicationJobsRequest(page_size=50, page_number=2)
    ).body
    assert (second.total_count, len(second.replication_jobs.replication_job)) == (60, 10)


def test_describe_filters_by_source_status_and_name(sim: CloudSimulator) -> None:
    linux = _create(sim)
    windows = _create(sim, **_windows_job())
    _start(sim, windows)
    client = smc(sim)

    def ids(**fields: Any) -> list[str]:
        body = client.describe_replication_jobs(smc_models.DescribeReplicationJobsRequest(**fields)).body
        return [job.job_id for job in body.replication_jobs.replication_job]

    assert ids(source_id=[SOURCE_WINDOWS]) == [windows]
    assert ids(status="Ready") == [linux]
    assert ids(business_status="Preparing") == [windows]
    assert ids(name="migrate-web-prod-02") == [linux]
    assert ids() == [windows, linux]


def test_target_instance_job_needs_the_instance(sim: CloudSimulator) -> None:
    job_id = _create(sim, target_type="TargetInstance", instance_id=TARGET_LINUX, image_name=None)
    assert describe_job(sim, job_id).instance_id == TARGET_LINUX


def test_disks_form_and_partitions_are_accepted_and_echoed(sim: CloudSimulator) -> None:
    disks = smc_models.CreateReplicationJobRequestDisks(
        system=smc_models.CreateReplicationJobRequestDisksSystem(
            size=50,
            part=[
                smc_models.CreateReplicationJobRequestDisksSystemPart(
                    path="/", size_bytes=45 * 1024**3, block=False
                )
            ],
        ),
        data=[
            smc_models.CreateReplicationJobRequestDisksData(
                size=120, part=[smc_models.CreateReplicationJobRequestDisksDataPart(path="/data", block=True)]
            )
        ],
    )
    job_id = _create(sim, system_disk_size=None, data_disk=None, disks=disks)
    sent = sim.calls("CreateReplicationJob")[-1].params
    assert sent["Disks.System.Size"] == "50"
    assert sent["Disks.Data.1.Part.1.Path"] == "/data"
    assert sent["Disks.System.Part.1.Block"] == "False"
    job = describe_job(sim, job_id)
    assert job.system_disk_size == 50
    assert [(disk.index, disk.size) for disk in job.data_disks.data_disk] == [(1, 120)]
    assert job.disks.system.size == 50
    assert [(part.path, part.block) for part in job.disks.data.data[0].parts.part] == [("/data", True)]


def test_partition_devices_must_exist_on_the_source(sim: CloudSimulator) -> None:
    part = smc_models.CreateReplicationJobRequestSystemDiskPart(
        device="0_7", size_bytes=10 * 1024**3, block=True
    )
    error = error_of(lambda: _create(sim, system_disk_part=[part]))
    assert error.code == "InvalidParameter.SystemDiskPart.1.Device"
    fits = smc_models.CreateReplicationJobRequestSystemDiskPart(
        device="0_1", size_bytes=30 * 1024**3, block=False
    )
    job_id = _create(sim, system_disk_part=[fits])
    [part_view] = describe_job(sim, job_id).system_disk_parts.system_disk_part
    assert (part_view.device, part_view.size_bytes, part_view.block) == ("0_1", 30 * 1024**3, False)
