"""Every rule of PRODUCT §3.2, pure: parameters + facts looked up beforehand -> field errors."""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.errors import FieldError, InvalidParams
from bot.domain.params import (
    EXECUTION_METHOD_LABELS,
    GIB,
    DataDisk,
    Field,
    MigrationParams,
    NetworkType,
    OsType,
    Partition,
    PrivateIpMode,
    SystemDisk,
    allowed_execution_methods,
    format_gib,
)
from storage.enums import ExecutionMethod, TargetType

SYSTEM_DISK_GIB = (20, 2048)
DATA_DISK_GIB = (20, 32768)
DATA_DISK_INDEX = (1, 16)
SYNC_INTERVAL_HOURS = (1, 168)
MAX_RESERVED_IMAGES = (1, 10)
COMPRESSION_LEVEL = (0, 10)
SPEED_LIMIT_MBPS = (0, 100_000)
"""The API documents no maximum; 100 Gbit/s only guards against typos."""
NAME_LENGTH = (2, 128)
MAX_TAGS = 20
TAG_TEXT_MAX = 128
TAG_FORBIDDEN_PREFIXES = ("aliyun", "acs:", "http://", "https://")
SCHEDULE_MIN_AHEAD = timedelta(minutes=10)
SCHEDULE_MAX_AHEAD = timedelta(days=30)
SOURCE_AVAILABLE = "Available"
SOURCE_IN_USE = "InUse"
"""SMC's source `State` while the source has an unfinished job."""

_LETTER = "A-Za-z\u4e00-\u9fa5"
_FIRST_CHAR = re.compile(f"[{_LETTER}]")


_SOURCE_ID = re.compile(r"s-[A-Za-z0-9]+")
_INSTANCE_ID = re.compile(r"i-[A-Za-z0-9]+")
_INSTANCE_TYPE = re.compile(r"ecs\.[A-Za-z0-9][A-Za-z0-9.\-]*")


@dataclass(frozen=True)
class PartitionFacts:
    """A partition of a source disk as SMC reports it (`Device` like "0_1", `Path` like "/boot")."""

    device: str
    path: str
    size_bytes: int
    used_bytes: int
    can_block: bool


@dataclass(frozen=True)
class DiskFacts:
    """A source disk: index 0 is the system disk, 1.. the data disks."""

    index: int
    size_gib: int
    used_gib: float | None
    """None when the source did not report it (DescribeSourceServers has no such field; the client may
    report it in SystemInfo): the sizes are then checked against SMC's ranges only."""
    partitions: tuple[PartitionFacts, ...] = ()

    @property
    def used_text(self) -> str:
        """`12.5 GiB used`, or that the source did not say."""
        return "used space not reported" if self.used_gib is None else f"{format_gib(self.used_gib)} GiB used"

    def partition(self, device: str) -> PartitionFacts | None:
        return next((p for p in self.partitions if p.device == device), None)


@dataclass(frozen=True)
class SourceFacts:
    """The source server as `DescribeSourceServers` (and the agent) described it."""

    source_id: str
    os_type: OsType
    has_boot_partition: bool
    system_disk: DiskFacts
    data_disks: tuple[DiskFacts, ...] = ()
    state: str = SOURCE_AVAILABLE
    name: str = ""

    def data_disk(self, index: int) -> DiskFacts | None:
        return next((d for d in self.data_disks if d.index == index), None)


@dataclass(frozen=True)
class UnfinishedJob:
    """A job of the source in Ready, Running, Stopped, Waiting, InError or Expired."""

    job_id: str
    status: str


@dataclass(frozen=True)
class VSwitchFacts:
    vswitch_id: str
    cidr: str
    free_ips: int
    zone_id: str = ""


@dataclass(frozen=True)
class VpcFacts:
    vpc_id: str
    cidr: str
    vswitches: tuple[VSwitchFacts, ...] = ()
    name: str = ""

    def vswitch(self, vswitch_id: str) -> VSwitchFacts | None:
        return next((v for v in self.vswitches if v.vswitch_id == vswitch_id), None)


@dataclass(frozen=True)
class InstanceFacts:
    """The chosen destination instance; `data_disk_gib[i - 1]` is the size of its data disk i."""

    instance_id: str
    region_id: str
    os_type: OsType | None
    system_disk_gib: int
    data_disk_gib: tuple[int, ...] = ()
    vswitch: VSwitchFacts | None = None


