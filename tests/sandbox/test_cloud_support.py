"""Shared helpers for the cloud simulator tests: default-world ids and real SDK clients (no tests here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_smc20190601 import models as smc_models
from alibabacloud_smc20190601.client import Client as SmcClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import TeaException

from sandbox.cloud import CloudSimulator

DEST = "1000000000000001"
SOURCE = "2000000000000002"
OTHER = "3000000000000003"
KEYS = {
    DEST: ("LTAI5tSandboxDest00001", "sandbox-dest-secret-do-not-use-in-prod"),
    SOURCE: ("LTAI5tSandboxSrc000002", "sandbox-source-secret-do-not-use-in-prod"),
    OTHER: ("LTAI5tSandboxOther0003", "sandbox-other-secret-do-not-use-in-prod"),
}
SOURCE_ROLE_ARN = f"acs:ram::{SOURCE}:role/ram-role-smc"
OTHER_ROLE_ARN = f"acs:ram::{OTHER}:role/ram-role-smc"

WEB_PROD_01 = "i-bp1g89ubw2sb4krcndqk"
WEB_PROD_02 = "i-bp1a6ipvadtfx3gtiw58"
DB_MYSQL_01 = "i-bp1gtknvw8ki285bwt2b"
APP_JAVA_01 = "i-bp1hf2ry17av5x2n1ud2"
WIN_AD_01 = "i-bp1ggcjqfmks5f7yshlv"
LEGACY_ERP_01 = "i-bp1c21ktgy6gvh9dqpx2"
TARGET_LINUX = "i-bp14kzy194uiygtm79ma"
TARGET_WINDOWS = "i-bp1eagjfvrt81oatcu8t"
SOURCE_LINUX = "s-bp1dtyvdak02x846kq4p"
SOURCE_WINDOWS = "s-bp1knv31zn9d3jznb5y3"
TARGET_VPC = "vpc-bp1e4rhn51r4wgor8b81"
TARGET_VSWITCH = "vsw-bp1yg0cajhfcobh1gcyd"
PROD_VPC = "vpc-bp1t1w4et6dswh5wx8uw"
PROD_VSWITCH = "vsw-bp1t3uoaqdj4w089v99h"
TARGET_SG = "sg-bp1vhe0ke7fvmnc1lsry"


def config(
    sim: CloudSimulator,
    account: str = DEST,
    *,
    key: tuple[str, str] | None = None,
    token: str | None = None,
    **extra: Any,
) -> Config:
    """SDK config pointing at the simulator with an account's (or explicit STS) credentials."""
    key_id, secret = key or KEYS[account]
    return Config(
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        endpoint=sim.endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        **extra,
    )


def smc(sim: CloudSimulator, account: str = DEST, **extra: Any) -> SmcClient:
    """A real SMC client."""
    return SmcClient(config(sim, account, **extra))


def ecs(sim: CloudSimulator, account: str = DEST, **extra: Any) -> EcsClient:
    """A real ECS client."""
    return EcsClient(config(sim, account, **extra))


def sts(sim: CloudSimulator, account: str = DEST, **extra: Any) -> StsClient:
    """A real STS client."""
    return StsClient(config(sim, account, **extra))


def assume_source(sim: CloudSimulator, duration: int | None = None) -> Any:
    """Credentials of `ram-role-smc` in the source account, assumed by the destination account."""
    request = sts_models.AssumeRoleRequest(
        role_arn=SOURCE_ROLE_ARN, role_session_name="smc-bot", duration_seconds=duration
    )
    return sts(sim).assume_role(request).body.credentials


def source_ecs(sim: CloudSimulator, **extra: Any) -> EcsClient:
    """An ECS client acting in the source account through the assumed role."""
    credentials = assume_source(sim)
    return EcsClient(
        config(
            sim,
            key=(credentials.access_key_id, credentials.access_key_secret),
            token=credentials.security_token,
            **extra,
        )
    )


def error_of(call: Callable[[], object]) -> TeaException:
    """The SDK exception a call raises (fails the test if it succeeds)."""
    with pytest.raises(TeaException) as caught:
        call()
    return caught.value


def image_job(**overrides: Any) -> smc_models.CreateReplicationJobRequest:
    """A valid image-target job for the pre-imported Linux source (web-prod-02), fields overridable."""
    fields: dict[str, Any] = {
        "region_id": "cn-hangzhou",
        "source_id": SOURCE_LINUX,
        "target_type": "Image",
        "image_name": "web-prod-02-image",
        "system_disk_size": 40,
        "name": "migrate-web-prod-02",
        "data_disk": [smc_models.CreateReplicationJobRequestDataDisk(index=1, size=100)],
    }
    fields.update(overrides)
    return smc_models.CreateReplicationJobRequest(**fields)


def describe_job(sim: CloudSimulator, job_id: str) -> Any:
    """The job as DescribeReplicationJobs returns it."""
    request = smc_models.DescribeReplicationJobsRequest(job_id=[job_id])
    jobs = smc(sim).describe_replication_jobs(request).body.replication_jobs.replication_job
    assert len(jobs) == 1
    return jobs[0]


def describe_instances(client: EcsClient, **fields: Any) -> Any:
    """DescribeInstances body."""
    fields.setdefault("region_id", "cn-hangzhou")
    return client.describe_instances(ecs_models.DescribeInstancesRequest(**fields)).body
