"""The sandbox cloud and gateways over it: real SDK clients → our adapters → the simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from bot.cloud.aliyun import AliyunCloudGateway, AliyunDestinationCloud, AliyunSourceCloud
from bot.cloud.ports import CloudGateway, Secret
from bot.cloud.sdk import CloudConfig
from sandbox.cloud import CloudSimulator, default_world

DEST_ACCOUNT = "1000000000000001"
DEST_AK_ID = "LTAI5tSandboxDest00001"
DEST_AK_SECRET = "sandbox-dest-secret-do-not-use-in-prod"
SOURCE_ACCOUNT = "2000000000000002"
UNTRUSTING_ACCOUNT = "3000000000000003"
ROLE = "ram-role-smc"
REGION = "cn-hangzhou"
OTHER_REGION = "cn-shanghai"

GatewayFactory = Callable[..., AliyunCloudGateway]


@pytest.fixture
def sim() -> Iterator[CloudSimulator]:
    """A fresh default world per test, on a free port; the clock only moves when a test moves it."""
    simulator = CloudSimulator(default_world(), time_scale=0.0)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def cloud_config(sim: CloudSimulator) -> CloudConfig:
    """The destination account's AccessKey against the sandbox; retries back off in milliseconds."""
    return CloudConfig(
        endpoint=sim.url,
        access_key_id=DEST_AK_ID,
        access_key_secret=Secret(DEST_AK_SECRET),
        connect_timeout_s=2.0,
        read_timeout_s=5.0,
        max_attempts=4,
        backoff_base_ms=1,
        backoff_cap_ms=5,
        max_retry_after_ms=50,
        role_duration_s=900,
    )


@pytest.fixture
def make_gateway(cloud_config: CloudConfig) -> GatewayFactory:
    """Build a gateway over the sandbox with some config fields changed."""

    def build(clock: Callable[[], datetime] | None = None, **changes: object) -> AliyunCloudGateway:
        config = CloudConfig(**{**cloud_config.__dict__, **changes})
        return AliyunCloudGateway(config, clock=clock or (lambda: datetime.now(UTC)))

    return build


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> AliyunCloudGateway:
    return make_gateway()


@pytest.fixture
def as_port(gateway: AliyunCloudGateway) -> CloudGateway:
    """The same gateway typed as the port: mypy checks that the adapter satisfies the Protocols."""
    return gateway


@pytest.fixture
def dest(gateway: AliyunCloudGateway) -> AliyunDestinationCloud:
    return gateway.destination()


@pytest.fixture
def source(gateway: AliyunCloudGateway) -> AliyunSourceCloud:
    return gateway.source(SOURCE_ACCOUNT, ROLE)