@dataclass(frozen=True)
class ValidationContext:
    """Facts the bot looked up before validating; `vpcs`, names and instance are those of the region."""

    now: datetime
    source: SourceFacts | None
    regions: tuple[str, ...]
    unfinished_job: UnfinishedJob | None = None
    target_instance: InstanceFacts | None = None
    vpcs: tuple[VpcFacts, ...] = ()
    job_names: frozenset[str] = frozenset()
    image_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("ValidationContext.now must carry a time zone")

    def vpc(self, vpc_id: str) -> VpcFacts | None:
        return next((v for v in self.vpcs if v.vpc_id == vpc_id), None)


def validate(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    """All rules: the context-free ones, then those that need the looked-up facts."""
    source_known = ctx.source is not None and ctx.source.source_id == params.source_id
    errors = _static_rules(params, sizes=not source_known)
    errors += _source_rules(params, ctx)
    errors += _destination_rules(params, ctx)
    errors += _schedule_rules(params, ctx.now)
    errors += _network_rules(params, ctx)
    errors += _private_ip_rules(params, ctx)
    errors += _disk_rules(params, ctx)
    return errors


def validate_or_raise(params: MigrationParams, ctx: ValidationContext) -> None:
    """`validate`, raising `InvalidParams` when anything is wrong."""
    errors = validate(params, ctx)
    if errors:
        raise InvalidParams(errors)


def validate_static(params: MigrationParams) -> list[FieldError]:
    """Ranges, formats and required-when rules: what needs no looked-up facts (templates too)."""
    return _static_rules(params, sizes=True)


def _static_rules(params: MigrationParams, *, sizes: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    errors += _identity_rules(params)
    errors += _method_rules(params)
    errors += _incremental_rules(params)
    errors += _network_shape_rules(params)
    errors += _private_ip_shape_rules(params)
    errors += _disk_shape_rules(params, sizes=sizes)
    errors += _lvm_shape_rules(params)
    errors += _job_rules(params)
    errors += _transfer_rules(params)
    errors += _tag_rules(params)
    return errors


# -- context-free ---------------------------------------------------------------------------


def _identity_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    if not _SOURCE_ID.fullmatch(params.source_id):
        errors.append(
            FieldError(Field.SOURCE, "Choose a source server: its id looks like s-bp1e2fsl57knvuug.")
        )
    if not params.region_id:
        errors.append(FieldError(Field.REGION, "Choose a destination region."))
    if params.target_type is TargetType.IMAGE:
        if params.image_name is None:
            errors.append(FieldError(Field.IMAGE_NAME, "Enter an image name prefix for the ECS image."))
        else:
            problem = name_problem(params.image_name, extra_chars=":_-.")
            if problem:
                errors.append(FieldError(Field.IMAGE_NAME, f"Image name {problem}"))
        if params.instance_id is not None:
            errors.append(
                FieldError(
                    Field.INSTANCE,
                    "An ECS image destination takes no destination instance: clear the instance.",
                )
            )
    else:
        if params.instance_id is None:
            errors.append(FieldError(Field.INSTANCE, "Choose the destination ECS instance."))
        elif not _INSTANCE_ID.fullmatch(params.instance_id):
            errors.append(
                FieldError(Field.INSTANCE, "Choose a destination instance: its id looks like i-bp1f1dvfto1s.")
            )
        if params.image_name is not None:
            errors.append(
                FieldError(
                    Field.IMAGE_NAME,
                    "An ECS instance destination takes no image name: clear the image name.",
                )
            )
        if params.instance_type is not None:
            errors.append(
                FieldError(
                    Field.INSTANCE_TYPE,
                    "The intermediate instance type applies to ECS image destinations only: clear it.",
                )
            )
    if params.instance_type is not None and not _INSTANCE_TYPE.fullmatch(params.instance_type):
        errors.append(
            FieldError(
                Field.INSTANCE_TYPE,
                "Enter an instance type such as ecs.c6.large, or leave it empty to let SMC choose.",
            )
        )
    if params.template_name is not None and len(params.template_name) > NAME_LENGTH[1]:
        errors.append(FieldError(Field.TEMPLATE, "Choose a template name of at most 128 characters."))
    return errors


def _method_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    allowed = allowed_execution_methods(params.migration_test)
    if params.execution_method not in allowed:
        names = " or ".join(EXECUTION_METHOD_LABELS[m] for m in allowed)
        state = "on" if params.migration_test else "off"
        errors.append(FieldError(Field.EXECUTION_METHOD, f"With the migration test {state}, choose {names}."))
    later = params.execution_method is ExecutionMethod.MIGRATE_LATER
    if later and params.scheduled_start is None:
        errors.append(
            FieldError(Field.SCHEDULED_START, "Pick the start date and time (UTC) for Migrate Later.")
        )
    if not later and params.scheduled_start is not None:
        errors.append(
            FieldError(
                Field.SCHEDULED_START,
                "A start time applies to Migrate Later only: clear it or choose Migrate Later.",
            )
        )
    return errors


def _incremental_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    fields = (
        (Field.SYNC_INTERVAL, params.sync_interval_hours, SYNC_INTERVAL_HOURS, "a sync interval", "hours"),
        (Field.MAX_IMAGES, params.max_reserved_images, MAX_RESERVED_IMAGES, "a number of images to keep", ""),
    )
    for field, value, (low, high), what, unit in fields:
        suffix = f" {unit}" if unit else ""
        if params.incremental:
            if value is None or not low <= value <= high:
                errors.append(FieldError(field, f"Enter {what} between {low} and {high}{suffix}."))
        elif value is not None:
            errors.append(
                FieldError(
                    field, "This applies to automatic incremental sync only: clear it or turn the sync on."
                )
            )
    return errors


def _network_shape_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    if params.network_type is NetworkType.VPC:
        if params.vpc_id is None:
            errors.append(
                FieldError(Field.VPC, "Choose the VPC the source server reaches the cloud through.")
            )
        if params.vswitch_id is None:
            errors.append(FieldError(Field.VSWITCH, "Choose a vSwitch of that VPC."))
    elif params.vswitch_id is not None and params.vpc_id is None:
        errors.append(FieldError(Field.VPC, "Choose the VPC of this vSwitch, or clear the vSwitch."))
    elif params.vpc_id is not None and params.vswitch_id is None:
        errors.append(
            FieldError(
                Field.VSWITCH,
                f"Choose a vSwitch of {params.vpc_id}, or clear the VPC to let SMC create a network.",
            )
        )
    return errors


def _private_ip_shape_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    manual = params.private_ip_mode is PrivateIpMode.MANUAL
    if manual and params.target_type is not TargetType.TARGET_INSTANCE:
        errors.append(
            FieldError(
                Field.PRIVATE_IP_MODE,
                "The private IP applies to ECS instance destinations only: choose Unchanged.",
            )
        )
    elif manual and params.private_ip is None:
        errors.append(FieldError(Field.PRIVATE_IP, "Enter the private IPv4 address, such as 192.168.1.10."))
    elif manual and params.private_ip is not None and _ipv4(params.private_ip) is None:
        errors.append(
            FieldError(
                Field.PRIVATE_IP,
                f"{params.private_ip} is not an IPv4 address: enter one such as 192.168.1.10.",
            )
        )
    if not manual and params.private_ip is not None:
        errors.append(
            FieldError(Field.PRIVATE_IP, "An address applies to Manual only: clear it or choose Manual.")
        )
    return errors


def _disk_shape_rules(params: MigrationParams, *, sizes: bool) -> list[FieldError]:
    """`sizes=False` leaves the size ranges to the source-aware rules, which name the used space."""
    errors: list[FieldError] = []
    low, high = SYSTEM_DISK_GIB
    size = params.system_disk.size_gib
    if sizes and (size is None or not low <= size <= high):
        errors.append(
            FieldError(Field.SYSTEM_DISK_SIZE, f"Enter a system disk size between {low} and {high} GiB.")
        )
    errors += _partition_shape_rules(params.system_disk, 0)
    counts = Counter(d.index for d in params.data_disks)
    low, high = DATA_DISK_GIB
    for disk in params.data_disks:
        index = (disk.index,)
        if not DATA_DISK_INDEX[0] <= disk.index <= DATA_DISK_INDEX[1]:
            errors.append(
                FieldError(Field.DATA_DISK_SIZE, "Data disks are numbered 1 to 16: remove this disk.", index)
            )
            continue
        if counts[disk.index] > 1:
            errors.append(
                FieldError(
                    Field.DATA_DISK_SIZE,
                    f"Data disk {disk.index} appears twice: keep one entry per disk.",
                    index,
                )
            )
        if disk.skip:
            continue
        if sizes and (disk.size_gib is None or not low <= disk.size_gib <= high):
            errors.append(
                FieldError(
                    Field.DATA_DISK_SIZE,
                    f"Enter a size for data disk {disk.index} between {low} and {high} GiB, or skip it.",
                    index,
                )
            )
        errors += _partition_shape_rules(disk, disk.index)
    return errors


def _lvm_shape_rules(params: MigrationParams) -> list[FieldError]:
    """With LVM the request carries SMC's `Disks` structure, which addresses data disks by position and
    partitions by mount path (see `smc_request._disk_fields`): what it cannot say is refused here."""
    migrated = params.migrated_data_disks()
    if not (params.system_disk.lvm or any(d.lvm for d in migrated)):
        return []
    errors: list[FieldError] = []
    for position, disk in enumerate(migrated, start=1):
        if disk.index != position:
            listed = any(d.index == position for d in params.data_disks)
            errors.append(
                FieldError(
                    Field.DATA_DISK_SKIP if listed else Field.DATA_DISK_LVM,
                    f"With LVM, SMC takes data disks in order and cannot leave out data disk {position} "
                    f"while migrating data disk {disk.index}: migrate data disk {position} too, or turn "
                    "LVM off on every disk.",
                    (position if listed else disk.index,),
                )
            )
            break
    disks: list[tuple[SystemDisk | DataDisk, int]] = [(params.system_disk, 0)]
    disks += [(d, d.index) for d in migrated]
    for disk_, disk_index in disks:
        for position, part in enumerate(disk_.partitions, start=1):
            if not part.path:
                errors.append(
                    FieldError(
                        Field.PARTITION_SIZE,
                        f"Partition {part.device} has no mount path, and with LVM SMC names partitions by "
                        "path: keep SMC's automatic layout for this disk, or turn LVM off.",
                        (disk_index, position),
                    )
                )
    return errors


def _partition_shape_rules(disk: SystemDisk | DataDisk, disk_index: int) -> list[FieldError]:
    errors: list[FieldError] = []
    devices = Counter(p.device for p in disk.partitions)
    for position, part in enumerate(disk.partitions, start=1):
        key = (disk_index, position)
        if devices[part.device] > 1:
            errors.append(
                FieldError(
                    Field.PARTITION_SIZE,
                    f"Partition {part.device} appears twice on this disk: reload the form.",
                    key,
                )
            )
        if part.size_bytes <= 0:
            errors.append(
                FieldError(
                    Field.PARTITION_SIZE,
                    f"Enter a positive size for {_part_name(part)}.",
                    key,
                )
            )
    return errors


def _job_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    if params.job_name is not None:
        problem = name_problem(params.job_name, extra_chars=":_-")
        if problem:
            errors.append(FieldError(Field.JOB_NAME, f"Job name {problem}"))
    if params.description is not None:
        problem = name_problem(params.description, extra_chars=":_-")
        if problem:
            errors.append(FieldError(Field.DESCRIPTION, f"Description {problem}"))
    return errors


def _transfer_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    low, high = SPEED_LIMIT_MBPS
    if not low <= params.speed_limit_mbps <= high:
        errors.append(
            FieldError(Field.SPEED_LIMIT, f"Enter a speed limit between 0 (unlimited) and {high:,} Mbit/s.")
        )
    low, high = COMPRESSION_LEVEL
    if not low <= params.compression_level <= high:
        errors.append(
            FieldError(
                Field.COMPRESSION, "Enter a compression level between 0 (none) and 10; 7 is the default."
            )
        )
    return errors


def _tag_rules(params: MigrationParams) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(params.tags) > MAX_TAGS:
        errors.append(FieldError(Field.TAGS, f"Enter at most {MAX_TAGS} tags; there are {len(params.tags)}."))
    keys = Counter(t.key for t in params.tags)
    for key in sorted(k for k, n in keys.items() if n > 1):
        errors.append(FieldError(Field.TAGS, f"Tag key {key} appears twice: keep one value per key."))
    for tag in params.tags:
        if not tag.key:
            errors.append(FieldError(Field.TAGS, f"Tag ={tag.value} has no key: write key=value."))
        for what, text in (("key", tag.key), ("value", tag.value)):
            if len(text) > TAG_TEXT_MAX:
                errors.append(
                    FieldError(
                        Field.TAGS,
                        f"Tag {what} {text[:20]}… is too long: use at most {TAG_TEXT_MAX} characters.",
                    )
                )
            prefix = next((p for p in TAG_FORBIDDEN_PREFIXES if text.lower().startswith(p)), None)
            if prefix:
                errors.append(
                    FieldError(
                        Field.TAGS,
                        f"Tag {what} {text} starts with {prefix}, reserved by Alibaba Cloud: choose another.",
                    )
                )
    return errors


@functools.cache
def _name_char(extra_chars: str) -> re.Pattern[str]:
    """One character a name may hold (checked per character, to say which ones are not allowed)."""
    return re.compile(f"[{_LETTER}0-9{re.escape(extra_chars)}]")


def name_problem(value: str, *, extra_chars: str) -> str | None:
    """SMC's name rule (2 to 128 chars, starts with a letter, letters/digits/`extra_chars`), in words."""
    allowed = ", ".join(f"'{c}'" for c in extra_chars)
    rule = f"enter 2 to 128 characters that start with a letter and use only letters, digits and {allowed}."
    if len(value) < NAME_LENGTH[0]:
        return f"{value} is too short: {rule}"
    if len(value) > NAME_LENGTH[1]:
        return f"is {len(value)} characters long: {rule}"
    if value.lower().startswith(("http://", "https://")):
        return f"{value} starts with http:// or https://: {rule}"
    if not _FIRST_CHAR.fullmatch(value[0]):
        return f"{value} starts with {value[0]!r}: {rule}"
    allowed_char = _name_char(extra_chars)
    bad = sorted({c for c in value if not allowed_char.fullmatch(c)})
    if bad:
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        return f"{value} contains {shown}: {rule}"
    return None


# -- with looked-up facts -------------------------------------------------------------------


def _source_rules(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    source = ctx.source
    if source is None or source.source_id != params.source_id:
        return [
            FieldError(
                Field.SOURCE,
                f"Source {params.source_id} was not found in the destination account: "
                "import it with /smc import, then try again.",
            )
        ]
    job = ctx.unfinished_job
    if job is not None:
        return [
            FieldError(
                Field.SOURCE,
                f"Source {source.source_id} already has migration job {job.job_id} ({job.status}); "
                "SMC allows one unfinished job per source. Let it finish or cancel it, then try again.",
            )
        ]
    if source.state == SOURCE_IN_USE:
        return [
            FieldError(
                Field.SOURCE,
                f"Source {source.source_id} is in use by another migration job; SMC allows one unfinished "
                "job per source. Let it finish or cancel it, then try again.",
            )
        ]
    if source.state != SOURCE_AVAILABLE:
        return [
            FieldError(
                Field.SOURCE,
                f"Source {source.source_id} is not online (state {source.state}): check the SMC client "
                "on the server or import it again with /smc import.",
            )
        ]
    return []


def _destination_rules(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    errors: list[FieldError] = []
    if params.region_id and params.region_id not in ctx.regions:
        errors.append(
            FieldError(
                Field.REGION,
                f"Region {params.region_id} is not available to this account: choose one from the list.",
            )
        )
    if params.image_name is not None and params.image_name in ctx.image_names:
        errors.append(
            FieldError(
                Field.IMAGE_NAME,
                f"Image name {params.image_name} is already used in {params.region_id}: "
                f"enter another one, such as {params.image_name}-2.",
            )
        )
    if params.job_name is not None and params.job_name in ctx.job_names:
        errors.append(
            FieldError(
                Field.JOB_NAME,
                f"A migration job named {params.job_name} already exists: enter another name, "
                f"such as {params.job_name}-2.",
            )
        )
    if params.target_type is TargetType.TARGET_INSTANCE and params.instance_id is not None:
        instance = ctx.target_instance
        if (
            instance is None
            or instance.instance_id != params.instance_id
            or instance.region_id != params.region_id
        ):
            errors.append(
                FieldError(
                    Field.INSTANCE,
                    f"Instance {params.instance_id} was not found in {params.region_id}: "
                    "choose an instance from the list.",
                )
            )
        elif (
            ctx.source is not None and instance.os_type is not None and instance.os_type != ctx.source.os_type
        ):
            errors.append(
                FieldError(
                    Field.INSTANCE,
                    f"Instance {instance.instance_id} runs {_os_name(instance.os_type)} but the source "
                    f"runs {_os_name(ctx.source.os_type)}: choose a {_os_name(ctx.source.os_type)} instance.",
                )
            )
    return errors


def _schedule_rules(params: MigrationParams, now: datetime) -> list[FieldError]:
    start = params.scheduled_start
    if params.execution_method is not ExecutionMethod.MIGRATE_LATER or start is None:
        return []
    earliest = now + SCHEDULE_MIN_AHEAD
    latest = now + SCHEDULE_MAX_AHEAD
    if earliest <= start <= latest:
        return []
    return [
        FieldError(
            Field.SCHEDULED_START,
            f"Pick a start between {_minute(earliest, up=True)} and {_minute(latest, up=False)} UTC: "
            "at least 10 minutes and at most 30 days from now.",
        )
    ]


def _network_rules(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    if params.vpc_id is None or params.vswitch_id is None:
        return []
    vpc = ctx.vpc(params.vpc_id)
    if vpc is None:
        return [
            FieldError(
                Field.VPC,
                f"VPC {params.vpc_id} was not found in {params.region_id}: choose one from the list.",
            )
        ]
    vswitch = vpc.vswitch(params.vswitch_id)
    if vswitch is None:
        choices = ", ".join(v.vswitch_id for v in vpc.vswitches) or "none yet: create one first"
        return [
            FieldError(
                Field.VSWITCH,
                f"vSwitch {params.vswitch_id} is not in VPC {vpc.vpc_id}: "
                f"choose one of its vSwitches ({choices}).",
            )
        ]
    # Only an image target starts an intermediate instance in the vSwitch; an instance target uses a disk.
    if params.target_type is TargetType.IMAGE and vswitch.free_ips < 1:
        return [
            FieldError(
                Field.VSWITCH,
                f"vSwitch {vswitch.vswitch_id} ({vswitch.cidr}) has no free address for the intermediate "
                "instance: choose another vSwitch.",
            )
        ]
    return []


def usable_range(cidr: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last assignable address: Alibaba Cloud reserves a vSwitch's first and last three."""
    # https://www.alibabacloud.com/help/en/vpc/api-610154 : "the first IP address and the last three
    # IP addresses of the vSwitch are reserved by the system" (192.168.1.0, .253, .254, .255 of a /24).
    network = ipaddress.IPv4Network(cidr, strict=False)
    return network[1], network[-4]


def _private_ip_rules(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    if (
        params.private_ip_mode is not PrivateIpMode.MANUAL
        or params.target_type is not TargetType.TARGET_INSTANCE
        or params.private_ip is None
    ):
        return []
    address = _ipv4(params.private_ip)
    instance = ctx.target_instance
    if address is None or instance is None or instance.instance_id != params.instance_id:
        return []
    if instance.vswitch is None:
        return [
            FieldError(
                Field.PRIVATE_IP_MODE,
                f"Instance {instance.instance_id} is not in a vSwitch, so its private IP cannot be set: "
                "choose Unchanged.",
            )
        ]
    cidr = instance.vswitch.cidr
    network = ipaddress.IPv4Network(cidr, strict=False)
    first, last = usable_range(cidr)
    if address not in network:
        return [
            FieldError(
                Field.PRIVATE_IP,
                f"{address} is outside {cidr}, the CIDR of vSwitch {instance.vswitch.vswitch_id} of "
                f"{instance.instance_id}: enter an address from {first} to {last}.",
            )
        ]
    if not first <= address <= last:
        return [
            FieldError(
                Field.PRIVATE_IP,
                f"{address} is reserved by Alibaba Cloud (the first and the last three addresses of "
                f"{cidr}): enter an address from {first} to {last}.",
            )
        ]
    return []


def _disk_rules(params: MigrationParams, ctx: ValidationContext) -> list[FieldError]:
    source = ctx.source
    if source is None or source.source_id != params.source_id:
        return []
    instance = ctx.target_instance
    if (
        params.target_type is not TargetType.TARGET_INSTANCE
        or instance is None
        or instance.instance_id != params.instance_id
    ):
        instance = None
    errors = _lvm_rules(params, source)
    system = params.system_disk
    errors += _size_rules(
        Field.SYSTEM_DISK_SIZE,
        (),
        size_gib=system.size_gib,
        facts=source.system_disk,
        what="the source system disk",
        bounds=SYSTEM_DISK_GIB,
        instance=instance,
        instance_limit=None if instance is None else instance.system_disk_gib,
    )
    errors += _partition_rules(system, source.system_disk, source.os_type, Field.SYSTEM_DISK_SIZE, 0)
    listed = {d.index for d in params.data_disks}
    errors += [
        FieldError(
            Field.DATA_DISK_SIZE,
            f"Enter a size for data disk {missing.index} ({missing.size_gib} GiB, {missing.used_text}), "
            "or skip it.",
            (missing.index,),
        )
        for missing in source.data_disks
        if missing.index not in listed
    ]
    for disk in params.data_disks:
        if DATA_DISK_INDEX[0] <= disk.index <= DATA_DISK_INDEX[1]:
            errors += _data_disk_rules(disk, source, instance)
    return errors


def _data_disk_rules(disk: DataDisk, source: SourceFacts, instance: InstanceFacts | None) -> list[FieldError]:
    index = (disk.index,)
    facts = source.data_disk(disk.index)
    if facts is None:
        return [
            FieldError(
                Field.DATA_DISK_SIZE,
                f"The source has no data disk {disk.index} (it has {len(source.data_disks)}): "
                "remove this disk.",
                index,
            )
        ]
    if disk.skip:
        return []
    limit = None
    if instance is not None:
        if disk.index > len(instance.data_disk_gib):
            return [
                FieldError(
                    Field.DATA_DISK_SIZE,
                    f"Instance {instance.instance_id} has {len(instance.data_disk_gib)} data disk(s): "
                    f"skip data disk {disk.index} or choose an instance with more data disks.",
                    index,
                )
            ]
        limit = instance.data_disk_gib[disk.index - 1]
    errors = _size_rules(
        Field.DATA_DISK_SIZE,
        index,
        size_gib=disk.size_gib,
        facts=facts,
        what=f"source data disk {disk.index}",
        bounds=DATA_DISK_GIB,
        instance=instance,
        instance_limit=limit,
        or_skip=True,
    )
    if errors:
        return errors
    return _partition_rules(disk, facts, source.os_type, Field.DATA_DISK_SIZE, disk.index)


def _size_rules(
    field: Field,
    index: tuple[int, ...],
    *,
    what: str,
    size_gib: int | None,
    facts: DiskFacts,
    bounds: tuple[int, int],
    instance_limit: int | None,
    instance: InstanceFacts | None,
    or_skip: bool = False,
) -> list[FieldError]:
    """In range, larger than the used space and, for an instance target, no larger than its disk."""
    low = bounds[0] if facts.used_gib is None else max(bounds[0], math.floor(facts.used_gib) + 1)
    high = bounds[1] if instance_limit is None else min(bounds[1], instance_limit)
    used = format_gib(facts.used_gib or 0.0)
    known = facts.used_gib is not None
    if low > high and known and instance is not None:
        return [
            FieldError(
                field,
                f"{what.capitalize()} uses {used} GiB, more than the {instance_limit} GiB disk of instance "
                f"{instance.instance_id}: choose an instance with a larger disk.",
                index,
            )
        ]
    if low > high and known:
        return [
            FieldError(
                field,
                f"{what.capitalize()} uses {used} GiB, more than the {bounds[1]} GiB SMC allows: "
                "free up space on the source first.",
                index,
            )
        ]
    if size_gib is not None and low <= size_gib <= high:
        return []
    where = (
        "" if instance is None else f" (the disk of instance {instance.instance_id} has {instance_limit} GiB)"
    )
    return [
        FieldError(
            field,
            f"Enter a size between {low} and {high} GiB"
            + (
                f" ({what} did not report its used space){where}."
                if not known
                else f": larger than the {used} GiB used on {what}{where}."
            )
            + (" Or skip the disk." if or_skip and size_gib is None else ""),
            index,
        )
    ]


def _lvm_rules(params: MigrationParams, source: SourceFacts) -> list[FieldError]:
    reason = None
    if source.os_type is OsType.WINDOWS:
        reason = "LVM is not available for Windows sources: turn it off."
    elif not source.has_boot_partition:
        reason = (
            "LVM needs a boot partition on the source system disk, and this source has none: turn it off."
        )
    if reason is None:
        return []
    errors = []
    if params.system_disk.lvm:
        errors.append(FieldError(Field.SYSTEM_DISK_LVM, reason))
    errors += [
        FieldError(Field.DATA_DISK_LVM, reason, (d.index,)) for d in params.migrated_data_disks() if d.lvm
    ]
    return errors


def _partition_rules(
    disk: SystemDisk | DataDisk, facts: DiskFacts, os_type: OsType, size_field: Field, disk_index: int
) -> list[FieldError]:
    if not disk.partitions:
        return []
    errors: list[FieldError] = []
    total = 0
    for position, part in enumerate(disk.partitions, start=1):
        key = (disk_index, position)
        source_part = facts.partition(part.device)
        if source_part is None:
            errors.append(
                FieldError(
                    Field.PARTITION_SIZE,
                    f"Partition {_part_name(part)} is not on this source disk any more: reload the form.",
                    key,
                )
            )
            total += part.size_bytes
            continue
        name = _part_name(part)
        source_gib = format_gib(source_part.size_bytes / GIB)
        resized = part.size_bytes != source_part.size_bytes
        total += part.size_bytes
        if os_type is OsType.WINDOWS:
            if not part.block:
                errors.append(
                    FieldError(
                        Field.PARTITION_BLOCK,
                        f"Windows partitions are always block-replicated: "
                        f"turn block replication on for {name}.",
                        key,
                    )
                )
            if resized:
                errors.append(
                    FieldError(
                        Field.PARTITION_SIZE,
                        f"Windows partition sizes cannot be changed: keep {name} at {source_gib} GiB.",
                        key,
                    )
                )
            continue
        if part.block and not source_part.can_block:
            errors.append(
                FieldError(
                    Field.PARTITION_BLOCK,
                    f"Partition {name} cannot be block-replicated: turn block replication off.",
                    key,
                )
            )
        elif part.block and resized:
            errors.append(
                FieldError(
                    Field.PARTITION_SIZE,
                    f"Block replication keeps {name} at {source_gib} GiB: keep that size, or turn block "
                    "replication off to resize it.",
                    key,
                )
            )
        if resized and 0 < part.size_bytes <= source_part.used_bytes:
            used = format_gib(source_part.used_bytes / GIB)
            errors.append(
                FieldError(
                    Field.PARTITION_SIZE,
                    f"Enter a size for {name} larger than the {used} GiB used on it.",
                    key,
                )
            )
    disk_bytes = (disk.size_gib or 0) * GIB
    if disk.size_gib is not None and total > disk_bytes:
        need = math.ceil(total / GIB)
        errors.append(
            FieldError(
                size_field,
                f"The partitions of this disk add up to {format_gib(total / GIB)} GiB: enter a disk size of "
                f"at least {need} GiB, or make partitions smaller.",
                () if disk_index == 0 else (disk_index,),
            )
        )
    return errors


# -- helpers --------------------------------------------------------------------------------


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _os_name(os_type: OsType) -> str:
    return "Windows" if os_type is OsType.WINDOWS else "Linux"


def _part_name(part: Partition) -> str:
    return part.path or part.device


def _minute(moment: datetime, *, up: bool) -> str:
    """A moment as `YYYY-MM-DD HH:MM`, rounded to a minute that is still inside the window."""
    floor = moment.astimezone(UTC).replace(second=0, microsecond=0)
    if up and floor < moment:
        floor += timedelta(minutes=1)
    return floor.strftime("%Y-%m-%d %H:%M")
