"""Typed migration parameters (PRODUCT §3.2): the canonical form, its hash and the human digest."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator, model_validator

from storage.enums import ExecutionMethod, TargetType

GIB = 1024**3
KBPS_PER_MBPS = 125
"""1 Mbit/s = 1,000,000 bit/s = 125,000 bytes/s = 125 KB/s with 1 KB = 1,000 bytes."""

CANONICAL_VERSION = 1
"""Bumped when the canonical form changes, so stored hashes are never silently reinterpreted."""

_CANONICAL_VERSION_KEY = "canonical_version"


class NetworkType(IntEnum):
    """How migration data travels; the values are SMC's `NetMode`."""

    PUBLIC = 0
    VPC = 2


class LicenseType(StrEnum):
    """`ALIYUN` is the console's default "Alibaba Cloud" licence, sent as no `LicenseType` at all."""

    ALIYUN = "aliyun"
    BYOL = "BYOL"


class PrivateIpMode(StrEnum):
    """Private IPv4 of a destination instance after cutover (instance targets only)."""

    UNCHANGED = "unchanged"
    MANUAL = "manual"


class OsType(StrEnum):
    WINDOWS = "windows"
    LINUX = "linux"


class Field(StrEnum):
    """User-facing fields; the values are stable keys the Slack layer maps to block ids."""

    SOURCE = "source_id"
    TARGET_TYPE = "target_type"
    REGION = "region"
    IMAGE_NAME = "image_name"
    INSTANCE = "instance_id"
    MIGRATION_TEST = "migration_test"
    EXECUTION_METHOD = "execution_method"
    SCHEDULED_START = "scheduled_start"
    INCREMENTAL = "incremental"
    SYNC_INTERVAL = "sync_interval_hours"
    MAX_IMAGES = "max_reserved_images"
    TEMPLATE = "template_name"
    NETWORK_TYPE = "network_type"
    VPC = "vpc_id"
    VSWITCH = "vswitch_id"
    PRIVATE_IP_MODE = "private_ip_mode"
    PRIVATE_IP = "private_ip"
    SYSTEM_DISK_SIZE = "system_disk_size"
    SYSTEM_DISK_LVM = "system_disk_lvm"
    DATA_DISK_SIZE = "data_disk_size"
    DATA_DISK_SKIP = "data_disk_skip"
    DATA_DISK_LVM = "data_disk_lvm"
    PARTITION_BLOCK = "partition_block"
    PARTITION_SIZE = "partition_size"
    JOB_NAME = "job_name"
    DESCRIPTION = "description"
    SPEED_LIMIT = "speed_limit_mbps"
    COMPRESSION = "compression_level"
    CHECKSUM = "checksum"
    LICENSE_TYPE = "license_type"
    TAGS = "tags"
    INSTANCE_TYPE = "instance_type"

    @property
    def arity(self) -> int:
        """How many indexes the key carries: data-disk fields 1 (disk index), partition fields 2."""
        return _FIELD_ARITY.get(self, 0)


_FIELD_ARITY: dict[Field, int] = {
    Field.DATA_DISK_SIZE: 1,
    Field.DATA_DISK_SKIP: 1,
    Field.DATA_DISK_LVM: 1,
    # (disk, partition): disk 0 is the system disk, partition is the 1-based position on that disk.
    Field.PARTITION_BLOCK: 2,
    Field.PARTITION_SIZE: 2,
}


def field_key(field: Field, *index: int) -> str:
    """`data_disk_size.2`, `partition_size.0.1`: the stable key of one (indexed) field."""
    if len(index) != field.arity:
        raise ValueError(f"{field.value} takes {field.arity} index(es), got {len(index)}")
    return ".".join([field.value, *(str(i) for i in index)])


@functools.lru_cache(maxsize=4096)
def parse_field_key(key: str) -> tuple[Field, tuple[int, ...]]:
    """Inverse of `field_key`; raises ValueError for anything `field_key` cannot produce.

    Cached: every submission of the wizard reads a page's keys twice (its values, its blocks); a bounded
    cache, as the keys come from Slack payloads."""
    name, *rest = key.split(".")
    field = Field(name)
    if len(rest) != field.arity or not all(part.isdigit() for part in rest):
        raise ValueError(f"not a key of {field.value}: {key!r}")
    return field, tuple(int(part) for part in rest)


def default_execution_method(migration_test: bool) -> ExecutionMethod:
    """The console's defaults: Test and Migrate with a migration test, Migrate Now without."""
    return ExecutionMethod.TEST_AND_MIGRATE if migration_test else ExecutionMethod.MIGRATE_NOW


def allowed_execution_methods(migration_test: bool) -> tuple[ExecutionMethod, ...]:
    """The methods the console offers for this migration-test choice, default first."""
    if migration_test:
        return (ExecutionMethod.TEST_AND_MIGRATE, ExecutionMethod.TEST_ONLY)
    return (ExecutionMethod.MIGRATE_NOW, ExecutionMethod.MIGRATE_LATER, ExecutionMethod.CREATE_ONLY)


