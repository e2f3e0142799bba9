"""SMC through the adapters: access tokens, the Cloud Assistant import, source servers, replication jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.cloud.aliyun import AliyunCloudGateway, AliyunDestinationCloud
from bot.cloud.ports import (
    AccessTokenStatus,
    BusinessStatus,
    CloudError,
    CommandType,
    InvocationStatus,
    JobStatus,
    OsType,
    SourceServerState,
)
from sandbox.cloud import CloudSimulator
from tests.cloud.conftest import REGION, ROLE, SOURCE_ACCOUNT

WEB_01 = "i-bp1g89ubw2sb4krcndqk"
WEB_02_SOURCE = "s-bp1dtyvdak02x846kq4p"
WIN_AD_SOURCE = "s-bp1knv31zn9d3jznb5y3"
GIB = 1024**3

INSTALL_SCRIPT = (
    "curl -s https://smc.example/install.sh | sh -s -- --id {{access_token_id}} --code {{activation_code}}"
)


def job_request(
    source_id: str = WEB_02_SOURCE, name: str = "web-prod-02-to-image", **extra: Any
) -> dict[str, Any]:
    """A CreateReplicationJob request in API parameter names, as the domain's builder produces it."""
    return {
        "RegionId": REGION,
        "SourceId": source_id,
        "Name": name,
        "TargetType": "Image",
        "ImageName": f"{name}-image",
        "SystemDiskSize": 50,
        "DataDisk": [{"Index": 1, "Size": 120}],
        "NetMode": 0,
        "ClientToken": f"req-{name}",
        **extra,
    }


def job(dest: AliyunDestinationCloud, job_id: str) -> Any:
    [found] = dest.describe_replication_jobs(REGION, [job_id])
    return found


def test_access_tokens_are_created_listed_and_deleted(dest: AliyunDestinationCloud) -> None:
    created = dest.create_access_token(name="import-1", description="Slack import", count=2, ttl_days=1)
    listed = {t.id: t for t in dest.list_access_tokens()}
    by_id = dest.list_access_tokens(token_ids=[created.id])
    dest.delete_access_token(created.id)

    assert created.id.startswith("at-")
    assert created.code.reveal()
    assert str(created.code) == "**********"
    token = listed[created.id]
    assert (token.name, token.status, token.count, token.registered_count, token.ttl_days) == (
        "import-1",
        AccessTokenStatus.UNACTIVATED,
        2,
        0,
        1,
    )
    assert [t.id for t in by_id] == [created.id]
    assert created.id not in {t.id for t in dest.list_access_tokens()}


