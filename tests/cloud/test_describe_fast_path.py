"""The poller's describe path: the SDK's `call_api` without the response model, equal to the generated method.

`describe_replication_jobs` and `list_replication_jobs` hand the generated request to the same client's
`call_api` and parse the decoded JSON; these tests hold them to what the generated
`Client.describe_replication_jobs` (response model, then `to_map()`) gives, on the wire and in values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_smc20190601 import models as smc_models
from alibabacloud_smc20190601.client import Client as SmcClient
from alibabacloud_tea_openapi.models import Config

from bot.cloud import parse
from bot.cloud.aliyun import AliyunCloudGateway, AliyunDestinationCloud
from bot.cloud.ports import CloudError, JobStatus, ReplicationJob, Secret
from bot.cloud.sdk import CloudConfig, split_endpoint
from sandbox.cloud import CloudSimulator

UID = "1000000000000001"
KEY = "LTAI5tFastPathDest0001"
SECRET = "fast-path-secret-not-real"
REGION = "cn-hangzhou"
SOURCES = 8


def world() -> dict[str, Any]:
    return {
        "seed": "describe-fast-path",
        "speeds": {"public_mb_per_s": 30, "vpc_mb_per_s": 120},
        "regions": [{"id": REGION, "zones": [{"id": f"{REGION}-h"}]}],
        "instance_types": [{"id": "ecs.g6.large", "family": "ecs.g6"}],
        "accounts": [
            {
                "uid": UID,
                "name": "fast-path",
                "access_keys": [{"id": KEY, "secret": SECRET}],
                "quotas": {"max_jobs": 100, "max_running_jobs": 100},
                "source_servers": [
                    {
                        "id": f"s-fastpath{n:010d}",
                        "name": f"fast-{n}",
                        "os": "centos-7.9",
                        "disks": [{"size_gib": 40, "used_gib": 10}, {"size_gib": 20, "used_gib": 5}],
                    }
                    for n in range(SOURCES)
                ],
            }
        ],
    }


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    simulator = CloudSimulator(world(), time_scale=0.0)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def dest(sim: CloudSimulator) -> AliyunDestinationCloud:
    config = CloudConfig(
        endpoint=sim.url,
        access_key_id=KEY,
        access_key_secret=Secret(SECRET),
        backoff_base_ms=1,
        backoff_cap_ms=5,
        max_retry_after_ms=50,
    )
    return AliyunCloudGateway(config).destination()


def sdk_client(sim: CloudSimulator) -> SmcClient:
    endpoint, protocol = split_endpoint(sim.url)
    return SmcClient(
        Config(access_key_id=KEY, access_key_secret=SECRET, endpoint=endpoint, protocol=protocol)
    )


def generated(
    sim: CloudSimulator, request: smc_models.DescribeReplicationJobsRequest
) -> list[ReplicationJob]:
    """What the generated SDK method answers, as values: response model → to_map() → our parser."""
    body = sdk_client(sim).describe_replication_jobs(request).body.to_map()
    return [parse.replication_job(j) for j in parse.items(body, "ReplicationJobs", "ReplicationJob")]


def create(dest: AliyunDestinationCloud, n: int, **extra: Any) -> str:
    return dest.create_replication_job(
        {
            "RegionId": REGION,
            "SourceId": f"s-fastpath{n:010d}",
            "Name": f"fast-job-{n}",
            "TargetType": "Image",
            "ImageName": f"fast-image-{n}",
            "SystemDiskSize": 40,
            "DataDisk": [{"Index": 1, "Size": 20}],
            "ClientToken": f"fast-{n}",
            **extra,
        }
    )


@pytest.fixture
def fleet(dest: AliyunDestinationCloud, sim: CloudSimulator) -> list[str]:
    """Jobs in every state the poller meets: Ready, Running, Stopped, InError, Waiting with runs, Finished,
    Deleting, and one with tags."""
    ready = create(dest, 0)
    finished = create(dest, 1)
    waiting = create(dest, 2, RunOnce=False, Frequency=1, MaxNumberOfImageToKeep=2)
    for job_id in (finished, waiting):
        dest.start_replication_job(job_id)
    sim.advance(20_000)
    running, stopped, failed, deleting = (create(dest, n) for n in (3, 4, 5, 6))
    tagged = create(dest, 7, Description="carries tags")
    sim.faults.fail_job(job_id=failed, at_progress=1, code="S2_1001", message="disk read error")
    for job_id in (running, stopped, failed, tagged):
        dest.start_replication_job(job_id)
    sim.advance(400)
    dest.stop_replication_job(stopped)
    dest.delete_replication_job(deleting)
    tags = smc_models.TagResourcesRequest(
        resource_type="replicationjob",
        resource_id=[tagged],
        tag=[smc_models.TagResourcesRequestTag(key="team", value="platform")],
    )
    sdk_client(sim).tag_resources(tags)
    return [ready, finished, waiting, running, stopped, failed, deleting, tagged]


def test_the_describe_path_reads_the_same_values_as_the_generated_sdk_method(
    dest: AliyunDestinationCloud, sim: CloudSimulator, fleet: list[str]
) -> None:
    ids = [*fleet, "j-missing0000000000001"]
    request = smc_models.DescribeReplicationJobsRequest(
        region_id=REGION, job_id=ids, page_size=50, page_number=1
    )

    ours = dest.describe_replication_jobs(REGION, ids)
    theirs = generated(sim, request)

    assert ours == theirs
    assert sorted(j.id for j in ours) == sorted(fleet)
    assert {j.status for j in ours} == {
        JobStatus.READY,
        JobStatus.RUNNING,
        JobStatus.STOPPED,
        JobStatus.IN_ERROR,
        JobStatus.WAITING,
        JobStatus.FINISHED,
        JobStatus.DELETING,
    }
    by_id = {j.id: j for j in ours}
    assert by_id[fleet[2]].runs and by_id[fleet[2]].runs[0].image_id is not None
    assert by_id[fleet[5]].error_code == "S2_1001"
    assert by_id[fleet[7]].tags == (("team", "platform"),)


def test_both_paths_put_the_same_request_on_the_wire(
    dest: AliyunDestinationCloud, sim: CloudSimulator, fleet: list[str]
) -> None:
    sim.reset_calls()
    dest.describe_replication_jobs(REGION, fleet)
    generated(
        sim,
        smc_models.DescribeReplicationJobsRequest(
            region_id=REGION, job_id=fleet, page_size=50, page_number=1
        ),
    )

    ours, theirs = sim.calls("DescribeReplicationJobs")
    assert (ours.status, theirs.status) == (200, 200)
    assert (ours.action, ours.version, ours.signature, ours.access_key_id, ours.params) == (
        theirs.action,
        theirs.version,
        theirs.signature,
        theirs.access_key_id,
        theirs.params,
    )


def test_a_listed_page_matches_the_generated_method(
    dest: AliyunDestinationCloud, sim: CloudSimulator, fleet: list[str]
) -> None:
    page = dest.list_replication_jobs(REGION, status=JobStatus.RUNNING, page_number=1, page_size=5)
    request = smc_models.DescribeReplicationJobsRequest(
        region_id=REGION, status="Running", page_number=1, page_size=5
    )

    assert list(page.items) == generated(sim, request)
    assert page.items and all(j.status is JobStatus.RUNNING for j in page.items)
    assert page.total == len(page.items)


def test_throttling_on_the_describe_path_is_retried_then_reported(
    dest: AliyunDestinationCloud, sim: CloudSimulator, fleet: list[str]
) -> None:
    sim.faults.throttle("DescribeReplicationJobs", times=1, retry_after_ms=1)
    assert len(dest.describe_replication_jobs(REGION, fleet[:2])) == 2

    sim.faults.throttle("DescribeReplicationJobs", retry_after_ms=1)
    sim.reset_calls()
    with pytest.raises(CloudError) as caught:
        dest.describe_replication_jobs(REGION, fleet[:2])

    error = caught.value
    assert (error.code, error.retryable, error.is_throttling, error.action) == (
        "Throttling.User",
        True,
        True,
        "DescribeReplicationJobs",
    )
    assert error.request_id
    assert SECRET not in str(error) and SECRET not in error.message
    assert len(sim.calls("DescribeReplicationJobs")) == 4
