"""The destination catalog over the real SDK adapters and the sandbox cloud: option data, validation facts,
a cache that spares the cloud, and a deadline that answers "loading" instead of making Slack wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.cloud.aliyun import AliyunCloudGateway
from bot.cloud.ports import OsType as CloudOsType
from bot.cloud.ports import Secret, SourceDisk, SourceServer, SourceServerState
from bot.cloud.sdk import CloudConfig
from bot.domain.catalog import Catalog, LookupState, source_facts
from bot.domain.params import OsType
from bot.domain.validation import validate
from sandbox.cloud import CloudSimulator
from sandbox.cloud.world import SourceState
from storage.enums import TargetType
from tests.handlers.samples import image_params

WEB = "s-bp1dtyvdak02x846kq4p"
WINDOWS = "s-bp1knv31zn9d3jznb5y3"
REGION = "cn-hangzhou"
NOW = datetime.now(UTC)


class Ticks:
    """A clock the test moves by hand (the catalog's TTLs are monotonic seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway(cloud: CloudSimulator) -> AliyunCloudGateway:
    return AliyunCloudGateway(
        CloudConfig(
            endpoint=cloud.url,
            access_key_id="LTAI5tSandboxDest00001",
            access_key_secret=Secret("sandbox-dest-secret-do-not-use-in-prod"),
            max_attempts=1,
        )
    )


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def catalog(gateway: AliyunCloudGateway, ticks: Ticks) -> Iterator[Catalog]:
    found = Catalog(gateway, deadline_s=5.0, clock=ticks)
    yield found
    assert found.drain(30)


def test_option_lists_come_from_the_destination_account(catalog: Catalog) -> None:
    regions = catalog.regions()
    assert regions.ready and [r.id for r in regions.value or ()] == ["cn-hangzhou", "cn-shanghai"]
    sources = catalog.source_servers().value or ()
    assert [s.id for s in sources] == [WEB, WINDOWS]
    assert all(s.state is SourceServerState.AVAILABLE for s in sources)
    assert {i.name for i in catalog.instances(REGION).value or ()} == {"target-linux-01", "target-win-01"}
    [prod, target] = catalog.vpcs(REGION).value or ()
    assert (prod.name, [v.vswitch_id for v in prod.vswitches]) == ("prod-vpc", ["vsw-bp1t3uoaqdj4w089v99h"])
    assert (target.name, target.cidr) == ("smc-target-vpc", "10.10.0.0/16")
    switches = catalog.vswitches(REGION, "vpc-bp1e4rhn51r4wgor8b81").value or ()
    assert [(s.vswitch_id, s.cidr) for s in switches] == [
        ("vsw-bp1yg0cajhfcobh1gcyd", "10.10.1.0/24"),
        ("vsw-bp1q7ua8sqpxzx5bpdwl", "10.10.2.0/24"),
    ]
    assert "ecs.c6.large" in {t.id for t in catalog.instance_types(REGION).value or ()}


def test_available_sources_come_first(catalog: Catalog, cloud: CloudSimulator) -> None:
    with cloud.lock:
        cloud.world.source_servers[WEB].state = SourceState.UNAVAILABLE
    sources = catalog.source_servers().value or ()
    assert [s.id for s in sources] == [WINDOWS, WEB]


def test_source_facts_carry_disks_used_space_and_os(catalog: Catalog) -> None:
    web = catalog.source(WEB).value
    assert web is not None and web.system_disk is not None and web.system_disk.size_gib == 40
    windows = catalog.source(WINDOWS).value
    assert windows is not None and windows.os_type.value == "windows"
    unknown = catalog.source("s-bp1doesnotexist00")
    assert unknown.ready and unknown.value is None


def test_a_cached_answer_spares_the_cloud_until_it_is_stale(
    catalog: Catalog, cloud: CloudSimulator, ticks: Ticks
) -> None:
    catalog.regions()
    cloud.reset_calls()
    assert catalog.regions().ready and cloud.calls("DescribeRegions") == []
    ticks.now += 61  # past the TTL: still served at once, refreshed in the background
    assert catalog.regions().ready
    assert catalog.drain(10) and len(cloud.calls("DescribeRegions")) == 1
    ticks.now += 601  # past the maximum age: asked again before answering
    assert catalog.regions().ready and len(cloud.calls("DescribeRegions")) == 2


def test_a_slow_cloud_gets_a_loading_answer_and_the_fetch_fills_the_cache(
    gateway: AliyunCloudGateway, cloud: CloudSimulator
) -> None:
    catalog = Catalog(gateway, deadline_s=0.2)
    cloud.faults.set_latency("DescribeVpcs", 1.0)
    first = catalog.vpcs(REGION)
    assert first.state is LookupState.LOADING and "Loading" in first.message
    assert catalog.drain(10)
    assert catalog.vpcs(REGION).ready


def test_a_failing_cloud_gets_a_failed_answer_that_names_the_code(
    catalog: Catalog, cloud: CloudSimulator
) -> None:
    cloud.faults.set_error_rate("DescribeInstances", 1.0, code="Forbidden.RAM", status=403, message="no")
    failed = catalog.instances(REGION)
    assert failed.state is LookupState.FAILED and "Forbidden.RAM" in failed.message
    cloud.faults.clear()
    assert catalog.instances(REGION).ready


def test_validation_reads_the_cache_only_and_reports_what_is_missing(catalog: Catalog) -> None:
    params = image_params()
    cold = catalog.validation_context(params, NOW)
    assert cold.context is None and set(cold.missing) >= {
        "regions",
        f"source {WEB}",
        f"migration jobs of {WEB}",
    }
    catalog.prefetch(params)
    assert catalog.drain(30)
    warm = catalog.validation_context(params, NOW)
    assert warm.context is not None and warm.context.source is not None
    assert warm.context.source.os_type is OsType.LINUX and warm.context.source.has_boot_partition
    assert validate(
        params.model_copy(update={"data_disks": (), "system_disk": params.system_disk}), warm.context
    )
    assert validate(params, warm.context) == []


def test_validation_says_when_a_fact_it_used_is_past_the_ttl(catalog: Catalog, ticks: Ticks) -> None:
    params = image_params()
    catalog.prefetch(params)
    assert catalog.drain(30)
    assert catalog.validation_context(params, NOW).stale is False
    ticks.now += 61  # past the TTL, within the maximum age: still used, worth refreshing
    aged = catalog.validation_context(params, NOW)
    assert aged.context is not None and aged.stale is True
    catalog.prefetch(params)
    assert catalog.drain(30)
    assert catalog.validation_context(params, NOW).stale is False


def test_fetching_missing_facts_can_wait_for_them(catalog: Catalog) -> None:
    params = image_params(
        target_type=TargetType.TARGET_INSTANCE, image_name=None, instance_id="i-bp14kzy194uiygtm79ma"
    )
    check = catalog.validation_context(params, NOW, wait_s=20)
    assert check.context is not None
    instance = check.context.target_instance
    assert instance is not None and (instance.system_disk_gib, instance.data_disk_gib) == (60, (200,))
    assert instance.vswitch is not None and instance.vswitch.cidr == "10.10.1.0/24"


def test_an_unfinished_job_of_the_source_is_found_in_any_region(
    catalog: Catalog, gateway: AliyunCloudGateway
) -> None:
    assert catalog.unfinished_job(WEB).value is None
    job_id = gateway.destination().create_replication_job(
        {
            "RegionId": "cn-shanghai",
            "SourceId": WEB,
            "TargetType": "Image",
            "ImageName": "x-web",
            "SystemDiskSize": 40,
        }
    )
    catalog.forget()
    found = catalog.unfinished_job(WEB).value
    assert found is not None and found.job_id == job_id and found.status == "Ready"
    names = catalog.region_jobs("cn-shanghai").value
    assert names is not None and "x-web" in names.image_names


def test_source_facts_keep_an_unreported_used_space_unknown() -> None:
    server = SourceServer(
        id="s-bp1unreported0001",
        name="web",
        state=SourceServerState.AVAILABLE,
        platform="Linux",
        os_type=CloudOsType.LINUX,
        system_disk=SourceDisk(index=0, size_gib=40),
        data_disks=(SourceDisk(index=1, size_gib=100, used_bytes=30 * 1024**3),),
    )
    facts = source_facts(server)
    assert facts.system_disk.used_gib is None
    assert facts.data_disks[0].used_gib == 30.0