def test_cloud_assistant_import_registers_the_source_server(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    dest = gateway.destination()
    source = gateway.source(SOURCE_ACCOUNT, ROLE)

    [agent] = source.cloud_assistant_status(REGION, [WEB_01])
    token = dest.create_access_token(name="import-web-prod-01", count=1, ttl_days=1)
    invoke_id = source.run_command(
        REGION,
        [WEB_01],
        script=INSTALL_SCRIPT,
        command_type=CommandType.SHELL,
        parameters={"access_token_id": token.id, "activation_code": token.code},
        client_token="import-1-i-bp1g89ubw2sb4krcndqk",
    )
    sim.advance(120)
    invocation = source.describe_invocation(REGION, invoke_id)
    sim.advance(60)
    imported = [s for s in dest.list_source_servers().items if s.name == "web-prod-01"]

    assert agent.online
    assert invocation.status is InvocationStatus.SUCCESS
    assert len(imported) == 1
    server = imported[0]
    assert server.state is SourceServerState.AVAILABLE
    assert [t.registered_count for t in dest.list_access_tokens(token_ids=[token.id])] == [1]
    [again] = dest.describe_source_servers([server.id])
    assert again == server


def test_source_servers_report_disks_partitions_and_used_space(dest: AliyunDestinationCloud) -> None:
    found = {
        s.id: s for s in dest.describe_source_servers([WEB_02_SOURCE, WIN_AD_SOURCE, "s-doesnotexist0001"])
    }

    web = found[WEB_02_SOURCE]
    assert (web.name, web.state, web.os_type) == ("web-prod-02", SourceServerState.AVAILABLE, OsType.LINUX)
    assert web.heartbeat_rate_s is not None
    assert web.system_disk is not None
    assert web.system_disk.size_gib == 40
    assert [p.path for p in web.system_disk.partitions] == ["/boot", "/"]
    assert web.system_disk.used_gib == pytest.approx(0.2 + 12.9, abs=0.01)
    [data] = web.data_disks
    assert (data.index, data.size_gib, data.path) == (1, 100, "/data")
    assert data.used_gib == pytest.approx(38.5, abs=0.01)
    assert data.partitions[0].size_bytes == 100 * GIB
    assert found[WIN_AD_SOURCE].os_type is OsType.WINDOWS
    assert set(found) == {WEB_02_SOURCE, WIN_AD_SOURCE}


def test_source_servers_are_listed_by_page(dest: AliyunDestinationCloud) -> None:
    page = dest.list_source_servers(state=SourceServerState.AVAILABLE, page_size=1)
    assert page.total == 2
    assert len(page.items) == 1
    assert page.has_more
    assert dest.list_source_servers(name="win-ad-01").items[0].id == WIN_AD_SOURCE


def test_a_job_runs_to_finished_on_an_accelerated_clock(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    job_id = dest.create_replication_job(job_request())
    ready = job(dest, job_id)
    dest.start_replication_job(job_id)
    sim.advance(200)
    running = job(dest, job_id)
    sim.advance(20_000)
    finished = job(dest, job_id)

    assert job_id.startswith("j-")
    assert (ready.status, ready.name, ready.source_id, ready.image_name) == (
        JobStatus.READY,
        "web-prod-02-to-image",
        WEB_02_SOURCE,
        "web-prod-02-to-image-image",
    )
    assert running.status is JobStatus.RUNNING
    assert running.business_status is not None and running.business_status is not BusinessStatus.UNKNOWN
    assert finished.status is JobStatus.FINISHED
    assert finished.progress == 100
    assert finished.image_id is not None and finished.image_id.startswith("m-")
    assert finished.start_time is not None and finished.end_time is not None
    assert dest.list_images(REGION, name="web-prod-02-to-image-image").items[0].id == finished.image_id


def test_the_finished_image_can_be_deleted(dest: AliyunDestinationCloud, sim: CloudSimulator) -> None:
    job_id = dest.create_replication_job(job_request())
    dest.start_replication_job(job_id)
    sim.advance(20_000)
    image_id = job(dest, job_id).image_id
    assert image_id is not None

    dest.delete_image(REGION, image_id)

    assert dest.list_images(REGION, image_ids=[image_id]).items == ()


def test_create_with_the_same_client_token_returns_the_same_job(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    first = dest.create_replication_job(job_request())
    second = dest.create_replication_job(job_request())
    assert first == second
    assert dest.list_replication_jobs(REGION).total == 1


def test_describe_of_120_job_ids_takes_three_calls_of_at_most_50(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    real = [
        dest.create_replication_job(job_request()),
        dest.create_replication_job(job_request(WIN_AD_SOURCE, "ad")),
    ]
    ids = real + [f"j-missing{n:011d}" for n in range(118)]
    sim.reset_calls()

    found = dest.describe_replication_jobs(REGION, ids)

    assert sorted(j.id for j in found) == sorted(real)
    calls = sim.calls("DescribeReplicationJobs")
    sizes = [len([k for k in c.params if k.startswith("JobId.")]) for c in calls]
    assert sizes == [50, 50, 20]
    assert all(c.params["PageSize"] == "50" for c in calls)


def test_pause_resume_and_modify_follow_the_state_rules(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    job_id = dest.create_replication_job(job_request(ReplicationParameters='{"bandwidth_limit": 0}'))
    with pytest.raises(CloudError) as not_running:
        dest.stop_replication_job(job_id)
    dest.start_replication_job(job_id)
    sim.advance(200)  # past Preparing, into Syncing
    syncing = job(dest, job_id)
    dest.stop_replication_job(job_id)
    stopped = job(dest, job_id)
    dest.modify_replication_job(job_id, {"Name": "renamed-job", "Description": "now with a new name"})
    dest.start_replication_job(job_id)
    resumed = job(dest, job_id)

    assert not_running.value.code.startswith("ReplicationJob.Invalid")
    assert not not_running.value.retryable
    assert syncing.business_status is BusinessStatus.SYNCING
    assert stopped.status is JobStatus.STOPPED
    assert (resumed.status, resumed.name, resumed.description) == (
        JobStatus.RUNNING,
        "renamed-job",
        "now with a new name",
    )


def test_an_incremental_job_waits_between_cycles_and_cuts_over(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    job_id = dest.create_replication_job(job_request(RunOnce=False, Frequency=1, MaxNumberOfImageToKeep=2))
    dest.start_replication_job(job_id)
    sim.advance(20_000)
    waiting = job(dest, job_id)
    dest.cut_over_replication_job(job_id, sync_data=True)
    sim.advance(20_000)
    done = job(dest, job_id)

    assert waiting.status is JobStatus.WAITING
    assert waiting.run_once is False
    assert (waiting.frequency, waiting.max_images) == (1, 2)
    assert len(waiting.runs) >= 1
    assert waiting.runs[0].image_id is not None
    assert done.status is JobStatus.FINISHED


def test_delete_removes_the_job(dest: AliyunDestinationCloud, sim: CloudSimulator) -> None:
    job_id = dest.create_replication_job(job_request())
    dest.delete_replication_job(job_id)
    sim.advance(600)
    assert dest.describe_replication_jobs(REGION, [job_id]) == []


def test_one_unfinished_job_per_source_is_enforced(dest: AliyunDestinationCloud) -> None:
    dest.create_replication_job(job_request())
    with pytest.raises(CloudError) as caught:
        dest.create_replication_job(job_request(name="second-job"))
    assert caught.value.http_status is not None and 400 <= caught.value.http_status < 500
    assert not caught.value.retryable


def test_existing_job_names_can_be_looked_up(dest: AliyunDestinationCloud) -> None:
    dest.create_replication_job(job_request())
    assert [j.name for j in dest.list_replication_jobs(REGION, name="web-prod-02-to-image").items] == [
        "web-prod-02-to-image"
    ]
    assert dest.list_replication_jobs(REGION, name="nothing-like-it").items == ()
    assert dest.list_replication_jobs(REGION, status=JobStatus.READY, source_ids=[WEB_02_SOURCE]).total == 1


def test_a_misspelt_job_field_is_refused_before_sending(
    dest: AliyunDestinationCloud, sim: CloudSimulator
) -> None:
    bad: Mapping[str, Any] = {**job_request(), "SystemDiskSzie": 50}
    with pytest.raises(ValueError, match="SystemDiskSzie"):
        dest.create_replication_job(bad)
    with pytest.raises(ValueError, match=r"DataDisk\.1\.Sise"):
        dest.create_replication_job({**job_request(), "DataDisk": [{"Index": 1, "Sise": 120}]})
    assert sim.calls("CreateReplicationJob") == []
