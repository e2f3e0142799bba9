"""Cloud Assistant through the real SDK, and importing a cross-account source with an activation code."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_smc20190601 import models as smc_models

from sandbox.cloud import CloudSimulator
from tests.sandbox.test_cloud_support import (
    DB_MYSQL_01,
    LEGACY_ERP_01,
    SOURCE_WINDOWS,
    WEB_PROD_01,
    WIN_AD_01,
    error_of,
    smc,
    source_ecs,
)

IMPORT_SCRIPT = (
    "curl -fsSL https://example.invalid/smc.sh | sh -s -- "
    "--token-id {{accessTokenId}} --code {{accessTokenCode}}"
)


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    with CloudSimulator() as simulator:
        yield simulator


def _token(sim: CloudSimulator, **fields: Any) -> tuple[str, str]:
    body = smc(sim).create_access_token(smc_models.CreateAccessTokenRequest(**fields)).body
    return body.access_token_id, body.access_token_code


def _run(client: EcsClient, instance_ids: list[str], parameters: dict[str, str] | None, **fields: Any) -> str:
    fields.setdefault("type", "RunShellScript")
    fields.setdefault("command_content", IMPORT_SCRIPT)
    request = ecs_models.RunCommandRequest(
        region_id="cn-hangzhou",
        instance_id=instance_ids,
        parameters=parameters,
        enable_parameter=parameters is not None,
        **fields,
    )
    return str(client.run_command(request).body.invoke_id)


def _invocation(client: EcsClient, invoke_id: str) -> Any:
    request = ecs_models.DescribeInvocationsRequest(
        region_id="cn-hangzhou", invoke_id=invoke_id, include_output=True
    )
    [invocation] = client.describe_invocations(request).body.invocations.invocation
    return invocation


def _sources(sim: CloudSimulator) -> dict[str, Any]:
    request = smc_models.DescribeSourceServersRequest(page_size=50)
    servers = smc(sim).describe_source_servers(request).body.source_servers.source_server
    return {server.name: server for server in servers}


def test_cloud_assistant_status_is_a_true_false_string(sim: CloudSimulator) -> None:
    request = ecs_models.DescribeCloudAssistantStatusRequest(
        region_id="cn-hangzhou", instance_id=[WEB_PROD_01, LEGACY_ERP_01, WIN_AD_01]
    )
    body = source_ecs(sim).describe_cloud_assistant_status(request).body
    rows = body.instance_cloud_assistant_status_set.instance_cloud_assistant_status
    assert {row.instance_id: (row.cloud_assistant_status, row.ostype) for row in rows} == {
        WEB_PROD_01: ("true", "Linux"),
        LEGACY_ERP_01: ("false", "Linux"),
        WIN_AD_01: ("true", "Windows"),
    }


def test_activation_code_registers_the_instance_as_a_source_in_the_destination_account(
    sim: CloudSimulator,
) -> None:
    token_id, code = _token(sim, count="5", time_to_live_in_days="7")
    client = source_ecs(sim)
    invoke_id = _run(client, [WEB_PROD_01], {"accessTokenId": token_id, "accessTokenCode": code})
    assert _invocation(client, invoke_id).invocation_status == "Pending"
    sim.clock.advance(10)
    assert _invocation(client, invoke_id).invocation_status == "Running"
    sim.clock.advance(60)
    done = _invocation(client, invoke_id)
    assert done.invocation_status == "Success"
    [item] = done.invoke_instances.invoke_instance
    assert item.exit_code == 0
    output = base64.b64decode(item.output).decode()
    assert "Registered" in output
    assert code not in output
    assert "web-prod-01" not in _sources(sim)
    sim.clock.advance(30)
    source = _sources(sim)["web-prod-01"]
    assert source.state == "Available"
    assert source.system_disk_size == 40
    assert [part.path for part in source.system_disk_parts.system_disk_part] == ["/boot", "/"]
    [data] = source.data_disks.data_disk
    assert (data.index, data.size, data.path) == (1, 100, "/data")
    used = json.loads(source.system_info)["disk_used_bytes"]
    assert int(used["1"]) == 42 * 1024**3
    assert source.platform == "CentOS"
    [token] = (
        smc(sim)
        .list_access_tokens(smc_models.ListAccessTokensRequest(access_token_id=[token_id]))
        .body.access_tokens.access_token
    )
    assert (token.registered_count, token.status) == ("1", "activated")


def test_importing_the_same_instance_again_keeps_one_source(sim: CloudSimulator) -> None:
    token_id, code = _token(sim)
    client = source_ecs(sim)
    for _ in range(2):
        _run(client, [DB_MYSQL_01], {"accessTokenId": token_id, "accessTokenCode": code})
        sim.clock.advance(120)
    names = [name for name in _sources(sim) if name == "db-mysql-01"]
    assert names == ["db-mysql-01"]


def test_invalid_activation_code_fails_the_invocation_with_output(sim: CloudSimulator) -> None:
    token_id, _ = _token(sim)
    client = source_ecs(sim)
    invoke_id = _run(client, [WEB_PROD_01], {"accessTokenId": token_id, "accessTokenCode": "wrong-code"})
    sim.clock.advance(300)
    invocation = _invocation(client, invoke_id)
    assert invocation.invocation_status == "Failed"
    [item] = invocation.invoke_instances.invoke_instance
    assert (item.invocation_status, item.exit_code, item.error_code) == ("Failed", 1, "ExitCodeNonzero")
    assert "activation code is invalid" in base64.b64decode(item.output).decode()
    assert "web-prod-01" not in _sources(sim)


@pytest.mark.parametrize("problem", ["expired", "disabled", "usage limit"])
def test_unusable_activation_codes_register_nothing(sim: CloudSimulator, problem: str) -> None:
    token_id, code = _token(sim, count="1", time_to_live_in_days="1")
    if problem == "expired":
        sim.clock.advance(86400 + 1)
    client = source_ecs(sim)  # STS credentials live an hour of simulated time, so assume after the jump
    if problem == "disabled":
        smc(sim).disable_access_token(smc_models.DisableAccessTokenRequest(access_token_id=token_id))
    if problem == "usage limit":
        _run(client, [DB_MYSQL_01], {"accessTokenId": token_id, "accessTokenCode": code})
        sim.clock.advance(120)
    invoke_id = _run(client, [WEB_PROD_01], {"accessTokenId": token_id, "accessTokenCode": code})
    sim.clock.advance(120)
    [item] = _invocation(client, invoke_id).invoke_instances.invoke_instance
    assert item.invocation_status == "Failed"
    assert problem in base64.b64decode(item.output).decode()
    assert "web-prod-01" not in _sources(sim)


def test_instance_without_a_running_agent_aborts(sim: CloudSimulator) -> None:
    token_id, code = _token(sim)
    client = source_ecs(sim)
    invoke_id = _run(client, [LEGACY_ERP_01], {"accessTokenId": token_id, "accessTokenCode": code})
    sim.clock.advance(120)
    invocation = _invocation(client, invoke_id)
    assert invocation.invocation_status == "Failed"
    [item] = invocation.invoke_instances.invoke_instance
    assert (item.invocation_status, item.error_code) == ("Aborted", "ClientNotRunning")


def test_ordinary_commands_succeed_without_registering(sim: CloudSimulator) -> None:
    client = source_ecs(sim)
    invoke_id = _run(client, [WEB_PROD_01], None, command_content="uptime")
    sim.clock.advance(120)
    assert _invocation(client, invoke_id).invocation_status == "Success"
    assert "web-prod-01" not in _sources(sim)


def test_parameters_need_enable_parameter(sim: CloudSimulator) -> None:
    request = ecs_models.RunCommandRequest(
        region_id="cn-hangzhou",
        instance_id=[WEB_PROD_01],
        type="RunShellScript",
        command_content="echo {{x}}",
        parameters={"x": "1"},
    )
    assert error_of(lambda: source_ecs(sim).run_command(request)).code == "Parameter.Disabled"


def test_at_most_one_hundred_instances_per_command(sim: CloudSimulator) -> None:
    ids = [f"i-bp1{n:017d}" for n in range(101)]
    error = error_of(lambda: _run(source_ecs(sim), ids, None, command_content="uptime"))
    assert (error.code, error.status_code) == ("InstanceIds.ExceedLimit", 403)


def test_shell_script_on_windows_is_refused(sim: CloudSimulator) -> None:
    error = error_of(lambda: _run(source_ecs(sim), [WIN_AD_01], None, command_content="uptime"))
    assert error.code == "InvalidInstance.NotMatch"
    invoke_id = _run(
        source_ecs(sim), [WIN_AD_01], None, type="RunPowerShellScript", command_content="Get-Date"
    )
    assert invoke_id.startswith("t-")


def test_reimporting_a_pre_imported_windows_server_keeps_its_source_id(sim: CloudSimulator) -> None:
    token_id, code = _token(sim)
    client = source_ecs(sim)
    invoke_id = _run(
        client, [WIN_AD_01], {"accessTokenId": token_id, "accessTokenCode": code}, type="RunPowerShellScript"
    )
    sim.clock.advance(120)
    assert _invocation(client, invoke_id).invocation_status == "Success"
    request = smc_models.DescribeSourceServersRequest(name="win-ad-01")
    [source] = smc(sim).describe_source_servers(request).body.source_servers.source_server
    assert (source.source_id, source.state, source.platform) == (
        SOURCE_WINDOWS,
        "Available",
        "Windows Server 2019",
    )


def test_invocation_listings_page_at_most_fifty(sim: CloudSimulator) -> None:
    client = source_ecs(sim)
    for _ in range(3):
        _run(client, [WEB_PROD_01], None, command_content="uptime")
    request = ecs_models.DescribeInvocationsRequest(region_id="cn-hangzhou", max_results=2)
    first = client.describe_invocations(request).body
    assert (len(first.invocations.invocation), first.total_count) == (2, 3)
    request = ecs_models.DescribeInvocationsRequest(
        region_id="cn-hangzhou", max_results=2, next_token=first.next_token
    )
    assert len(client.describe_invocations(request).body.invocations.invocation) == 1
    too_many = ecs_models.DescribeInvocationsRequest(region_id="cn-hangzhou", max_results=51)
    assert error_of(lambda: client.describe_invocations(too_many)).code == "InvalidParameter.MaxResults"
    big_page = ecs_models.DescribeInvocationsRequest(region_id="cn-hangzhou", page_size=51)
    assert error_of(lambda: client.describe_invocations(big_page)).code == "InvalidParam.PageSize"
