"""SMC access tokens, source servers and tags through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_smc20190601 import models as smc_models

from sandbox.cloud import CloudSimulator
from sandbox.cloud.world import SourceState
from tests.sandbox.test_cloud_support import (
    SOURCE_LINUX,
    SOURCE_WINDOWS,
    describe_job,
    error_of,
    image_job,
    smc,
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(time_scale=0) as simulator:
        yield simulator


def _sources(sim: CloudSimulator, **fields: Any) -> list[Any]:
    request = smc_models.DescribeSourceServersRequest(**fields)
    return list(smc(sim).describe_source_servers(request).body.source_servers.source_server)


def test_access_token_lifecycle(sim: CloudSimulator) -> None:
    client = smc(sim)
    created = client.create_access_token(
        smc_models.CreateAccessTokenRequest(name="import-batch-1", count="10", time_to_live_in_days="7")
    ).body
    assert created.access_token_id.startswith("at-")
    assert len(created.access_token_code) == 32
    listed = client.list_access_tokens(smc_models.ListAccessTokensRequest()).body.access_tokens.access_token
    [token] = [item for item in listed if item.access_token_id == created.access_token_id]
    assert (token.name, token.count, token.time_to_live_in_days, token.registered_count, token.status) == (
        "import-batch-1",
        "10",
        "7",
        "0",
        "unactivated",
    )
    client.disable_access_token(smc_models.DisableAccessTokenRequest(access_token_id=created.access_token_id))
    request = smc_models.ListAccessTokensRequest(status="expired")
    assert [
        item.access_token_id for item in client.list_access_tokens(request).body.access_tokens.access_token
    ] == [created.access_token_id]
    client.delete_access_token(smc_models.DeleteAccessTokenRequest(access_token_id=created.access_token_id))
    assert client.list_access_tokens(smc_models.ListAccessTokensRequest()).body.total_count == 0
    missing = smc_models.DeleteAccessTokenRequest(access_token_id=created.access_token_id)
    assert error_of(lambda: client.delete_access_token(missing)).code == "InvalidAccessTokenId.NotFound"


def test_access_tokens_expire_after_their_time_to_live(sim: CloudSimulator) -> None:
    client = smc(sim)
    client.create_access_token(smc_models.CreateAccessTokenRequest(time_to_live_in_days="1"))
    sim.clock.advance(86401)
    [token] = client.list_access_tokens(smc_models.ListAccessTokensRequest()).body.access_tokens.access_token
    assert token.status == "expired"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"count": "0"}, "InvalidParameter.Count"),
        ({"count": "1001"}, "InvalidParameter.Count"),
        ({"time_to_live_in_days": "91"}, "InvalidParameter.TimeToLiveInDays"),
        ({"name": "9lives"}, "InvalidParameter.Name"),
    ],
)
def test_access_token_ranges(sim: CloudSimulator, fields: dict[str, str], code: str) -> None:
    request = smc_models.CreateAccessTokenRequest(**fields)
    assert error_of(lambda: smc(sim).create_access_token(request)).code == code


def test_pre_imported_sources_describe_their_disks(sim: CloudSimulator) -> None:
    sources = {server.source_id: server for server in _sources(sim, page_size=50)}
    linux, windows = sources[SOURCE_LINUX], sources[SOURCE_WINDOWS]
    assert (linux.name, linux.state, linux.platform, linux.system_disk_size) == (
        "web-prod-02",
        "Available",
        "CentOS",
        40,
    )
    assert [(part.device, part.path) for part in linux.system_disk_parts.system_disk_part] == [
        ("0_0", "/boot"),
        ("0_1", "/"),
    ]
    assert [(disk.index, disk.size) for disk in linux.data_disks.data_disk] == [(1, 100)]
    assert (windows.name, windows.platform, windows.system_disk_size) == (
        "win-ad-01",
        "Windows Server 2019",
        80,
    )
    assert windows.system_disk_parts.system_disk_part[0].path == "C:\\"


def test_source_servers_filter_by_state_and_page_at_most_fifty(sim: CloudSimulator) -> None:
    sim.world.source_servers[SOURCE_WINDOWS].state = SourceState.UNAVAILABLE
    assert [server.source_id for server in _sources(sim, state="Available")] == [SOURCE_LINUX]
    assert len(_sources(sim, page_size=1, page_number=2)) == 1
    assert error_of(lambda: _sources(sim, page_size=51)).code == "InvalidParameter.PageSize"


def test_source_rename_must_stay_unique(sim: CloudSimulator) -> None:
    client = smc(sim)
    client.modify_source_server_attribute(
        smc_models.ModifySourceServerAttributeRequest(source_id=SOURCE_LINUX, name="web-prod-02-renamed")
    )
    assert _sources(sim, source_id=[SOURCE_LINUX])[0].name == "web-prod-02-renamed"
    duplicate = smc_models.ModifySourceServerAttributeRequest(
        source_id=SOURCE_WINDOWS, name="web-prod-02-renamed"
    )
    assert (
        error_of(lambda: client.modify_source_server_attribute(duplicate)).code
        == "SourceServerName.Duplicate"
    )


def test_deleting_a_source_with_jobs_needs_force_and_never_while_running(sim: CloudSimulator) -> None:
    client = smc(sim)
    job_id = client.create_replication_job(image_job()).body.job_id
    plain = smc_models.DeleteSourceServerRequest(source_id=SOURCE_LINUX)
    assert error_of(lambda: client.delete_source_server(plain)).code == "ReplicationJob.Related"
    client.start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))
    forced = smc_models.DeleteSourceServerRequest(source_id=SOURCE_LINUX, force=True)
    assert (
        error_of(lambda: client.delete_source_server(forced)).code == "SourceServer.WithRunningReplicationJob"
    )
    sim.clock.advance(200)
    client.stop_replication_job(smc_models.StopReplicationJobRequest(job_id=job_id))
    client.delete_source_server(forced)
    assert _sources(sim, source_id=[SOURCE_LINUX])[0].state == "Deleting"
    assert describe_job(sim, job_id).status == "Deleting"
    sim.clock.advance(61)
    assert _sources(sim, source_id=[SOURCE_LINUX]) == []
    assert sim.world.jobs == {}


def test_tags_on_sources_and_jobs(sim: CloudSimulator) -> None:
    client = smc(sim)
    job_id = client.create_replication_job(image_job()).body.job_id
    tag = smc_models.TagResourcesRequestTag(key="team", value="platform")
    client.tag_resources(
        smc_models.TagResourcesRequest(resource_type="sourceserver", resource_id=[SOURCE_LINUX], tag=[tag])
    )
    client.tag_resources(
        smc_models.TagResourcesRequest(resource_type="replicationjob", resource_id=[job_id], tag=[tag])
    )
    listed = client.list_tag_resources(
        smc_models.ListTagResourcesRequest(resource_type="replicationjob")
    ).body.tag_resources.tag_resource
    assert [(row.resource_id, row.resource_type, row.tag_key, row.tag_value) for row in listed] == [
        (job_id, "ALIYUN::SMC::REPLICATIONJOB", "team", "platform")
    ]
    assert describe_job(sim, job_id).tags.tag[0].key == "team"
    client.untag_resources(
        smc_models.UntagResourcesRequest(
            resource_type="sourceserver", resource_id=[SOURCE_LINUX], tag_key=["team"]
        )
    )
    assert _sources(sim, source_id=[SOURCE_LINUX])[0].tags.tag == []
    too_many = smc_models.TagResourcesRequest(
        resource_type="sourceserver",
        resource_id=[SOURCE_LINUX],
        tag=[smc_models.TagResourcesRequestTag(key=f"k{n}", value="v") for n in range(21)],
    )
    assert error_of(lambda: client.tag_resources(too_many)).code == "NumberExceed.Tags"
