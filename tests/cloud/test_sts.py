"""STS through the adapters: who am I, cross-account AssumeRole, refusals that say what to fix, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cloud.aliyun import AliyunCloudGateway
from bot.cloud.ports import CloudError, Secret, role_credential_ref
from sandbox.cloud import CloudSimulator
from tests.cloud.conftest import (
    DEST_ACCOUNT,
    REGION,
    ROLE,
    SOURCE_ACCOUNT,
    UNTRUSTING_ACCOUNT,
    GatewayFactory,
)


def test_destination_identity_is_the_bots_own_account(gateway: AliyunCloudGateway) -> None:
    identity = gateway.destination().get_caller_identity()
    assert identity.account_id == DEST_ACCOUNT
    assert identity.arn.startswith(f"acs:ram::{DEST_ACCOUNT}:")


def test_source_calls_run_in_the_source_account_through_assume_role(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    source = gateway.source(SOURCE_ACCOUNT, ROLE)
    identity = source.get_caller_identity()
    instances = source.list_instances(REGION).items

    assert identity.account_id == SOURCE_ACCOUNT
    assert f"role/{ROLE}" in identity.arn.lower()
    assume = sim.calls("AssumeRole")
    assert len(assume) == 1
    assert assume[0].params["RoleArn"] == f"acs:ram::{SOURCE_ACCOUNT}:role/{ROLE}"
    assert assume[0].params["RoleSessionName"].startswith("smc-chatops-")
    assert assume[0].params["DurationSeconds"] == "900"
    assert instances
    assert {c.account_uid for c in sim.calls("DescribeInstances")} == {SOURCE_ACCOUNT}


def test_same_account_source_uses_the_bots_own_credentials(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    identity = gateway.source(None, None).get_caller_identity()
    assert identity.account_id == DEST_ACCOUNT
    assert sim.calls("AssumeRole") == []


def test_a_destination_reached_by_role_runs_smc_in_that_account(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    ref = role_credential_ref(SOURCE_ACCOUNT, ROLE)
    other = gateway.destination(ref)
    token = other.create_access_token(name="import-other-destination")

    assert other.credential_ref == ref
    assert gateway.destination().credential_ref == "default"
    assert [c.account_uid for c in sim.calls("CreateAccessToken")] == [SOURCE_ACCOUNT]
    assert token.id not in {t.id for t in gateway.destination().list_access_tokens()}


def test_untrusted_role_is_refused_with_the_fix(gateway: AliyunCloudGateway) -> None:
    with pytest.raises(CloudError) as caught:
        gateway.source(UNTRUSTING_ACCOUNT, ROLE).list_instances(REGION)

    err = caught.value
    assert not err.retryable
    assert err.http_status is not None and 400 <= err.http_status < 500
    message = str(err)
    assert f"acs:ram::{UNTRUSTING_ACCOUNT}:role/{ROLE}" in message
    assert f"source account {UNTRUSTING_ACCOUNT}" in message
    assert f"trust the Alibaba Cloud account {DEST_ACCOUNT}" in message
    assert "policy-smc" in message
    assert "Step 1" in message


def test_missing_role_is_refused_with_the_fix(gateway: AliyunCloudGateway) -> None:
    with pytest.raises(CloudError) as caught:
        gateway.source(SOURCE_ACCOUNT, "no-such-role").get_caller_identity()
    assert caught.value.code == "EntityNotExist.Role"
    assert "the RAM role 'no-such-role' must exist" in str(caught.value)


def test_unknown_access_key_is_refused(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(
        access_key_id="LTAI5tForgedKey0000000", access_key_secret=Secret("whatever-secret")
    )
    with pytest.raises(CloudError) as caught:
        gateway.destination().list_regions()
    assert caught.value.code == "InvalidAccessKeyId.NotFound"
    assert not caught.value.retryable


def test_forged_signature_is_refused(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(access_key_secret=Secret("not-the-real-secret-of-this-key"))
    with pytest.raises(CloudError) as caught:
        gateway.destination().list_access_tokens()
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.http_status == 400
    assert not caught.value.retryable


def test_legacy_hmac_sha1_signature_works_too(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(signature_algorithm="v2")
    assert gateway.source(SOURCE_ACCOUNT, ROLE).get_caller_identity().account_id == SOURCE_ACCOUNT


def test_credentials_rejected_as_expired_are_assumed_again(
    gateway: AliyunCloudGateway, sim: CloudSimulator
) -> None:
    source = gateway.source(SOURCE_ACCOUNT, ROLE)
    source.list_zones(REGION)
    # The sandbox's clock runs past the 900 s session while ours has not moved.
    sim.advance(1000)

    zones = source.list_zones(REGION)

    assert zones
    assert len(sim.calls("AssumeRole")) == 2
    codes = [c.code for c in sim.calls("DescribeZones")]
    assert codes == ["", "InvalidSecurityToken.Expired", ""]


def test_credentials_are_refreshed_before_they_expire(
    make_gateway: GatewayFactory, sim: CloudSimulator
) -> None:
    now = [datetime.now(UTC)]
    gateway = make_gateway(clock=lambda: now[0])
    source = gateway.source(SOURCE_ACCOUNT, ROLE)
    source.list_zones(REGION)
    sim.advance(700)
    now[0] += timedelta(seconds=700)  # within the 5-minute margin of a 900 s session

    source.list_zones(REGION)

    assert len(sim.calls("AssumeRole")) == 2
    assert all(c.code == "" for c in sim.calls("DescribeZones"))
