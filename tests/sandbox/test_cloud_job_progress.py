"""Replication jobs move through SMC's states on the simulator clock, driven by data volume ÷ speed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_smc20190601 import models as smc_models

from sandbox.cloud import CloudSimulator
from sandbox.cloud.protocol import iso, parse_time
from tests.sandbox.test_cloud_support import (
    SOURCE_LINUX,
    TARGET_LINUX,
    TARGET_VSWITCH,
    describe_instances,
    describe_job,
    ecs,
    image_job,
    smc,
)

PREPARING, PROCESSING, CLEANING = 180, 300, 120


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(time_scale=0) as simulator:
        yield simulator


def _time(text: str) -> datetime:
    moment = parse_time(text)
    assert moment is not None, text
    return moment


def _data_bytes(sim: CloudSimulator) -> int:
    """What a full cycle of the default image job moves: used space of web-prod-02's system and data disk."""
    source = sim.world.source_servers[SOURCE_LINUX]
    return source.system_disk.used_bytes + source.data_disks[0].used_bytes


def _start_job(sim: CloudSimulator, **overrides: Any) -> str:
    client = smc(sim)
    job_id = str(client.create_replication_job(image_job(**overrides)).body.job_id)
    client.start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))
    return job_id


def _own_images(sim: CloudSimulator) -> list[Any]:
    request = ecs_models.DescribeImagesRequest(region_id="cn-hangzhou", image_owner_alias="self")
    return list(ecs(sim).describe_images(request).body.images.image)


def _instance_names(sim: CloudSimulator) -> set[str]:
    return {item.instance_name for item in describe_instances(ecs(sim), max_results=100).instances.instance}


def test_image_job_runs_to_finished_and_delivers_an_image(sim: CloudSimulator) -> None:
    sync_seconds = _data_bytes(sim) / 30e6
    job_id = _start_job(sim)
    job = describe_job(sim, job_id)
    assert (job.status, job.business_status, job.progress) == ("Running", "Preparing", 0.0)
    assert job.transition_instance_id.startswith("i-bp1")
    assert f"INSTANCE_FOR_SMC_{job_id}" in _instance_names(sim)
    assert job.start_time == iso(sim.clock.now())
    sim.clock.advance(PREPARING + sync_seconds / 2)
    job = describe_job(sim, job_id)
    assert job.business_status == "Syncing"
    assert job.progress == pytest.approx(5 + 85 / 2, abs=0.5)
    sim.clock.advance(sync_seconds / 2 + 10)
    assert describe_job(sim, job_id).business_status == "Processing"
    sim.clock.advance(PROCESSING)
    assert describe_job(sim, job_id).business_status == "Cleaning"
    sim.clock.advance(CLEANING)
    job = describe_job(sim, job_id)
    assert (job.status, job.business_status, job.progress) == ("Finished", "", 100.0)
    assert job.end_time == iso(sim.clock.now() - timedelta(seconds=10))
    [run] = job.replication_job_runs.replication_job_run
    assert (run.type, run.image_id, run.start_time) == ("Manual", job.image_id, job.start_time)
    [image] = _own_images(sim)
    assert (image.image_id, image.image_name, image.size, image.ostype) == (
        job.image_id,
        "web-prod-02-image",
        40,
        "linux",
    )
    assert f"INSTANCE_FOR_SMC_{job_id}" not in _instance_names(sim)
    request = smc_models.DescribeSourceServersRequest(source_id=[SOURCE_LINUX])
    [source] = smc(sim).describe_source_servers(request).body.source_servers.source_server
    assert (source.state, source.job_id) == ("Available", job_id)


def test_source_is_in_use_while_its_job_is_unfinished(sim: CloudSimulator) -> None:
    request = smc_models.DescribeSourceServersRequest(source_id=[SOURCE_LINUX])
    job_id = _start_job(sim)
    states = [smc(sim).describe_source_servers(request).body.source_servers.source_server[0].state]
    sim.clock.advance(86400)
    states.append(smc(sim).describe_source_servers(request).body.source_servers.source_server[0].state)
    assert describe_job(sim, job_id).status == "Finished"
    assert states == ["InUse", "Available"]