EXECUTION_METHOD_LABELS: dict[ExecutionMethod, str] = {
    ExecutionMethod.TEST_ONLY: "Test Only",
    ExecutionMethod.TEST_AND_MIGRATE: "Test and Migrate",
    ExecutionMethod.MIGRATE_NOW: "Migrate Now",
    ExecutionMethod.MIGRATE_LATER: "Migrate Later",
    ExecutionMethod.CREATE_ONLY: "Create Only",
}

TARGET_TYPE_LABELS: dict[TargetType, str] = {
    TargetType.IMAGE: "ECS image",
    TargetType.TARGET_INSTANCE: "ECS instance",
}


def bandwidth_limit_kbps(mbps: int) -> int:
    """THE speed-limit conversion: Mbit/s as entered -> KB/s sent in `bandwidth_limit`; 0 = unlimited."""
    if mbps < 0:
        raise ValueError("the speed limit cannot be negative")
    return mbps * KBPS_PER_MBPS


def describe_bandwidth_limit(mbps: int) -> str:
    """What the bot sends for a speed limit, in words (modal help, approval card)."""
    if mbps == 0:
        return "bandwidth_limit 0: unlimited"
    return (
        f"bandwidth_limit {bandwidth_limit_kbps(mbps)} (KB/s — {mbps} Mbit/s as entered; "
        "the API does not document the unit, the SMC client uses KB/s)"
    )


