"""Port values: secrets never print, errors read well, filters and credential refs parse."""

from __future__ import annotations

import logging

import pytest

from bot.cloud.ports import (
    MASK,
    CloudError,
    Credentials,
    InstanceFilter,
    JobStatus,
    NewAccessToken,
    Page,
    Secret,
    VSwitch,
    parse_credential_ref,
    role_credential_ref,
)
from bot.cloud.sdk import CloudConfig, split_endpoint


def test_a_secret_never_prints_itself(caplog: pytest.LogCaptureFixture) -> None:
    code = Secret("ACT-CODE-123456")
    token = NewAccessToken(id="at-1", code=code)
    creds = Credentials("STS.id", Secret("sts-secret-value"), Secret("sts-token-value"))
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("token=%s creds=%r code=%s", token, creds, code)
    rendered = " ".join([str(code), repr(code), f"{code}", f"{code!r}", str(token), repr(creds), caplog.text])
    assert "ACT-CODE-123456" not in rendered
    assert "sts-secret-value" not in rendered
    assert "sts-token-value" not in rendered
    assert str(code) == repr(code) == MASK
    assert code.reveal() == "ACT-CODE-123456"


def test_cloud_error_names_code_action_and_request_id() -> None:
    err = CloudError(
        "ReplicationJob.InvalidStatus",
        "The job is not in a state that allows this.",
        request_id="REQ-1",
        http_status=403,
        service="smc",
        action="StartReplicationJob",
    )
    assert str(err) == (
        "ReplicationJob.InvalidStatus: The job is not in a state that allows this. "
        "[smc StartReplicationJob] (request id REQ-1)"
    )
    assert not err.retryable
    assert CloudError("Throttling.User", "slow down", retryable=True).is_throttling
    assert CloudError("InvalidInvokeId.NotFound", "no such invocation").is_not_found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", InstanceFilter()),
        ("  i-bp1abcdef0123  ", InstanceFilter(instance_ids=("i-bp1abcdef0123",))),
        ("172.16.0.10", InstanceFilter(private_ips=("172.16.0.10",))),
        ("web", InstanceFilter(name="*web*")),
        ("i-", InstanceFilter(name="*i-*")),
    ],
)
def test_search_text_becomes_an_instance_filter(text: str, expected: InstanceFilter) -> None:
    assert InstanceFilter.from_search_text(text) == expected


def test_credential_refs_round_trip_and_reject_garbage() -> None:
    ref = role_credential_ref("2000000000000002", "ram-role-smc")
    assert ref == "role/2000000000000002/ram-role-smc"
    assert parse_credential_ref(ref) == ("2000000000000002", "ram-role-smc")
    assert parse_credential_ref("default") is None
    with pytest.raises(ValueError, match="role/<account_id>/<role_name>"):
        parse_credential_ref("role/not-a-number/x")


def test_unknown_job_status_from_the_service_does_not_break_parsing() -> None:
    assert JobStatus("Finished") is JobStatus.FINISHED
    assert JobStatus("SomethingNew") is JobStatus.UNKNOWN


def test_vswitch_knows_which_addresses_it_holds() -> None:
    vsw = VSwitch(id="vsw-1", vpc_id="vpc-1", zone="cn-hangzhou-h", cidr="172.16.1.0/24", available_ips=250)
    assert vsw.contains("172.16.1.77")
    assert not vsw.contains("172.16.2.1")
    assert not vsw.contains("not-an-ip")


def test_page_reports_whether_more_follows() -> None:
    assert Page(items=(1, 2), next_token="abc").has_more
    assert Page(items=(1, 2), page_number=1, page_size=2, total=3).has_more
    assert not Page(items=(3,), page_number=2, page_size=2, total=3).has_more


def test_config_from_the_environment_points_all_clients_at_one_endpoint() -> None:
    config = CloudConfig.from_env(
        {
            "SMC_BOT_CLOUD_ENDPOINT": "http://127.0.0.1:8901",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tSandboxDest00001",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-dest-secret-do-not-use-in-prod",
        },
        read_timeout_s=3.0,
    )
    assert split_endpoint(config.endpoint or "") == ("127.0.0.1:8901", "http")
    assert config.access_key_secret is not None
    assert "sandbox-dest-secret" not in repr(config)
    assert (config.connect_timeout_s, config.read_timeout_s) == (5.0, 3.0)
    assert CloudConfig.from_env({}).access_key_id is None  # the SDK's default credential chain


def test_a_malformed_endpoint_is_refused() -> None:
    assert split_endpoint("sandbox:8901") == ("sandbox:8901", "http")
    with pytest.raises(ValueError, match="http://host:port"):
        split_endpoint("ftp://sandbox:8901")