@pytest.mark.parametrize(
    ("overrides", "bytes_per_second"),
    [
        ({}, 30e6),
        ({"replication_parameters": json.dumps({"bandwidth_limit": 10_000})}, 10e6),
        ({"replication_parameters": json.dumps({"bandwidth_limit": 0, "compress_level": 3})}, 30e6),
        ({"net_mode": 2, "v_switch_id": TARGET_VSWITCH}, 120e6),
        (
            {
                "net_mode": 2,
                "v_switch_id": TARGET_VSWITCH,
                "replication_parameters": '{"bandwidth_limit": 50000}',
            },
            50e6,
        ),
    ],
)
def test_sync_time_is_data_volume_over_speed(
    sim: CloudSimulator, overrides: dict[str, Any], bytes_per_second: float
) -> None:
    sync_seconds = _data_bytes(sim) / bytes_per_second
    job_id = _start_job(sim, **overrides)
    sim.clock.advance(PREPARING + sync_seconds - 5)
    assert describe_job(sim, job_id).business_status == "Syncing"
    sim.clock.advance(10)
    assert describe_job(sim, job_id).business_status == "Processing"


def test_incremental_job_cycles_through_waiting_and_cuts_over(sim: CloudSimulator) -> None:
    full = _data_bytes(sim) / 30e6
    delta = int(_data_bytes(sim) * 0.05) / 30e6
    first_cycle = PREPARING + full + PROCESSING + CLEANING
    later_cycle = PREPARING + delta + PROCESSING + CLEANING
    job_id = _start_job(sim, run_once=False, frequency=1, max_number_of_image_to_keep=2)
    sim.clock.advance(first_cycle + 1)
    job = describe_job(sim, job_id)
    assert (job.status, job.business_status, job.progress) == ("Waiting", "", 100.0)
    [run] = job.replication_job_runs.replication_job_run
    assert (run.type, run.image_id) == ("Manual", job.image_id)
    assert job.transition_instance_id in {
        item.instance_id for item in describe_instances(ecs(sim)).instances.instance
    }
    sim.clock.advance(3600)
    job = describe_job(sim, job_id)
    assert (job.status, job.business_status) == ("Running", "Preparing")
    sim.clock.advance(later_cycle)
    sim.clock.advance(3600 + later_cycle)
    job = describe_job(sim, job_id)
    runs = job.replication_job_runs.replication_job_run
    assert job.status == "Waiting"
    assert [item.type for item in runs] == ["Manual", "Schedule", "Schedule"]
    assert len({item.image_id for item in runs}) == 3
    ended = [_time(item.end_time) for item in runs]
    started = [_time(item.start_time) for item in runs]
    assert started[1] - ended[0] == timedelta(hours=1)
    kept = {image.image_id for image in _own_images(sim)}
    assert kept == {runs[1].image_id, runs[2].image_id}
    assert all(image.image_name.startswith("web-prod-02-image_") for image in _own_images(sim))
    smc(sim).cut_over_replication_job(smc_models.CutOverReplicationJobRequest(job_id=job_id, sync_data=True))
    assert describe_job(sim, job_id).status == "Running"
    sim.clock.advance(later_cycle + 1)
    job = describe_job(sim, job_id)
    assert job.status == "Finished"
    assert len(job.replication_job_runs.replication_job_run) == 4
    assert job.transition_instance_id not in {
        item.instance_id for item in describe_instances(ecs(sim)).instances.instance
    }


def test_cut_over_without_sync_only_cleans_up(sim: CloudSimulator) -> None:
    job_id = _start_job(sim, run_once=False, frequency=24, max_number_of_image_to_keep=1)
    sim.clock.advance(4 * 3600)
    assert describe_job(sim, job_id).status == "Waiting"
    smc(sim).cut_over_replication_job(smc_models.CutOverReplicationJobRequest(job_id=job_id, sync_data=False))
    assert describe_job(sim, job_id).business_status == "Cleaning"
    sim.clock.advance(CLEANING)
    job = describe_job(sim, job_id)
    assert job.status == "Finished"
    assert len(job.replication_job_runs.replication_job_run) == 1


