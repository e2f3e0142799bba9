"""Fault injection from Python, from the admin API and from the world file, seen through the real SDK."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_smc20190601 import models as smc_models
from darabonba.policy.retry import RetryOptions

from sandbox.cloud import CloudSimulator, default_world, load_world
from sandbox.cloud.loader import default_world_data
from tests.sandbox.test_cloud_support import (
    SOURCE_LINUX,
    WEB_PROD_01,
    describe_job,
    ecs,
    error_of,
    image_job,
    smc,
    source_ecs,
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator(time_scale=0) as simulator:
        yield simulator


def _regions(sim: CloudSimulator, **extra: Any) -> list[str]:
    body = ecs(sim, **extra).describe_regions(ecs_models.DescribeRegionsRequest()).body
    return [region.region_id for region in body.regions.region]


def _admin(
    sim: CloudSimulator, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{sim.url}/_sandbox{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_error_rate_answers_internal_error_with_status_500(sim: CloudSimulator) -> None:
    sim.faults.set_error_rate("DescribeRegions", 1.0)
    error = error_of(lambda: _regions(sim))
    assert (error.code, error.status_code, error.name) == ("InternalError", 500, "ServerException")
    zones = ecs(sim).describe_zones(ecs_models.DescribeZonesRequest(region_id="cn-hangzhou")).body.zones.zone
    assert len(zones) == 3
    sim.faults.set_error_rate("DescribeRegions", 0)
    assert _regions(sim) == ["cn-hangzhou", "cn-shanghai"]


def test_partial_error_rate_fails_some_calls(sim: CloudSimulator) -> None:
    sim.faults.set_error_rate("*", 0.5)
    outcomes = set()
    for _ in range(30):
        try:
            _regions(sim)
            outcomes.add("ok")
        except Exception as error:
            outcomes.add(getattr(error, "code", "?"))
    assert outcomes == {"ok", "InternalError"}


def test_throttling_carries_retry_after_and_the_sdk_raises_throttling_exception(sim: CloudSimulator) -> None:
    sim.faults.throttle("DescribeReplicationJobs", times=1, retry_after_ms=1500)
    request = smc_models.DescribeReplicationJobsRequest()
    error = error_of(lambda: smc(sim).describe_replication_jobs(request))
    assert (error.code, error.status_code, error.name) == ("Throttling.User", 400, "ThrottlingException")
    assert error.retry_after == 1500
    assert smc(sim).describe_replication_jobs(request).body.total_count == 0


def test_sdk_retry_options_ride_out_throttling(sim: CloudSimulator) -> None:
    sim.faults.throttle("DescribeRegions", times=2, retry_after_ms=20)
    retry = RetryOptions(
        {
            "retryable": True,
            "retryCondition": [
                {
                    "exception": ["ThrottlingException"],
                    "maxAttempts": 3,
                    "maxDelay": 100,
                    "backoff": {"policy": "Fixed", "period": 10},
                }
            ],
        }
    )
    assert _regions(sim, retry_options=retry) == ["cn-hangzhou", "cn-shanghai"]
    assert [call.code for call in sim.calls("DescribeRegions")] == ["Throttling.User", "Throttling.User", ""]


def test_latency_makes_a_short_read_timeout_expire(sim: CloudSimulator) -> None:
    sim.faults.set_latency("DescribeRegions", 5.0)
    with pytest.raises(Exception) as caught:
        _regions(sim, read_timeout=300)
    assert type(caught.value).__name__ == "UnretryableException"
    assert "timed out" in str(caught.value).lower()
    zones = ecs(sim, read_timeout=300).describe_zones(
        ecs_models.DescribeZonesRequest(region_id="cn-hangzhou")
    )
    assert zones.body.zones.zone


def test_scripted_job_failure_goes_in_error_then_retry_finishes(sim: CloudSimulator) -> None:
    sim.faults.fail_job(
        source_id=SOURCE_LINUX, at_progress=40, code="InternalError", message="disk read error on /dev/vdb"
    )
    client = smc(sim)
    job_id = client.create_replication_job(image_job()).body.job_id
    client.start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))
    sim.clock.advance(86400)
    job = describe_job(sim, job_id)
    assert (job.status, job.business_status, job.error_code) == ("InError", "Syncing", "InternalError")
    assert job.status_info == "disk read error on /dev/vdb"
    assert job.progress == pytest.approx(40, abs=0.01)
    assert job.transition_instance_id
    client.start_replication_job(smc_models.StartReplicationJobRequest(job_id=job_id))
    sim.clock.advance(86400)
    job = describe_job(sim, job_id)
    assert (job.status, job.error_code) == ("Finished", "")


def test_agent_offline_through_the_admin_api(sim: CloudSimulator) -> None:
    status, _ = _admin(sim, "POST", "/faults/agent_offline", {"instance_id": WEB_PROD_01})
    assert status == 200
    request = ecs_models.DescribeCloudAssistantStatusRequest(
        region_id="cn-hangzhou", instance_id=[WEB_PROD_01]
    )
    rows = source_ecs(sim).describe_cloud_assistant_status(request).body
    assert (
        rows.instance_cloud_assistant_status_set.instance_cloud_assistant_status[0].cloud_assistant_status
        == "false"
    )
    _admin(sim, "POST", "/faults/agent_offline", {"instance_id": WEB_PROD_01, "offline": False})
    rows = source_ecs(sim).describe_cloud_assistant_status(request).body
    assert (
        rows.instance_cloud_assistant_status_set.instance_cloud_assistant_status[0].cloud_assistant_status
        == "true"
    )


def test_scripted_command_failure(sim: CloudSimulator) -> None:
    sim.faults.fail_command(WEB_PROD_01, exit_code=127, output="sh: curl: command not found\n")
    client = source_ecs(sim)
    request = ecs_models.RunCommandRequest(
        region_id="cn-hangzhou", instance_id=[WEB_PROD_01], type="RunShellScript", command_content="curl x"
    )
    invoke_id = client.run_command(request).body.invoke_id
    sim.clock.advance(120)
    describe = ecs_models.DescribeInvocationsRequest(
        region_id="cn-hangzhou", invoke_id=invoke_id, include_output=True
    )
    [invocation] = client.describe_invocations(describe).body.invocations.invocation
    [item] = invocation.invoke_instances.invoke_instance
    assert (invocation.invocation_status, item.exit_code, item.error_code) == (
        "Failed",
        127,
        "ExitCodeNonzero",
    )
    assert base64.b64decode(item.output).decode() == "sh: curl: command not found\n"


def test_faults_from_the_world_file() -> None:
    data = default_world_data()
    data["faults"] = {
        "errors": {"DescribeRegions": {"rate": 1.0, "code": "ServiceUnavailable", "status": 503}},
        "throttle": {"DescribeZones": {"times": 1, "retry_after_ms": 250}},
    }
    with CloudSimulator(load_world(data), time_scale=0) as sim:
        error = error_of(lambda: _regions(sim))
        assert (error.code, error.status_code) == ("ServiceUnavailable", 503)
        request = ecs_models.DescribeZonesRequest(region_id="cn-hangzhou")
        assert error_of(lambda: ecs(sim).describe_zones(request)).retry_after == 250


def test_admin_api_sets_faults_in_the_world_file_schema(sim: CloudSimulator) -> None:
    status, snapshot = _admin(sim, "POST", "/faults", {"errors": {"DescribeRegions": 1.0}})
    assert (status, snapshot["errors"]["DescribeRegions"]["rate"]) == (200, 1.0)
    assert error_of(lambda: _regions(sim)).code == "InternalError"
    assert _admin(sim, "DELETE", "/faults")[1]["errors"] == {}
    assert _regions(sim) == ["cn-hangzhou", "cn-shanghai"]
    status, body = _admin(sim, "POST", "/faults", {"nonsense": 1})
    assert status == 400
    assert "nonsense" in body["error"]


def test_admin_api_throttle_and_latency_and_job_failure_routes(sim: CloudSimulator) -> None:
    _admin(sim, "POST", "/faults/throttle", {"action": "DescribeRegions", "times": 1, "retry_after_ms": 700})
    _admin(sim, "POST", "/faults/latency", {"action": "DescribeZones", "seconds": 0.01})
    _admin(sim, "POST", "/faults/job_failure", {"job_name": "x", "at_progress": 10, "code": "InternalError"})
    status, snapshot = _admin(sim, "GET", "/faults")
    assert status == 200
    assert snapshot["throttle"]["DescribeRegions"]["retry_after_ms"] == 700
    assert snapshot["latency"] == {"DescribeZones": 0.01}
    assert snapshot["job_failures"][0]["job_name"] == "x"
    assert error_of(lambda: _regions(sim)).retry_after == 700


def test_admin_api_moves_the_clock(sim: CloudSimulator) -> None:
    before = sim.clock.now()
    status, clock = _admin(sim, "POST", "/clock/advance", {"seconds": 3600})
    assert status == 200
    assert (sim.clock.now() - before).total_seconds() == pytest.approx(3600, abs=1)
    status, clock = _admin(sim, "POST", "/clock", {"time_scale": 600})
    assert (status, clock["time_scale"], sim.clock.time_scale) == (200, 600.0, 600.0)
    assert _admin(sim, "POST", "/clock/advance", {"seconds": -1})[0] == 400


def test_admin_api_lists_calls_without_secrets_and_resets(sim: CloudSimulator) -> None:
    token = smc(sim).create_access_token(smc_models.CreateAccessTokenRequest()).body
    client = source_ecs(sim)
    client.run_command(
        ecs_models.RunCommandRequest(
            region_id="cn-hangzhou",
            instance_id=[WEB_PROD_01],
            type="RunShellScript",
            command_content="install {{code}}",
            parameters={"accessTokenId": token.access_token_id, "code": token.access_token_code},
            enable_parameter=True,
        )
    )
    status, listed = _admin(sim, "GET", "/calls")
    assert status == 200
    actions = [call["action"] for call in listed["calls"]]
    assert actions == ["CreateAccessToken", "AssumeRole", "RunCommand"]
    text = json.dumps(listed)
    assert token.access_token_code not in text
    run = listed["calls"][2]
    assert (run["account"], run["status"], run["version"]) == ("2000000000000002", 200, "2014-05-26")
    assert json.loads(run["params"]["Parameters"]) == {"accessTokenId": "***", "code": "***"}
    assert _admin(sim, "GET", "/calls?action=AssumeRole")[1]["calls"][0]["product"] == "sts"
    assert _admin(sim, "DELETE", "/calls")[1] == {"reset": True}
    assert _admin(sim, "GET", "/calls")[1]["calls"] == []


def test_admin_api_state_and_unknown_routes(sim: CloudSimulator) -> None:
    smc(sim).create_replication_job(image_job())
    status, state = _admin(sim, "GET", "/state")
    assert status == 200
    assert [(job["name"], job["status"]) for job in state["jobs"]] == [("migrate-web-prod-02", "Ready")]
    assert {item["state"] for item in state["source_servers"]} == {"Available", "InUse"}
    assert _admin(sim, "GET", "/health")[1]["status"] == "ok"
    assert _admin(sim, "GET", "/nope")[0] == 404


def test_python_handle_lists_calls_with_failed_ones(sim: CloudSimulator) -> None:
    sim.faults.set_error_rate("DescribeRegions", 1.0, times=1)
    error_of(lambda: _regions(sim))
    _regions(sim)
    assert [(call.status, call.code) for call in sim.calls("DescribeRegions")] == [
        (500, "InternalError"),
        (200, ""),
    ]
    sim.reset_calls()
    assert sim.calls() == []


def test_default_world_has_no_faults() -> None:
    assert default_world().faults.errors == {}
