"""STS AssumeRole and GetCallerIdentity behave like the real service, cross-account trust included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_sts20150401 import models as sts_models

from sandbox.cloud import CloudSimulator, load_world
from sandbox.cloud.loader import default_world_data
from sandbox.cloud.protocol import parse_time
from tests.sandbox.test_cloud_support import (
    DEST,
    OTHER,
    OTHER_ROLE_ARN,
    SOURCE,
    SOURCE_ROLE_ARN,
    describe_instances,
    ecs,
    error_of,
    sts,
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator() as simulator:
        yield simulator


def _assume(sim: CloudSimulator, account: str = DEST, **fields: Any) -> Any:
    fields.setdefault("role_arn", SOURCE_ROLE_ARN)
    fields.setdefault("role_session_name", "smc-bot")
    return sts(sim, account).assume_role(sts_models.AssumeRoleRequest(**fields)).body


def test_trusted_account_assumes_the_source_role(sim: CloudSimulator) -> None:
    body = _assume(sim, duration_seconds=1800)
    credentials = body.credentials
    assert credentials.access_key_id.startswith("STS.")
    assert credentials.access_key_secret and credentials.security_token
    expiration = parse_time(credentials.expiration)
    assert expiration is not None
    assert abs((expiration - sim.clock.now()).total_seconds() - 1800) < 5
    user = body.assumed_role_user
    assert user.arn == f"{SOURCE_ROLE_ARN}/smc-bot"
    assert user.assumed_role_id.endswith(":smc-bot")


def test_assumed_role_acts_in_the_source_account(sim: CloudSimulator) -> None:
    credentials = _assume(sim).credentials
    client = sts(
        sim, key=(credentials.access_key_id, credentials.access_key_secret), token=credentials.security_token
    )
    identity = client.get_caller_identity().body
    assert identity.identity_type == "AssumedRoleUser"
    assert identity.account_id == SOURCE
    assert identity.arn == f"acs:ram::{SOURCE}:assumed-role/ram-role-smc/smc-bot"
    source = ecs(
        sim, key=(credentials.access_key_id, credentials.access_key_secret), token=credentials.security_token
    )
    names = {item.instance_name for item in describe_instances(source, max_results=100).instances.instance}
    assert {"web-prod-01", "db-mysql-01", "win-ad-01", "legacy-erp-01"} <= names


def test_account_identity_is_the_root_account(sim: CloudSimulator) -> None:
    identity = sts(sim).get_caller_identity().body
    assert (identity.identity_type, identity.account_id, identity.arn) == (
        "Account",
        DEST,
        f"acs:ram::{DEST}:root",
    )


def test_untrusted_account_is_refused(sim: CloudSimulator) -> None:
    error = error_of(lambda: _assume(sim, role_arn=OTHER_ROLE_ARN))
    assert error.code == "NoPermission"
    assert error.status_code == 403


def test_role_trusts_only_the_named_accounts(sim: CloudSimulator) -> None:
    assert error_of(lambda: _assume(sim, OTHER)).code == "NoPermission"
    own = _assume(sim, OTHER, role_arn=OTHER_ROLE_ARN)
    assert own.credentials.access_key_id.startswith("STS.")


def test_missing_role_is_refused(sim: CloudSimulator) -> None:
    error = error_of(lambda: _assume(sim, role_arn=f"acs:ram::{SOURCE}:role/no-such-role"))
    assert error.code == "EntityNotExist.Role"
    assert error.status_code == 404


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"role_arn": "arn:aws:iam::1:role/x"}, "InvalidParameter.RoleArn"),
        ({"role_session_name": "a"}, "InvalidParameter.RoleSessionName"),
        ({"role_session_name": "has space"}, "InvalidParameter.RoleSessionName"),
        ({"role_session_name": "x" * 65}, "InvalidParameter.RoleSessionName"),
        ({"duration_seconds": 899}, "InvalidParameter.DurationSeconds"),
        ({"duration_seconds": 3601}, "InvalidParameter.DurationSeconds"),
        ({"policy": "not json"}, "InvalidParameter.PolicyGrammar"),
        ({"policy": '{"Statement": []' + " " * 2048 + "}"}, "InvalidParameter.PolicySize"),
    ],
)
def test_malformed_assume_role_requests_are_refused(
    sim: CloudSimulator, fields: dict[str, Any], code: str
) -> None:
    assert error_of(lambda: _assume(sim, DEST, **fields)).code == code


def test_session_names_may_use_dots_at_signs_and_dashes(sim: CloudSimulator) -> None:
    body = _assume(sim, role_session_name="bot.user@example_1-x", duration_seconds=900)
    assert body.assumed_role_user.arn.endswith("/bot.user@example_1-x")


def test_world_can_let_sts_credentials_expire_on_real_time() -> None:
    data = default_world_data()
    data["sts"] = {"real_clock": True}
    with CloudSimulator(load_world(data), time_scale=0) as simulator:
        credentials = _assume(simulator, duration_seconds=900).credentials
        simulator.clock.advance(7200)
        client = ecs(
            simulator,
            key=(credentials.access_key_id, credentials.access_key_secret),
            token=credentials.security_token,
        )
        assert describe_instances(client).total_count > 0
