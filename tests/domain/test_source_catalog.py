"""SourceCatalog against the sandbox cloud through the real SDKs: caching, sharing, deadlines, refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.cloud.aliyun import AliyunCloudGateway
from bot.cloud.ports import Secret
from bot.cloud.sdk import CloudConfig
from bot.domain.source_catalog import Access, LookupState, SourceCatalog, SourceRef
from sandbox.cloud import CloudSimulator
from tests.harness import DEST_ACCESS_KEY_ID, DEST_ACCESS_KEY_SECRET

SOURCE = SourceRef("2000000000000002", "ram-role-smc")
UNTRUSTING = SourceRef("3000000000000003", "ram-role-smc")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway(cloud: CloudSimulator) -> AliyunCloudGateway:
    return AliyunCloudGateway(
        CloudConfig(
            endpoint=cloud.url,
            access_key_id=DEST_ACCESS_KEY_ID,
            access_key_secret=Secret(DEST_ACCESS_KEY_SECRET),
            max_attempts=1,
        )
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalog(gateway: AliyunCloudGateway, clock: Clock) -> Iterator[SourceCatalog]:
    found = SourceCatalog(gateway, clock=clock)
    yield found
    assert found.drain()


def test_instances_are_served_from_the_cache_until_it_expires(
    catalog: SourceCatalog, cloud: CloudSimulator, clock: Clock
) -> None:
    first = catalog.instances(SOURCE, "cn-hangzhou", "web")
    again = catalog.instances(SOURCE, "cn-hangzhou", "prod-02")
    assert [i.name for i in first.items] == ["web-prod-01", "web-prod-02"]
    assert [i.name for i in again.items] == ["web-prod-02"]
    assert len(cloud.calls("DescribeInstances")) == 1
    clock.now += 61
    catalog.instances(SOURCE, "cn-hangzhou", "web")
    assert len(cloud.calls("DescribeInstances")) == 2


def test_concurrent_lookups_share_one_fetch(catalog: SourceCatalog, cloud: CloudSimulator) -> None:
    cloud.faults.set_latency("DescribeRegions", 0.5)
    answers: list[LookupState] = []

    def look() -> None:
        answers.append(catalog.regions(SOURCE).state)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [LookupState.READY] * 4
    assert len(cloud.calls("DescribeRegions")) == 1


def test_a_slow_answer_is_loading_and_then_cached(
    gateway: AliyunCloudGateway, cloud: CloudSimulator, clock: Clock
) -> None:
    catalog = SourceCatalog(gateway, clock=clock, deadline_s=0.2)
    cloud.faults.set_latency("DescribeRegions", 1.0)
    assert catalog.regions(SOURCE).state is LookupState.LOADING
    assert catalog.drain()
    ready = catalog.regions(SOURCE, "shang")
    assert ready.state is LookupState.READY and [r.id for r in ready.items] == ["cn-shanghai"]
    assert len(cloud.calls("DescribeRegions")) == 1


def test_a_refused_role_is_remembered_briefly_with_the_fix(catalog: SourceCatalog, clock: Clock) -> None:
    assert catalog.access(UNTRUSTING).access is Access.UNKNOWN
    lookup = catalog.regions(UNTRUSTING)
    assert lookup.state is LookupState.UNAVAILABLE
    assert lookup.message == "Cannot assume the role: fix it in the source account (see the role field)"
    refused = catalog.access(UNTRUSTING)
    assert refused.access is Access.REFUSED and "trust the Alibaba Cloud account 1000000000000001" in (
        refused.message
    )
    clock.now += 31
    assert catalog.access(UNTRUSTING).access is Access.UNKNOWN
    assert catalog.check_access(UNTRUSTING).access is Access.REFUSED
    assert catalog.check_access(SOURCE).access is Access.OK
    assert catalog.access(SourceRef()).access is Access.OK


def test_a_region_beyond_the_index_is_searched_in_ecs(
    gateway: AliyunCloudGateway, cloud: CloudSimulator, clock: Clock
) -> None:
    catalog = SourceCatalog(gateway, clock=clock, index_pages=1)
    first = catalog.instances(SOURCE, "cn-shanghai")
    assert len(first.items) == 100 and not first.complete
    found = catalog.instances(SOURCE, "cn-shanghai", "batch-sh-125")
    assert [i.name for i in found.items] == ["batch-sh-125"]
    by_ip = catalog.instances(SOURCE, "cn-shanghai", found.items[0].private_ip or "")
    assert [i.id for i in by_ip.items] == [found.items[0].id]
    searches = [c.params for c in cloud.calls("DescribeInstances")]
    assert searches[1]["InstanceName"] == "*batch-sh-125*"


def test_regions_come_from_the_bots_own_account_when_the_role_may_not_list_them(
    catalog: SourceCatalog, cloud: CloudSimulator
) -> None:
    cloud.faults.set_error_rate("DescribeRegions", 1.0, code="Forbidden.RAM", status=403, times=1)
    lookup = catalog.regions(SOURCE)
    assert [r.id for r in lookup.items] == ["cn-hangzhou", "cn-shanghai"]
    assert [c.account_uid for c in cloud.calls("DescribeRegions")] == ["2000000000000002", "1000000000000001"]
    assert catalog.access(SOURCE).access is Access.OK


def test_describe_looks_up_what_the_option_lists_did_not_show(
    catalog: SourceCatalog, cloud: CloudSimulator
) -> None:
    wanted = ["i-bp1ggcjqfmks5f7yshlv", "i-bp1nothere00000000"]
    assert catalog.known_instances(SOURCE, wanted) == {}
    found = catalog.describe(SOURCE, "cn-hangzhou", wanted)
    assert {k: v.name for k, v in found.items()} == {"i-bp1ggcjqfmks5f7yshlv": "win-ad-01"}
    assert set(catalog.known_instances(SOURCE, wanted)) == {"i-bp1ggcjqfmks5f7yshlv"}
    assert catalog.describe(SOURCE, "cn-shanghai", wanted[:1]) == {}
    assert len(cloud.calls("DescribeInstances")) == 2


def test_a_known_refusal_answers_lookups_without_asking_sts_again(
    catalog: SourceCatalog, cloud: CloudSimulator
) -> None:
    catalog.regions(UNTRUSTING)
    assumed = len(cloud.calls("AssumeRole"))
    again = catalog.instances(UNTRUSTING, "cn-hangzhou", "web")
    assert again.state is LookupState.UNAVAILABLE
    assert again.message == "The source account refused the bot: the role field says what to fix"
    assert len(cloud.calls("AssumeRole")) == assumed
