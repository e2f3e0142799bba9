"""Retries through the SDK's RetryOptions: throttling and 5xx back off, client errors do not repeat."""

from __future__ import annotations

import socket

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from darabonba.core import DaraCore
from darabonba.policy.retry import RetryPolicyContext

from bot.cloud.aliyun import AliyunCloudGateway
from bot.cloud.ports import CloudError, Secret
from bot.cloud.sdk import CloudConfig, retry_options
from sandbox.cloud import CloudSimulator
from tests.cloud.conftest import REGION, GatewayFactory

WEB_02_SOURCE = "s-bp1dtyvdak02x846kq4p"


def codes(sim: CloudSimulator, action: str) -> list[str]:
    return [c.code for c in sim.calls(action)]


def test_throttling_is_retried_then_succeeds(gateway: AliyunCloudGateway, sim: CloudSimulator) -> None:
    sim.faults.throttle("DescribeRegions", times=2, retry_after_ms=5)
    regions = gateway.destination().list_regions()
    assert regions
    assert codes(sim, "DescribeRegions") == ["Throttling.User", "Throttling.User", ""]


def test_throttling_without_retry_after_is_retried_too(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    sim.faults.set_error_rate(
        "DescribeSourceServers",
        1.0,
        code="Throttling.User",
        status=400,
        message="Request was denied.",
        times=1,
    )
    assert gateway.destination().describe_source_servers([WEB_02_SOURCE])
    assert codes(sim, "DescribeSourceServers") == ["Throttling.User", ""]


def test_throttling_on_a_state_change_is_retried(gateway: AliyunCloudGateway, sim: CloudSimulator) -> None:
    dest = gateway.destination()
    token = dest.create_access_token(name="import-throttled")
    sim.faults.throttle("DeleteAccessToken", times=1, retry_after_ms=1)
    dest.delete_access_token(token.id)
    assert codes(sim, "DeleteAccessToken") == ["Throttling.User", ""]


def test_persistent_throttling_gives_up_after_max_attempts(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    sim.faults.throttle("DescribeVpcs", retry_after_ms=1)
    with pytest.raises(CloudError) as caught:
        gateway.destination().list_vpcs(REGION)
    assert caught.value.code == "Throttling.User"
    assert caught.value.retryable
    assert caught.value.is_throttling
    assert len(sim.calls("DescribeVpcs")) == 4


def test_server_errors_are_retried_on_reads(gateway: AliyunCloudGateway, sim: CloudSimulator) -> None:
    sim.faults.set_error_rate("DescribeReplicationJobs", 1.0, times=2)
    assert gateway.destination().describe_replication_jobs(REGION, ["j-unknown000000000001"]) == []
    assert codes(sim, "DescribeReplicationJobs") == ["InternalError", "InternalError", ""]


def test_server_errors_are_not_repeated_on_a_state_change(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    """A Start whose answer was lost may have worked; a blind repeat would fail with InvalidStatus."""
    sim.faults.set_error_rate("StartReplicationJob", 1.0, times=1)
    with pytest.raises(CloudError) as caught:
        gateway.destination().start_replication_job("j-any0000000000000001")
    assert caught.value.code == "InternalError"
    assert caught.value.http_status == 500
    assert caught.value.retryable  # the caller may retry on its next tick
    assert len(sim.calls("StartReplicationJob")) == 1


def test_client_errors_are_not_retried(gateway: AliyunCloudGateway, sim: CloudSimulator) -> None:
    with pytest.raises(CloudError) as caught:
        gateway.destination().start_replication_job("j-doesnotexist000001")
    assert caught.value.http_status is not None and 400 <= caught.value.http_status < 500
    assert not caught.value.retryable
    assert caught.value.request_id
    assert len(sim.calls("StartReplicationJob")) == 1


def test_injected_client_error_on_a_read_is_not_retried(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    sim.faults.set_error_rate(
        "DescribeVSwitches", 1.0, code="InvalidVpcId.NotFound", status=404, message="No VPC."
    )
    with pytest.raises(CloudError) as caught:
        gateway.destination().list_vswitches(REGION)
    assert (caught.value.code, caught.value.message, caught.value.http_status) == (
        "InvalidVpcId.NotFound",
        "No VPC.",
        404,
    )
    assert caught.value.is_not_found
    assert len(sim.calls("DescribeVSwitches")) == 1


def test_an_unreachable_endpoint_is_a_retryable_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = CloudConfig(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="LTAI5tSandboxDest00001",
        access_key_secret=Secret("sandbox-dest-secret-do-not-use-in-prod"),
        max_attempts=2,
        backoff_base_ms=1,
        backoff_cap_ms=2,
        connect_timeout_s=0.5,
    )
    with pytest.raises(CloudError) as caught:
        AliyunCloudGateway(config).destination().list_regions()
    assert caught.value.code == "ConnectionError"
    assert caught.value.retryable
    assert caught.value.http_status is None
    assert "Connection refused" in caught.value.message


def test_a_slow_answer_times_out(make_gateway: GatewayFactory, sim: CloudSimulator) -> None:
    sim.faults.set_latency("DescribeRegions", 2.0)
    gateway = make_gateway(read_timeout_s=0.2, max_attempts=1)
    with pytest.raises(CloudError) as caught:
        gateway.destination().list_regions()
    assert caught.value.code == "Timeout"
    assert caught.value.retryable


def test_the_observer_sees_every_call_and_its_outcome(cloud_config: CloudConfig, sim: CloudSimulator) -> None:
    seen: list[tuple[str, str, str, float]] = []
    gateway = AliyunCloudGateway(cloud_config, observer=lambda *event: seen.append(event))
    dest = gateway.destination()
    dest.list_regions()
    with pytest.raises(CloudError):
        dest.start_replication_job("j-doesnotexist000001")

    assert seen[0][:3] == ("ecs", "DescribeRegions", "ok")
    assert seen[1][:2] == ("smc", "StartReplicationJob")
    assert seen[1][2] != "ok"
    assert all(seconds >= 0 for *_, seconds in seen)


def test_the_retry_delay_honours_x_acs_retry_after_up_to_the_cap() -> None:
    options = retry_options(CloudConfig(max_retry_after_ms=3_000, backoff_base_ms=100), idempotent=True)

    def delay(exc: Exception) -> int:
        return int(DaraCore.get_backoff_time(options, RetryPolicyContext(retries_attempted=1, exception=exc)))

    assert delay(ThrottlingException(code="Throttling.User", retry_after=1_500)) == 1_500
    assert delay(ThrottlingException(code="Throttling.User", retry_after=60_000)) == 3_000
    assert 100 <= delay(ClientException(code="Throttling.User", status_code=400)) <= 200


def test_retry_conditions_match_what_the_sdk_raises() -> None:
    reads = retry_options(CloudConfig(max_attempts=3), idempotent=True)
    writes = retry_options(CloudConfig(max_attempts=3), idempotent=False)

    def retries(options: object, exc: Exception, attempt: int = 1) -> bool:
        return bool(
            DaraCore.should_retry(options, RetryPolicyContext(retries_attempted=attempt, exception=exc))
        )

    throttled = ThrottlingException(code="Throttling.User", retry_after=10)
    client_error = ClientException(code="InvalidParameter", status_code=400)
    assert retries(reads, throttled) and retries(writes, throttled)
    assert not retries(reads, throttled, attempt=3)
    assert not retries(reads, client_error) and not retries(writes, client_error)
