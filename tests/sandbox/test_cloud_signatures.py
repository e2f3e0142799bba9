"""The simulator authenticates like Alibaba: both signature versions, keys, clock skew, nonces, STS tokens."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_smc20190601 import models as smc_models
from alibabacloud_tea_openapi.utils import Utils
from darabonba.core import DaraCore
from darabonba.request import DaraRequest

from sandbox.cloud import CloudSimulator
from tests.sandbox.test_cloud_support import (
    DEST,
    KEYS,
    SOURCE,
    assume_source,
    config,
    describe_instances,
    ecs,
    error_of,
    smc,
    source_ecs,
    sts,
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator() as simulator:
        yield simulator


def _send_v3(
    sim: CloudSimulator,
    *,
    date: str | None = None,
    nonce: str | None = None,
    secret: str | None = None,
    tamper: bool = False,
) -> tuple[int, dict[str, Any]]:
    """A DescribeRegions call signed with the SDK's own ACS3 signer, with chosen date and nonce."""
    request = DaraRequest()
    request.protocol = "http"
    request.method = "POST"
    request.pathname = "/"
    request.query = {"RegionId": "cn-hangzhou"}
    request.headers = {
        "host": sim.endpoint,
        "x-acs-version": "2014-05-26",
        "x-acs-action": "DescribeRegions",
        "user-agent": "sandbox-test",
        "x-acs-date": date or Utils.get_timestamp(),
        "x-acs-signature-nonce": nonce or Utils.get_nonce(),
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    key_id, real_secret = KEYS[DEST]
    request.headers["Authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", request.headers["x-acs-content-sha256"], key_id, secret or real_secret
    )
    if tamper:
        request.query = {"RegionId": "cn-shanghai"}
    response = DaraCore.do_action(request, {})
    return response.status_code, json.loads(response.body)


def _send_v2(sim: CloudSimulator, *, timestamp: str, nonce: str) -> tuple[int, dict[str, Any]]:
    """A legacy HMAC-SHA1 DescribeRegions call signed with the SDK's RPC signer."""
    key_id, secret = KEYS[DEST]
    request = DaraRequest()
    request.protocol = "http"
    request.method = "POST"
    request.pathname = "/"
    request.headers = {"host": sim.endpoint, "user-agent": "sandbox-test"}
    request.query = {
        "Action": "DescribeRegions",
        "Version": "2014-05-26",
        "Format": "json",
        "Timestamp": timestamp,
        "SignatureNonce": nonce,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": key_id,
    }
    request.query["Signature"] = Utils.get_rpcsignature(dict(request.query), "POST", secret)
    response = DaraCore.do_action(request, {})
    return response.status_code, json.loads(response.body)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_default_acs3_signature_is_accepted(sim: CloudSimulator) -> None:
    body = ecs(sim).describe_regions(ecs_models.DescribeRegionsRequest()).body
    assert [region.region_id for region in body.regions.region] == ["cn-hangzhou", "cn-shanghai"]
    assert sim.calls("DescribeRegions")[-1].signature == "ACS3-HMAC-SHA256"


def test_legacy_hmac_sha1_signature_is_accepted(sim: CloudSimulator) -> None:
    client = ecs(sim, signature_algorithm="v2")
    body = describe_instances(client, instance_name="target-*")
    assert sorted(item.instance_name for item in body.instances.instance) == [
        "target-linux-01",
        "target-win-01",
    ]
    assert sim.calls("DescribeInstances")[-1].signature == "HMAC-SHA1"


def test_forged_signature_is_refused(sim: CloudSimulator) -> None:
    key_id, _ = KEYS[DEST]
    client = ecs(sim, key=(key_id, "not-the-secret"))
    error = error_of(lambda: client.describe_regions(ecs_models.DescribeRegionsRequest()))
    assert error.code == "SignatureDoesNotMatch"
    assert error.status_code == 400


def test_forged_legacy_signature_is_refused(sim: CloudSimulator) -> None:
    key_id, _ = KEYS[DEST]
    client = ecs(sim, key=(key_id, "not-the-secret"), signature_algorithm="v2")
    error = error_of(lambda: client.describe_regions(ecs_models.DescribeRegionsRequest()))
    assert error.code == "SignatureDoesNotMatch"


def test_request_changed_after_signing_is_refused(sim: CloudSimulator) -> None:
    status, body = _send_v3(sim, tamper=True)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_unknown_access_key_is_refused(sim: CloudSimulator) -> None:
    client = ecs(sim, key=("LTAI5tNoSuchKey0000000", "whatever"))
    error = error_of(lambda: client.describe_regions(ecs_models.DescribeRegionsRequest()))
    assert error.code == "InvalidAccessKeyId.NotFound"
    assert error.status_code == 404


def test_stale_date_is_refused(sim: CloudSimulator) -> None:
    stale = _stamp(datetime.now(UTC) - timedelta(minutes=16))
    status, body = _send_v3(sim, date=stale)
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    fresh = _stamp(datetime.now(UTC) - timedelta(minutes=14))
    assert _send_v3(sim, date=fresh)[0] == 200


def test_stale_legacy_timestamp_is_refused(sim: CloudSimulator) -> None:
    stale = _stamp(datetime.now(UTC) + timedelta(minutes=20))
    status, body = _send_v2(sim, timestamp=stale, nonce=Utils.get_nonce())
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_reused_nonce_is_refused(sim: CloudSimulator) -> None:
    nonce = Utils.get_nonce()
    assert _send_v3(sim, nonce=nonce)[0] == 200
    status, body = _send_v3(sim, nonce=nonce)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_reused_legacy_nonce_is_refused(sim: CloudSimulator) -> None:
    nonce = Utils.get_nonce()
    timestamp = _stamp(datetime.now(UTC))
    assert _send_v2(sim, timestamp=timestamp, nonce=nonce)[0] == 200
    status, body = _send_v2(sim, timestamp=timestamp, nonce=nonce)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_forged_signature_does_not_burn_the_nonce(sim: CloudSimulator) -> None:
    nonce = Utils.get_nonce()
    assert _send_v3(sim, nonce=nonce, secret="wrong")[1]["Code"] == "SignatureDoesNotMatch"
    assert _send_v3(sim, nonce=nonce)[0] == 200


def test_sts_credentials_sign_both_versions(sim: CloudSimulator) -> None:
    for algorithm in (None, "v2"):
        extra = {"signature_algorithm": algorithm} if algorithm else {}
        body = describe_instances(source_ecs(sim, **extra), instance_name="web-prod-*")
        assert sorted(item.instance_name for item in body.instances.instance) == [
            "web-prod-01",
            "web-prod-02",
        ]
    assert {call.account_uid for call in sim.calls("DescribeInstances")} == {SOURCE}


def test_expired_sts_credentials_are_refused_on_the_simulator_clock(sim: CloudSimulator) -> None:
    credentials = assume_source(sim, duration=900)
    client = ecs(
        sim, key=(credentials.access_key_id, credentials.access_key_secret), token=credentials.security_token
    )
    assert describe_instances(client).total_count > 0
    sim.clock.advance(901)
    error = error_of(lambda: describe_instances(client))
    assert error.code == "InvalidSecurityToken.Expired"


def test_sts_token_of_another_session_is_refused(sim: CloudSimulator) -> None:
    first = assume_source(sim)
    second = assume_source(sim)
    client = ecs(sim, key=(first.access_key_id, first.access_key_secret), token=second.security_token)
    assert error_of(lambda: describe_instances(client)).code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_sts_key_without_token_is_refused(sim: CloudSimulator) -> None:
    credentials = assume_source(sim)
    client = ecs(sim, key=(credentials.access_key_id, credentials.access_key_secret))
    assert error_of(lambda: describe_instances(client)).code == "MissingSecurityToken"


def test_signature_errors_are_client_errors_for_smc_and_sts(sim: CloudSimulator) -> None:
    key_id, _ = KEYS[DEST]
    smc_client = smc(sim, key=(key_id, "x"))
    sts_client = sts(sim, key=(key_id, "x"))
    errors = [
        error_of(lambda: smc_client.list_access_tokens(smc_models.ListAccessTokensRequest())),
        error_of(sts_client.get_caller_identity),
    ]
    assert [error.code for error in errors] == ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]
    assert {error.name for error in errors} == {"ClientException"}


def test_account_credentials_reach_only_their_own_account(sim: CloudSimulator) -> None:
    dest = describe_instances(ecs(sim)).instances.instance
    source = describe_instances(ecs(sim, SOURCE)).instances.instance
    assert {item.instance_name for item in dest} == {"target-linux-01", "target-win-01"}
    assert "web-prod-01" in {item.instance_name for item in source}
    assert config(sim).endpoint == sim.endpoint