def test_paused_job_keeps_its_progress_and_resumes(sim: CloudSimulator) -> None:
    client = smc(sim)
    job_id = _start_job(sim)
    sim.clock.advance(PREPARING + 600)
    client.stop_replication_job(smc_models.StopReplicationJobRequest(job_id=job_id))
    paused = describe_job(sim, job_id)
    sim.clock.advance(3600)
    still = describe_job(sim, job_id)
    assert (still.status, still.business_status, still.progress) == ("Stopped", "Syncing", paused.progress)
    assert still.transition_instance_id == paused.transition_instance_id
    client.start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))
    resumed = describe_job(sim, job_id)
    assert (resumed.status, resumed.business_status) == ("Running", "Syncing")
    sim.clock.advance(_data_bytes(sim) / 30e6 - 600 + PROCESSING + CLEANING + 1)
    assert describe_job(sim, job_id).status == "Finished"


def test_scheduled_job_starts_at_its_time(sim: CloudSimulator) -> None:
    at = sim.clock.now() + timedelta(hours=2)
    job_id = str(smc(sim).create_replication_job(image_job(scheduled_start_time=iso(at))).body.job_id)
    sim.clock.advance(7199)
    job = describe_job(sim, job_id)
    assert (job.status, job.scheduled_start_time) == ("Ready", iso(at))
    sim.clock.advance(2)
    assert describe_job(sim, job_id).status == "Running"
    sim.clock.advance(86400)
    job = describe_job(sim, job_id)
    assert job.status == "Finished"
    assert [run.type for run in job.replication_job_runs.replication_job_run] == ["Schedule"]
    assert job.start_time == iso(at)


def test_deleted_job_releases_its_intermediate_instance_then_disappears(sim: CloudSimulator) -> None:
    job_id = _start_job(sim)
    sim.clock.advance(PREPARING + 60)
    transition = describe_job(sim, job_id).transition_instance_id
    smc(sim).delete_replication_job(smc_models.DeleteReplicationJobRequest(job_id=job_id))
    assert describe_job(sim, job_id).status == "Deleting"
    assert transition not in {item.instance_id for item in describe_instances(ecs(sim)).instances.instance}
    sim.clock.advance(61)
    request = smc_models.DescribeReplicationJobsRequest(job_id=[job_id])
    assert smc(sim).describe_replication_jobs(request).body.total_count == 0


def test_target_instance_gets_the_source_system_and_disks(sim: CloudSimulator) -> None:
    job_id = _start_job(sim, target_type="TargetInstance", instance_id=TARGET_LINUX, image_name=None)
    assert describe_job(sim, job_id).transition_instance_id == ""
    sim.clock.advance(86400)
    job = describe_job(sim, job_id)
    assert (job.status, job.image_id) == ("Finished", "")
    [target] = describe_instances(ecs(sim), instance_ids=json.dumps([TARGET_LINUX])).instances.instance
    assert target.osname_en == "CentOS  7.9 64 bit"
    request = ecs_models.DescribeDisksRequest(region_id="cn-hangzhou", instance_id=TARGET_LINUX)
    disks = ecs(sim).describe_disks(request).body.disks.disk
    assert [(disk.type, disk.size) for disk in disks] == [("system", 60), ("data", 200)]
    assert _own_images(sim) == []


def test_progress_and_times_use_the_metadata_types(sim: CloudSimulator) -> None:
    job_id = _start_job(sim, tag=[smc_models.CreateReplicationJobRequestTag(key="ticket", value="CHG-1")])
    sim.clock.advance(PREPARING + 100)
    raw = (
        smc(sim)
        .describe_replication_jobs(smc_models.DescribeReplicationJobsRequest(job_id=[job_id]))
        .body.to_map()
    )
    [job] = raw["ReplicationJobs"]["ReplicationJob"]
    assert isinstance(job["Progress"], float)
    assert isinstance(job["RunOnce"], bool)
    assert isinstance(job["NetMode"], int)
    assert _time(job["ValidTime"]) == _time(job["CreationTime"]) + timedelta(days=30)
    assert job["DataDisks"]["DataDisk"] == [{"Index": 1, "Size": 100, "Parts": {"Part": []}}]
    assert job["Tags"]["Tag"] == [{"Key": "ticket", "Value": "CHG-1"}]
