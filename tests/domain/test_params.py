"""Typed migration parameters: field keys, canonical form, hash, speed-limit conversion, digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.errors import FieldError, InvalidParams
from bot.domain.params import (
    GIB,
    DataDisk,
    Field,
    LicenseType,
    MigrationParams,
    NetworkType,
    Partition,
    PrivateIpMode,
    SystemDisk,
    Tag,
    allowed_execution_methods,
    bandwidth_limit_kbps,
    canonical_json,
    default_execution_method,
    describe_bandwidth_limit,
    field_key,
    params_hash,
    parse_field_key,
)
from storage.enums import ExecutionMethod, TargetType


def image_params(**changes: Any) -> MigrationParams:
    values: dict[str, Any] = {
        "source_id": "s-bp1e2fsl57knvuug",
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod",
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100),),
    }
    values.update(changes)
    return MigrationParams(**values)


# -- field keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", list(Field))
def test_every_field_key_parses_back_to_its_field_and_index(field: Field) -> None:
    index = tuple(range(1, field.arity + 1))
    assert parse_field_key(field_key(field, *index)) == (field, index)


def test_indexed_keys_read_like_block_ids() -> None:
    assert field_key(Field.SYSTEM_DISK_SIZE) == "system_disk_size"
    assert field_key(Field.DATA_DISK_SIZE, 2) == "data_disk_size.2"
    assert field_key(Field.PARTITION_SIZE, 0, 3) == "partition_size.0.3"


@pytest.mark.parametrize(
    ("field", "index"),
    [(Field.REGION, (1,)), (Field.DATA_DISK_SIZE, ()), (Field.PARTITION_BLOCK, (1,))],
)
def test_a_key_with_the_wrong_number_of_indexes_is_refused(field: Field, index: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="index"):
        field_key(field, *index)


@pytest.mark.parametrize("key", ["region.1", "data_disk_size", "data_disk_size.x", "no_such_field"])
def test_keys_the_bot_never_produces_do_not_parse(key: str) -> None:
    with pytest.raises(ValueError):
        parse_field_key(key)


def test_field_error_carries_its_block_key_and_refuses_a_misfit_index() -> None:
    assert FieldError(Field.DATA_DISK_LVM, "Turn LVM off.", (3,)).key == "data_disk_lvm.3"
    with pytest.raises(ValueError):
        FieldError(Field.REGION, "x", (1,))


def test_invalid_params_groups_messages_by_key_for_slack() -> None:
    error = InvalidParams(
        [
            FieldError(Field.TAGS, "First."),
            FieldError(Field.DATA_DISK_SIZE, "Bigger.", (2,)),
            FieldError(Field.TAGS, "Second."),
        ]
    )
    assert error.by_key() == {"tags": "First. Second.", "data_disk_size.2": "Bigger."}
    assert "Bigger." in str(error)


def test_invalid_params_needs_at_least_one_error() -> None:
    with pytest.raises(ValueError):
        InvalidParams([])


# -- defaults and normalisation ---------------------------------------------------------------


def test_execution_method_defaults_follow_the_migration_test_switch() -> None:
    assert image_params().execution_method is ExecutionMethod.TEST_AND_MIGRATE
    assert image_params(migration_test=False).execution_method is ExecutionMethod.MIGRATE_NOW
    assert default_execution_method(True) is ExecutionMethod.TEST_AND_MIGRATE
    assert allowed_execution_methods(True) == (ExecutionMethod.TEST_AND_MIGRATE, ExecutionMethod.TEST_ONLY)
    assert allowed_execution_methods(False) == (
        ExecutionMethod.MIGRATE_NOW,
        ExecutionMethod.MIGRATE_LATER,
        ExecutionMethod.CREATE_ONLY,
    )


def test_console_defaults_apply_when_fields_are_not_given() -> None:
    params = image_params()
    assert params.compression_level == 7
    assert params.checksum is False
    assert params.speed_limit_mbps == 0
    assert params.network_type is NetworkType.PUBLIC
    assert params.license_type is LicenseType.ALIYUN
    assert params.private_ip_mode is PrivateIpMode.UNCHANGED
    assert params.incremental is False


def test_text_is_trimmed_and_blank_optional_text_becomes_none() -> None:
    params = image_params(image_name="  web-prod ", job_name="   ", description="", region_id=" cn-hangzhou ")
    assert params.image_name == "web-prod"
    assert params.job_name is None
    assert params.description is None
    assert params.region_id == "cn-hangzhou"


def test_a_schedule_is_stored_in_utc_to_the_second() -> None:
    shanghai = timezone(timedelta(hours=8))
    params = image_params(
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_LATER,
        scheduled_start=datetime(2030, 1, 2, 8, 30, 15, 999_999, tzinfo=shanghai),
    )
    assert params.scheduled_start == datetime(2030, 1, 2, 0, 30, 15, tzinfo=UTC)
    assert json.loads(canonical_json(params))["scheduled_start"] == "2030-01-02T00:30:15Z"


def test_a_schedule_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        image_params(scheduled_start=datetime(2030, 1, 2, 8, 30))


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValidationError):
        image_params(ssl_encryption=True)


def test_parameters_are_frozen() -> None:
    params = image_params()
    with pytest.raises(ValidationError):
        params.image_name = "other"  # type: ignore[misc]


# -- canonical JSON and hash ----------------------------------------------------------------


def test_canonical_json_has_sorted_keys_and_no_whitespace() -> None:
    text = canonical_json(image_params(tags=(Tag(key="team", value="web"),)))
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["canonical_version"] == 1
    assert data["tags"] == [{"key": "team", "value": "web"}]


def test_hash_is_the_sha256_of_the_canonical_json() -> None:
    import hashlib

    params = image_params()
    assert params_hash(params) == hashlib.sha256(canonical_json(params).encode()).hexdigest()
    assert len(params.params_hash()) == 64


def test_input_order_of_tags_disks_and_partitions_does_not_change_the_hash() -> None:
    parts = (
        Partition(device="0_10", path="/var", size_bytes=GIB),
        Partition(device="0_2", path="/boot", size_bytes=GIB),
    )
    first = image_params(
        tags=(Tag(key="b", value="2"), Tag(key="a", value="1")),
        data_disks=(DataDisk(index=2, size_gib=50), DataDisk(index=1, size_gib=100)),
        system_disk=SystemDisk(size_gib=40, partitions=parts),
    )
    second = image_params(
        tags=(Tag(key="a", value="1"), Tag(key="b", value="2")),
        data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=50)),
        system_disk=SystemDisk(size_gib=40, partitions=tuple(reversed(parts))),
    )
    assert params_hash(first) == params_hash(second)
    assert [p.device for p in first.system_disk.partitions] == ["0_2", "0_10"]


def test_equal_moments_in_different_time_zones_hash_equal() -> None:
    later = {"migration_test": False, "execution_method": ExecutionMethod.MIGRATE_LATER}
    utc = image_params(scheduled_start=datetime(2030, 1, 1, 12, tzinfo=UTC), **later)
    tokyo = image_params(
        scheduled_start=datetime(2030, 1, 1, 21, tzinfo=timezone(timedelta(hours=9))), **later
    )
    assert params_hash(utc) == params_hash(tokyo)


CHANGES: list[tuple[str, Any]] = [
    ("source_id", "s-other"),
    ("target_type", TargetType.TARGET_INSTANCE),
    ("region_id", "cn-beijing"),
    ("image_name", "web-prod2"),
    ("instance_id", "i-abc"),
    ("migration_test", False),
    ("execution_method", ExecutionMethod.TEST_ONLY),
    ("scheduled_start", datetime(2030, 1, 1, tzinfo=UTC)),
    ("incremental", True),
    ("sync_interval_hours", 12),
    ("max_reserved_images", 3),
    ("template_name", "standard"),
    ("network_type", NetworkType.VPC),
    ("vpc_id", "vpc-1"),
    ("vswitch_id", "vsw-1"),
    ("private_ip_mode", PrivateIpMode.MANUAL),
    ("private_ip", "192.168.1.10"),
    ("system_disk", SystemDisk(size_gib=41)),
    ("system_disk", SystemDisk(size_gib=40, lvm=True)),
    (
        "system_disk",
        SystemDisk(size_gib=40, partitions=(Partition(device="0_1", block=False, size_bytes=GIB),)),
    ),
    ("data_disks", (DataDisk(index=1, size_gib=101),)),
    ("data_disks", (DataDisk(index=1, size_gib=100, skip=True),)),
    ("data_disks", ()),
    ("job_name", "job-1"),
    ("description", "Nightly"),
    ("speed_limit_mbps", 1),
    ("compression_level", 6),
    ("checksum", True),
    ("license_type", LicenseType.BYOL),
    ("tags", (Tag(key="a", value=""),)),
    ("instance_type", "ecs.c6.large"),
]


@pytest.mark.parametrize(("name", "value"), CHANGES, ids=[f"{n}={v!r}"[:40] for n, v in CHANGES])
def test_any_change_gives_a_different_hash(name: str, value: Any) -> None:
    base = image_params()
    changed = image_params(**{name: value})
    assert getattr(changed, name) != getattr(base, name)
    assert params_hash(changed) != params_hash(base)


def test_every_parameter_is_covered_by_the_change_list() -> None:
    assert {name for name, _ in CHANGES} == set(MigrationParams.model_fields)


def test_canonical_json_round_trips() -> None:
    params = image_params(
        tags=(Tag(key="k", value="v"),),
        system_disk=SystemDisk(size_gib=40, lvm=True, partitions=(Partition(device="0_1", size_bytes=1),)),
        scheduled_start=datetime(2030, 1, 1, tzinfo=UTC),
        license_type=LicenseType.BYOL,
        network_type=NetworkType.VPC,
    )
    assert MigrationParams.from_canonical(canonical_json(params)) == params


def test_another_canonical_version_is_refused() -> None:
    data = json.loads(canonical_json(image_params()))
    data["canonical_version"] = 2
    with pytest.raises(ValueError, match="canonical version"):
        MigrationParams.from_canonical(json.dumps(data))


names = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20)
partitions = st.builds(
    Partition,
    device=st.from_regex(r"[0-9]_[0-9]{1,2}", fullmatch=True),
    path=st.sampled_from(["", "/", "/boot", "/data"]),
    block=st.booleans(),
    size_bytes=st.integers(min_value=1, max_value=2**45),
)
any_params = st.builds(
    MigrationParams,
    source_id=st.from_regex(r"s-[a-z0-9]{4,20}", fullmatch=True),
    target_type=st.sampled_from(TargetType),
    region_id=st.sampled_from(["cn-hangzhou", "ap-southeast-1"]),
    image_name=st.none() | names,
    instance_id=st.none() | st.from_regex(r"i-[a-z0-9]{4,12}", fullmatch=True),
    migration_test=st.booleans(),
    execution_method=st.sampled_from(ExecutionMethod),
    scheduled_start=st.none()
    | st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.timezones()),
    incremental=st.booleans(),
    sync_interval_hours=st.none() | st.integers(-5, 200),
    max_reserved_images=st.none() | st.integers(-1, 12),
    template_name=st.none() | names,
    network_type=st.sampled_from(NetworkType),
    vpc_id=st.none() | st.just("vpc-1"),
    vswitch_id=st.none() | st.just("vsw-1"),
    private_ip_mode=st.sampled_from(PrivateIpMode),
    private_ip=st.none() | st.ip_addresses(v=4).map(str),
    system_disk=st.builds(
        SystemDisk,
        size_gib=st.none() | st.integers(0, 3000),
        lvm=st.booleans(),
        partitions=st.lists(partitions, max_size=3).map(tuple),
    ),
    data_disks=st.lists(
        st.builds(
            DataDisk,
            index=st.integers(0, 17),
            size_gib=st.none() | st.integers(0, 40000),
            skip=st.booleans(),
            lvm=st.booleans(),
            partitions=st.lists(partitions, max_size=2).map(tuple),
        ),
        max_size=3,
    ).map(tuple),
    job_name=st.none() | names,
    description=st.none() | names,
    speed_limit_mbps=st.integers(0, 10_000),
    compression_level=st.integers(0, 10),
    checksum=st.booleans(),
    license_type=st.sampled_from(LicenseType),
    tags=st.lists(st.builds(Tag, key=names, value=st.text(max_size=10)), max_size=4).map(tuple),
    instance_type=st.none() | st.just("ecs.g7.large"),
)


@given(any_params)
def test_any_parameters_round_trip_through_their_canonical_json(params: MigrationParams) -> None:
    text = canonical_json(params)
    again = MigrationParams.from_canonical(text)
    assert again == params
    assert canonical_json(again) == text
    assert params_hash(again) == params_hash(params)


@given(any_params, st.randoms(use_true_random=False))
def test_shuffled_collections_hash_the_same(params: MigrationParams, random: Any) -> None:
    def shuffled(items: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(items)
        random.shuffle(out)
        return tuple(out)

    disks = tuple(d.model_copy(update={"partitions": shuffled(d.partitions)}) for d in params.data_disks)
    system = params.system_disk.model_copy(update={"partitions": shuffled(params.system_disk.partitions)})
    again = MigrationParams.model_validate(
        {
            **params.model_dump(),
            "tags": shuffled(params.tags),
            "data_disks": [d.model_dump() for d in shuffled(disks)],
            "system_disk": system.model_dump(),
        }
    )
    assert params_hash(again) == params_hash(params)


@given(any_params, any_params)
def test_hashes_are_equal_exactly_when_parameters_are_equal(a: MigrationParams, b: MigrationParams) -> None:
    assert (params_hash(a) == params_hash(b)) == (a == b)


# -- speed limit -------------------------------------------------------------------------------


def test_speed_limit_is_sent_in_kilobytes_per_second() -> None:
    assert bandwidth_limit_kbps(0) == 0
    assert bandwidth_limit_kbps(1) == 125
    assert bandwidth_limit_kbps(100) == 12_500


@given(st.integers(min_value=0, max_value=100_000))
def test_speed_limit_conversion_keeps_the_bytes_per_second(mbps: int) -> None:
    assert bandwidth_limit_kbps(mbps) * 1000 == mbps * 1_000_000 // 8


def test_a_negative_speed_limit_cannot_be_converted() -> None:
    with pytest.raises(ValueError):
        bandwidth_limit_kbps(-1)


def test_the_speed_limit_sentence_says_what_is_sent() -> None:
    assert "unlimited" in describe_bandwidth_limit(0)
    sentence = describe_bandwidth_limit(100)
    assert "12500" in sentence
    assert "KB/s" in sentence
    assert "100 Mbit/s as entered" in sentence


# -- digest ---------------------------------------------------------------------------------


def test_digest_of_an_image_migration() -> None:
    params = image_params(
        speed_limit_mbps=100,
        tags=(Tag(key="team", value="web"),),
        data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, skip=True)),
        system_disk=SystemDisk(size_gib=40, lvm=True),
        job_name="web-job",
        template_name="standard",
        instance_type="ecs.c6.large",
    )
    lines = dict(params.digest())
    assert lines["Destination"] == "ECS image web-prod in cn-hangzhou"
    assert lines["Method"] == "Test and Migrate"
    assert lines["Disks"] == "system: 40 GiB (LVM); data 1: 100 GiB; data 2: skipped"
    assert lines["Network"] == "Public (SMC creates a VPC and vSwitch)"
    assert lines["Speed limit"] == "100 Mbit/s"
    assert lines["Transfer"] == "compression 7, checksum off"
    assert lines["License"] == "Alibaba Cloud"
    assert lines["Tags"] == "team=web"
    assert lines["Job name"] == "web-job"
    assert lines["Template"] == "standard"
    assert lines["Intermediate instance type"] == "ecs.c6.large"
    assert "Private IP" not in lines


def test_digest_of_a_scheduled_incremental_instance_migration_over_vpc() -> None:
    params = image_params(
        target_type=TargetType.TARGET_INSTANCE,
        image_name=None,
        instance_id="i-bp1abc",
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_LATER,
        scheduled_start=datetime(2030, 5, 1, 2, 0, tzinfo=UTC),
        incremental=True,
        sync_interval_hours=12,
        max_reserved_images=3,
        network_type=NetworkType.VPC,
        vpc_id="vpc-1",
        vswitch_id="vsw-1",
        private_ip_mode=PrivateIpMode.MANUAL,
        private_ip="192.168.1.10",
        license_type=LicenseType.BYOL,
    )
    lines = dict(params.digest())
    assert lines["Destination"] == "ECS instance i-bp1abc in cn-hangzhou"
    assert lines["Method"] == "Migrate Later at 2030-05-01T02:00:00Z (no migration test)"
    assert lines["Incremental sync"] == "every 12 h, keep 3 images"
    assert lines["Network"] == "VPC vpc-1 / vsw-1"
    assert lines["Private IP"] == "set to 192.168.1.10 after cutover"
    assert lines["Speed limit"] == "unlimited"
    assert lines["License"] == "BYOL"


def test_digest_names_a_chosen_network_for_public_transfer() -> None:
    lines = dict(image_params(vpc_id="vpc-1", vswitch_id="vsw-1").digest())
    assert lines["Network"] == "Public, intermediate instance in vpc-1 / vsw-1"
