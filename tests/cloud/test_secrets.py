"""No AccessKey secret, STS credential or activation code in any error text or log line, whatever fails."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator

import pytest

from bot.cloud.aliyun import AliyunCloudGateway
from bot.cloud.ports import CloudError, CommandType
from bot.cloud.scrub import ScrubbingFilter
from sandbox.cloud import CloudSimulator
from tests.cloud.conftest import DEST_AK_SECRET, REGION, ROLE, SOURCE_ACCOUNT, GatewayFactory

WEB_01 = "i-bp1g89ubw2sb4krcndqk"
SCRIPT = "install-smc --id {{access_token_id}} --code {{activation_code}}"


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every logger (ours, the SDK's, the simulator's) at DEBUG."""
    with caplog.at_level(logging.DEBUG):
        yield


def texts_of(err: CloudError) -> str:
    return "\n".join([str(err), repr(err), err.message, "".join(traceback.format_exception(err))])


def assert_secret_free(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def sts_secrets(sim: CloudSimulator) -> list[str]:
    sessions = sim.world.sts_sessions.values()
    return [s.secret for s in sessions] + [s.token for s in sessions]


def raises(fn: Callable[[], object]) -> CloudError:
    with pytest.raises(CloudError) as caught:
        fn()
    return caught.value


def test_activation_code_never_leaks_from_a_failed_run_command(
    gateway: AliyunCloudGateway, sim: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    dest, source = gateway.destination(), gateway.source(SOURCE_ACCOUNT, ROLE)
    token = dest.create_access_token(name="import-leak-check")
    code = token.code.reveal()
    source.list_zones(REGION)  # assume the role while the sandbox is up
    secrets = [code, DEST_AK_SECRET, *sts_secrets(sim)]
    sim.faults.set_error_rate("RunCommand", 1.0, message=f"The parameter value {code} is not valid.", times=1)

    def run() -> str:
        return source.run_command(
            REGION,
            [WEB_01],
            script=SCRIPT,
            command_type=CommandType.SHELL,
            parameters={"access_token_id": token.id, "activation_code": token.code},
        )

    echoed = raises(run)
    sim.stop()  # the next request's URL (with the code in `Parameters`) ends up in a connection error
    unreachable = raises(run)

    assert echoed.code == "InternalError"
    assert unreachable.code == "ConnectionError"
    for err in (echoed, unreachable):
        assert_secret_free(texts_of(err), secrets)
    assert_secret_free(caplog.text, secrets)
    assert "**********" in echoed.message


def test_command_output_that_echoes_the_code_is_masked(
    gateway: AliyunCloudGateway, sim: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    dest, source = gateway.destination(), gateway.source(SOURCE_ACCOUNT, ROLE)
    token = dest.create_access_token(name="import-echo-check")
    code = token.code.reveal()
    sim.faults.fail_command(WEB_01, output=f"smc-client: activating with code {code}\nfailed\n")
    invoke_id = source.run_command(
        REGION,
        [WEB_01],
        script=SCRIPT,
        command_type=CommandType.SHELL,
        parameters={"access_token_id": token.id, "activation_code": token.code},
    )
    sim.advance(120)

    item = source.describe_invocation(REGION, invoke_id).for_instance(WEB_01)

    assert item is not None
    assert code not in item.output
    assert "activating with code **********" in item.output
    assert code not in caplog.text


def test_sts_credentials_never_leak_from_source_errors(
    make_gateway: GatewayFactory, sim: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    for algorithm in (None, "v2"):  # the legacy signature carries SecurityToken in the URL query
        gateway = make_gateway(signature_algorithm=algorithm)
        source = gateway.source(SOURCE_ACCOUNT, ROLE)
        source.list_zones(REGION)
        secrets = [DEST_AK_SECRET, *sts_secrets(sim)]
        token = sim.world.sts_sessions[next(reversed(sim.world.sts_sessions))].token
        sim.faults.set_error_rate(
            "DescribeVpcs", 1.0, code="InvalidParameter", status=400, message=f"bad token {token}", times=1
        )
        errors = [raises(lambda s=source: s.list_vpcs(REGION))]  # type: ignore[misc]
        sim.advance(1000)  # expired on the sandbox's clock: re-assumed once, then fine
        source.list_vpcs(REGION)
        secrets = [DEST_AK_SECRET, *sts_secrets(sim)]
        for err in errors:
            assert_secret_free(texts_of(err), secrets)
        assert_secret_free(caplog.text, secrets)
    sim.stop()
    errors = [
        raises(lambda: make_gateway(signature_algorithm="v2").source(SOURCE_ACCOUNT, ROLE).list_vpcs(REGION))
    ]
    errors.append(raises(lambda: source.list_vpcs(REGION)))
    for err in errors:
        assert err.code == "ConnectionError"
        assert_secret_free(texts_of(err), secrets)
    assert_secret_free(caplog.text, secrets)


def test_access_key_secret_never_leaks(
    make_gateway: GatewayFactory, sim: CloudSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.faults.set_error_rate("DescribeRegions", 1.0, message=f"signed with {DEST_AK_SECRET}", times=1)
    err = raises(lambda: make_gateway(max_attempts=1).destination().list_regions())
    assert err.code == "InternalError"
    assert_secret_free(texts_of(err), [DEST_AK_SECRET])
    assert_secret_free(caplog.text, [DEST_AK_SECRET])


def test_the_logging_filter_masks_what_the_gateway_has_seen(gateway: AliyunCloudGateway) -> None:
    token = gateway.destination().create_access_token(name="import-filter-check")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "someone logged %s", (token.code.reveal(),), None
    )
    ScrubbingFilter(gateway.scrub).filter(record)
    assert record.getMessage() == "someone logged **********"


def test_sdk_http_debug_output_carries_no_secrets(
    gateway: AliyunCloudGateway,
    sim: CloudSimulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEBUG", "sdk")  # darabonba then logs every request line and header
    dest, source = gateway.destination(), gateway.source(SOURCE_ACCOUNT, ROLE)
    token = dest.create_access_token(name="import-debug-check")
    source.run_command(
        REGION,
        [WEB_01],
        script=SCRIPT,
        command_type=CommandType.SHELL,
        parameters={"access_token_id": token.id, "activation_code": token.code},
    )
    secrets = [token.code.reveal(), DEST_AK_SECRET, *sts_secrets(sim)]

    assert "x-acs-security-token" in caplog.text  # the debug output is there, just masked
    assert_secret_free(caplog.text, secrets)