def format_utc(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, the form SMC's time parameters take."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_gib(value: float) -> str:
    """37 -> "37", 37.25 -> "37.3": sizes for humans."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _device_sort_key(device: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order for SMC device ids ("0_2" before "0_10")."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[_.\-]", device))


def _strip_or_none(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Partition(_Frozen):
    """A partition of a disk by SMC device id ("0_1"); forms prefill `size_bytes` with the source's size."""

    device: str
    size_bytes: int
    path: str = ""
    block: bool = True

    @field_validator("device", "path", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class _Disk(_Frozen):
    size_gib: int | None = None
    lvm: bool = False
    partitions: tuple[Partition, ...] = ()
    """Empty: SMC's automatic layout. Set: the console's "Modify Disk Partition", every partition listed."""

    @field_validator("partitions")
    @classmethod
    def _sorted_partitions(cls, value: tuple[Partition, ...]) -> tuple[Partition, ...]:
        return tuple(sorted(value, key=lambda p: (_device_sort_key(p.device), p.model_dump_json())))


class SystemDisk(_Disk):
    """The destination system disk (size 20 to 2048 GiB)."""


class DataDisk(_Disk):
    """Destination data disk `index` (1 to 16); `skip` for a disk with no migrated mount target."""

    index: int
    skip: bool = False


class Tag(_Frozen):
    key: str
    value: str = ""

    @field_validator("key", "value", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class MigrationParams(_Frozen):
    """Every parameter of PRODUCT §3.2, normalised; rules live in `bot.domain.validation`."""

    source_id: str
    target_type: TargetType
    region_id: str
    image_name: str | None = None
    instance_id: str | None = None
    migration_test: bool = True
    execution_method: ExecutionMethod
    scheduled_start: datetime | None = None
    incremental: bool = False
    sync_interval_hours: int | None = None
    max_reserved_images: int | None = None
    template_name: str | None = None
    network_type: NetworkType = NetworkType.PUBLIC
    vpc_id: str | None = None
    vswitch_id: str | None = None
    private_ip_mode: PrivateIpMode = PrivateIpMode.UNCHANGED
    private_ip: str | None = None
    system_disk: SystemDisk = SystemDisk()
    data_disks: tuple[DataDisk, ...] = ()
    job_name: str | None = None
    description: str | None = None
    speed_limit_mbps: int = 0
    compression_level: int = 7
    checksum: bool = False
    license_type: LicenseType = LicenseType.ALIYUN
    tags: tuple[Tag, ...] = ()
    instance_type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_execution_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("execution_method") is None:
            data = {**data, "execution_method": default_execution_method(data.get("migration_test", True))}
        return data

    @field_validator("source_id", "region_id", mode="before")
    @classmethod
    def _strip_required(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "image_name",
        "instance_id",
        "template_name",
        "vpc_id",
        "vswitch_id",
        "private_ip",
        "job_name",
        "description",
        "instance_type",
        mode="before",
    )
    @classmethod
    def _strip_optional(cls, value: object) -> object:
        return _strip_or_none(value)

    @field_validator("scheduled_start")
    @classmethod
    def _utc_whole_seconds(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("scheduled_start must carry a time zone")
        return value.astimezone(UTC).replace(microsecond=0)

    @field_validator("data_disks")
    @classmethod
    def _disks_by_index(cls, value: tuple[DataDisk, ...]) -> tuple[DataDisk, ...]:
        # The full dump breaks ties, so even invalid duplicates have one canonical order.
        return tuple(sorted(value, key=lambda d: (d.index, d.model_dump_json())))

    @field_validator("tags")
    @classmethod
    def _tags_sorted(cls, value: tuple[Tag, ...]) -> tuple[Tag, ...]:
        return tuple(sorted(value, key=lambda t: (t.key, t.value)))

    @field_serializer("scheduled_start")
    def _serialise_start(self, value: datetime | None) -> str | None:
        return None if value is None else format_utc(value)

    def migrated_data_disks(self) -> tuple[DataDisk, ...]:
        """The data disks that are not skipped, by index."""
        return tuple(d for d in self.data_disks if not d.skip)

    def canonical_json(self) -> str:
        return canonical_json(self)

    def params_hash(self) -> str:
        return params_hash(self)

    @classmethod
    def from_canonical(cls, text: str) -> Self:
        """Inverse of `canonical_json`; refuses another canonical version."""
        data = json.loads(text)
        version = data.pop(_CANONICAL_VERSION_KEY, None)
        if version != CANONICAL_VERSION:
            raise ValueError(f"canonical version {version!r} is not {CANONICAL_VERSION}")
        return cls.model_validate(data)

    def digest(self) -> list[tuple[str, str]]:
        return digest(self)


def canonical_json(params: MigrationParams) -> str:
    """Sorted keys, no whitespace, normalised values: equal parameters give equal text."""
    data = params.model_dump(mode="json")
    data[_CANONICAL_VERSION_KEY] = CANONICAL_VERSION
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def params_hash(params: MigrationParams) -> str:
    """Hex SHA-256 of the canonical JSON (UTF-8): what approval votes bind to."""
    return hashlib.sha256(canonical_json(params).encode("utf-8")).hexdigest()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _disk_line(name: str, disk: SystemDisk | DataDisk) -> str:
    if isinstance(disk, DataDisk) and disk.skip:
        return f"{name}: skipped"
    size = "?" if disk.size_gib is None else f"{disk.size_gib} GiB"
    extras = []
    if disk.lvm:
        extras.append("LVM")
    if disk.partitions:
        blocks = sum(1 for p in disk.partitions if p.block)
        extras.append(f"{_count(len(disk.partitions), 'partition')}, {blocks} block-replicated")
    return f"{name}: {size}" + (f" ({', '.join(extras)})" if extras else "")


def digest(params: MigrationParams) -> list[tuple[str, str]]:
    """Short (label, value) lines for summary and approval cards."""
    target = params.image_name if params.target_type is TargetType.IMAGE else params.instance_id
    lines = [
        ("Source", params.source_id),
        (
            "Destination",
            f"{TARGET_TYPE_LABELS[params.target_type]} {target or '?'} in {params.region_id}",
        ),
    ]
    method = EXECUTION_METHOD_LABELS[params.execution_method]
    if params.execution_method is ExecutionMethod.MIGRATE_LATER and params.scheduled_start is not None:
        method += f" at {format_utc(params.scheduled_start)}"
    lines.append(("Method", method + ("" if params.migration_test else " (no migration test)")))
    if params.incremental:
        lines.append(
            (
                "Incremental sync",
                f"every {params.sync_interval_hours} h, keep {params.max_reserved_images} images",
            )
        )
    disks = [_disk_line("system", params.system_disk)]
    disks += [_disk_line(f"data {d.index}", d) for d in params.data_disks]
    lines.append(("Disks", "; ".join(disks)))
    if params.network_type is NetworkType.VPC:
        network = f"VPC {params.vpc_id} / {params.vswitch_id}"
    elif params.vswitch_id:
        network = f"Public, intermediate instance in {params.vpc_id} / {params.vswitch_id}"
    else:
        network = "Public (SMC creates a VPC and vSwitch)"
    lines.append(("Network", network))
    if params.target_type is TargetType.TARGET_INSTANCE:
        private_ip = (
            f"set to {params.private_ip} after cutover"
            if params.private_ip_mode is PrivateIpMode.MANUAL
            else "unchanged"
        )
        lines.append(("Private IP", private_ip))
    speed = "unlimited" if params.speed_limit_mbps == 0 else f"{params.speed_limit_mbps} Mbit/s"
    lines.append(("Speed limit", speed))
    lines.append(
        (
            "Transfer",
            f"compression {params.compression_level}, checksum {'on' if params.checksum else 'off'}",
        )
    )
    lines.append(("License", "BYOL" if params.license_type is LicenseType.BYOL else "Alibaba Cloud"))
    if params.instance_type:
        lines.append(("Intermediate instance type", params.instance_type))
    if params.job_name:
        lines.append(("Job name", params.job_name))
    if params.tags:
        lines.append(("Tags", ", ".join(f"{t.key}={t.value}" for t in params.tags)))
    if params.template_name:
        lines.append(("Template", params.template_name))
    return lines
