"""The bot's migration test (PRODUCT §4): a free assessment of parameters against live facts, with estimates.

The console's drill has no API. This one creates nothing and costs nothing: the service looks the facts up,
`assess` turns them into OK / Warning / Critical items, each non-OK item with a concrete fix, plus an
estimate of data volume, speed and total time. "Test and Migrate" continues only without Critical items.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from bot.domain.params import (
    GIB,
    DataDisk,
    MigrationParams,
    NetworkType,
    OsType,
    SystemDisk,
    format_gib,
    format_utc,
)
from bot.domain.progress import BYTES_PER_MBIT, human_bytes, human_duration, human_rate, median_speed
from bot.domain.validation import (
    SCHEDULE_MAX_AHEAD,
    SCHEDULE_MIN_AHEAD,
    SOURCE_AVAILABLE,
    SOURCE_IN_USE,
    DiskFacts,
    InstanceFacts,
    SourceFacts,
    UnfinishedJob,
    VpcFacts,
    VSwitchFacts,
)
from storage.enums import ExecutionMethod, TargetType

REPORT_VERSION = 1

MAX_JOBS = 1000
MAX_RUNNING_JOBS = 50
QUOTA_WARNING_RATIO = 0.9
"""A quota at 90 % or more of its limit is a Warning: the next few jobs will hit it."""

HEARTBEAT_STALE_AFTER = timedelta(minutes=10)
"""The SMC client reports every few seconds to a minute; ten silent minutes means it probably stopped."""

FEW_FREE_IPS = 5
"""Fewer free addresses than this where the intermediate instance goes is a Warning (others may take them)."""

DEFAULT_SPEED_BPS: Mapping[NetworkType, float] = MappingProxyType(
    {
        # Over the internet the SMC client is bounded by the source's public bandwidth; ~100 Mbit/s
        # (12.5 MB/s) is a common size, less protocol overhead: about 10 MB/s.
        NetworkType.PUBLIC: 10_000_000.0,
        # Over VPN Gateway / CEN / Express Connect links of a few hundred Mbit/s, and the intermediate
        # instance's disk write speed: a conservative 50 MB/s (400 Mbit/s).
        NetworkType.VPC: 50_000_000.0,
    }
)

FIXED_OVERHEAD = timedelta(minutes=20)
"""Not transfer time: Preparing (intermediate instance or disk, ~5 min), Processing (snapshots and the image,
~10 min) and Cleaning (~5 min). An assumption from typical runs, not a documented SMC figure."""

PUBLIC_NETWORK_SLOW_AFTER = timedelta(hours=2)
"""A public-network transfer estimated at this long or longer gets the "consider VPC" Warning."""


class Level(StrEnum):
    """How bad a drill item is; any CRITICAL item stops "Test and Migrate"."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2}


class DrillCheck(StrEnum):
    """The checks; values are stable keys stored in `migration_request.drill_report`."""

    SOURCE_ONLINE = "source_online"
    UNFINISHED_JOB = "unfinished_job"
    JOB_QUOTA = "job_quota"
    RUNNING_QUOTA = "running_quota"
    DISK_SPACE = "disk_space"
    PARTITIONS = "partitions"
    TARGET_INSTANCE = "target_instance"
    DATA_LOSS = "data_loss"
    WINDOWS_TARGET_REGION = "windows_target_region"
    NETWORK = "network"
    NAMES = "names"
    LVM = "lvm"
    SCHEDULE = "schedule"
    PUBLIC_NETWORK = "public_network"


class SpeedSource(StrEnum):
    """Where the speed of the estimate comes from."""

    LIMIT = "limit"
    LEARNED = "learned"
    DEFAULT = "default"


@dataclass(frozen=True)
class DrillItem:
    """One check's result; anything not OK carries a `fix` sentence saying what to do."""

    check: DrillCheck
    level: Level
    title: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.level is not Level.OK and not self.fix.strip():
            raise ValueError(f"{self.check.value}: a {self.level.value} item needs a fix")

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check.value,
            "level": self.level.value,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillItem:
        return cls(
            check=DrillCheck(data["check"]),
            level=Level(data["level"]),
            title=str(data["title"]),
            detail=str(data["detail"]),
            fix=str(data.get("fix", "")),
        )


@dataclass(frozen=True)
class MeasuredSpeed:
    """The average uncompressed speed of one of this bot's finished jobs."""

    region_id: str
    network_type: NetworkType
    bytes_per_second: float


@dataclass(frozen=True)
class JobQuota:
    """Migration jobs of the destination account against SMC's limits (raisable by ticket)."""

    total_jobs: int
    running_jobs: int
    max_jobs: int = MAX_JOBS
    max_running_jobs: int = MAX_RUNNING_JOBS


@dataclass(frozen=True)
class DrillFacts:
    """Live data the service looked up for `assess`; `unfinished_jobs` excludes the job being tested.

    `vpcs`, `job_names`, `image_names` and `target_instance` are those of the destination region;
    `measured_speeds` are this bot's earlier finished jobs, any region and network (assess filters).
    """

    now: datetime
    source: SourceFacts | None
    last_heartbeat: datetime | None = None
    unfinished_jobs: tuple[UnfinishedJob, ...] = ()
    quota: JobQuota | None = None
    target_instance: InstanceFacts | None = None
    target_instance_status: str | None = None
    vpcs: tuple[VpcFacts, ...] = ()
    job_names: frozenset[str] = frozenset()
    image_names: frozenset[str] = frozenset()
    measured_speeds: tuple[MeasuredSpeed, ...] = ()

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("DrillFacts.now must carry a time zone")

    def vpc(self, vpc_id: str) -> VpcFacts | None:
        return next((v for v in self.vpcs if v.vpc_id == vpc_id), None)


@dataclass(frozen=True)
class DrillEstimate:
    """Data volume, speed (and where it comes from) and total time of the first full sync."""

    volume_bytes: int
    speed_bytes_per_second: float
    speed_source: SpeedSource
    speed_note: str
    samples: int
    transfer_time: timedelta
    overhead: timedelta = FIXED_OVERHEAD
    volume_is_upper_bound: bool = False
    """The source did not report its used space: the volume is the disks' size, the most it can be."""

    @property
    def duration(self) -> timedelta:
        return self.transfer_time + self.overhead

    def summary(self) -> str:
        """One line for the report: volume, speed, duration."""
        line = (
            f"{human_bytes(self.volume_bytes)} at {human_rate(self.speed_bytes_per_second)}: about "
            f"{human_duration(self.duration)} ({human_duration(self.transfer_time)} transfer + "
            f"{human_duration(self.overhead)} preparing and processing)"
        )
        if self.volume_is_upper_bound:
            return f"At most {line}; the source did not report its used space, so this counts whole disks"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_bytes": self.volume_bytes,
            "speed_bytes_per_second": self.speed_bytes_per_second,
            "speed_source": self.speed_source.value,
            "speed_note": self.speed_note,
            "samples": self.samples,
            "transfer_seconds": int(self.transfer_time.total_seconds()),
            "overhead_seconds": int(self.overhead.total_seconds()),
            "volume_is_upper_bound": self.volume_is_upper_bound,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillEstimate:
        return cls(
            volume_bytes=int(data["volume_bytes"]),
            speed_bytes_per_second=float(data["speed_bytes_per_second"]),
            speed_source=SpeedSource(data["speed_source"]),
            speed_note=str(data["speed_note"]),
            samples=int(data["samples"]),
            transfer_time=timedelta(seconds=int(data["transfer_seconds"])),
            overhead=timedelta(seconds=int(data["overhead_seconds"])),
            volume_is_upper_bound=bool(data.get("volume_is_upper_bound", False)),
        )


@dataclass(frozen=True)
class DrillReport:
    """The drill's result, stored as JSON in `migration_request.drill_report` (`to_dict` / `from_dict`)."""

    assessed_at: datetime
    items: tuple[DrillItem, ...]
    estimate: DrillEstimate

    @property
    def has_critical(self) -> bool:
        return any(item.level is Level.CRITICAL for item in self.items)

    @property
    def worst(self) -> Level:
        return worst_level([item.level for item in self.items])

    def item(self, check: DrillCheck) -> DrillItem | None:
        """The item of one check, or None when the check did not apply."""
        return next((i for i in self.items if i.check is check), None)

    def counts(self) -> dict[Level, int]:
        """How many items per level, every level present."""
        return {level: sum(1 for i in self.items if i.level is level) for level in Level}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "assessed_at": format_utc(self.assessed_at),
            "worst": self.worst.value,
            "items": [item.to_dict() for item in self.items],
            "estimate": self.estimate.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillReport:
        """Inverse of `to_dict`; refuses another report version."""
        if data.get("version") != REPORT_VERSION:
            raise ValueError(f"drill report version {data.get('version')!r} is not {REPORT_VERSION}")
        return cls(
            assessed_at=datetime.strptime(data["assessed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            items=tuple(DrillItem.from_dict(item) for item in data["items"]),
            estimate=DrillEstimate.from_dict(data["estimate"]),
        )


def assess(params: MigrationParams, facts: DrillFacts) -> DrillReport:
    """Every check that applies to these parameters, in a fixed order, and the estimate."""
    estimate = estimate_transfer(params, facts)
    items: list[DrillItem] = []
    items += _source_online(params, facts)
    items += _unfinished_jobs(params, facts)
    items += _quotas(facts)
    items += _disk_space(params, facts)
    items += _partitions(params)
    items += _target_instance(params, facts)
    items += _data_loss(params)
    items += _windows_target_region(params, facts)
    items += _network(params, facts)
    items += _names(params, facts)
    items += _lvm(params, facts)
    items += _schedule(params, facts.now)
    items += _public_network(params, estimate)
    return DrillReport(
        assessed_at=facts.now.astimezone(UTC).replace(microsecond=0), items=tuple(items), estimate=estimate
    )


# -- estimate -------------------------------------------------------------------------------------


def _migrated_disks(params: MigrationParams, source: SourceFacts | None) -> list[DiskFacts]:
    """The source's system disk and every data disk the request migrates (none for another source)."""
    if source is None or source.source_id != params.source_id:
        return []
    disks = [source.data_disk(d.index) for d in params.migrated_data_disks()]
    return [source.system_disk, *(d for d in disks if d is not None)]


def migrated_volume(params: MigrationParams, source: SourceFacts | None) -> int:
    """Used bytes of the system disk and of every data disk that is not skipped; 0 (unknown) when the
    source did not report the used space of one of them."""
    total = 0
    for disk in _migrated_disks(params, source):
        used = _used_bytes(disk)
        if used is None:
            return 0
        total += used
    return total


def estimate_transfer(params: MigrationParams, facts: DrillFacts) -> DrillEstimate:
    """Volume / speed, where speed is the limit, else the median learned speed, else a default.

    With both a limit and learned speeds the slower one wins: a limit is a ceiling, not a promise.
    """
    volume, upper_bound = migrated_volume(params, facts.source), False
    disks = _migrated_disks(params, facts.source)
    if not volume and any(_used_bytes(d) is None for d in disks):
        # The source did not say how much data it holds: the disks' sizes bound it from above.
        volume, upper_bound = sum(d.size_gib for d in disks) * GIB, True
    network = "VPC" if params.network_type is NetworkType.VPC else "the public network"
    where = f"to {params.region_id} over {network}"
    learned = [
        s.bytes_per_second
        for s in facts.measured_speeds
        if s.region_id == params.region_id and s.network_type is params.network_type
    ]
    median = median_speed(learned)
    samples = sum(1 for s in learned if s > 0 and math.isfinite(s))
    limit = params.speed_limit_mbps * BYTES_PER_MBIT if params.speed_limit_mbps > 0 else None
    learned_note = (
        f"the median speed of {samples} earlier migration{'s' if samples != 1 else ''} of this bot {where}"
    )
    if limit is not None and (median is None or limit <= median):
        speed, source = float(limit), SpeedSource.LIMIT
        note = f"The speed limit of {params.speed_limit_mbps} Mbit/s"
        if median is not None:
            note += f" (below {learned_note}, {human_rate(median)})"
        if params.compression_level > 0:
            note += (
                f". Compression (level {params.compression_level}) does not change the estimate: it counts "
                "uncompressed data at the limit, so compressible data may finish sooner"
            )
        note += "."
    elif median is not None:
        speed, source = median, SpeedSource.LEARNED
        note = learned_note[0].upper() + learned_note[1:]
        if limit is not None:
            note += f" (slower than the {params.speed_limit_mbps} Mbit/s limit)"
        note += "."
    else:
        speed, source = DEFAULT_SPEED_BPS[params.network_type], SpeedSource.DEFAULT
        note = (
            f"A default of {human_rate(speed)} for {network}: this bot has not finished a migration {where} "
            "yet to learn from."
        )
    seconds = math.ceil(volume / speed) if volume else 0
    return DrillEstimate(
        volume_bytes=volume,
        speed_bytes_per_second=speed,
        speed_source=source,
        speed_note=note,
        samples=samples if source is not SpeedSource.DEFAULT else 0,
        transfer_time=timedelta(seconds=seconds),
        volume_is_upper_bound=upper_bound,
    )


def _used_bytes(disk: DiskFacts) -> int | None:
    """Used bytes of a source disk; None when the source did not report them."""
    # SMC reports no used space per partition (sources give 0 there); the disk's figure then counts.
    by_partition = sum(p.used_bytes for p in disk.partitions)
    if by_partition > 0:
        return by_partition
    return None if disk.used_gib is None else round(disk.used_gib * GIB)


# -- checks ---------------------------------------------------------------------------------------


def _known_source(params: MigrationParams, facts: DrillFacts) -> SourceFacts | None:
    source = facts.source
    return source if source is not None and source.source_id == params.source_id else None


def _source_online(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    check, title = DrillCheck.SOURCE_ONLINE, "Source server online"
    source = _known_source(params, facts)
    if source is None:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"Source {params.source_id} was not found in the destination account.",
                "Import the server with /smc import, then run the test again.",
            )
        ]
    if source.state not in (SOURCE_AVAILABLE, SOURCE_IN_USE):
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"Source {source.source_id} is {source.state}, not Available: SMC cannot migrate it.",
                "Check that the SMC client runs on the source server (logs in /smc on Linux, C:\\smc on "
                "Windows), or import it again with /smc import; then run the test again.",
            )
        ]
    if facts.last_heartbeat is None:
        return [DrillItem(check, Level.OK, title, f"Source {source.source_id} is online.")]
    age = facts.now - facts.last_heartbeat
    if age > HEARTBEAT_STALE_AFTER:
        return [
            DrillItem(
                check,
                Level.WARNING,
                title,
                f"Source {source.source_id} is online, but its SMC client was last heard from "
                f"{human_duration(age)} ago.",
                "Check that the SMC client still runs on the source server and can reach Alibaba Cloud; "
                "restart it if it stopped, then run the test again.",
            )
        ]
    return [
        DrillItem(
            check,
            Level.OK,
            title,
            f"Source {source.source_id} is online; "
            f"last heartbeat {human_duration(max(age, timedelta()))} ago.",
        )
    ]


def _unfinished_jobs(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    check, title = DrillCheck.UNFINISHED_JOB, "No other unfinished job on the source"
    source = _known_source(params, facts)
    if source is None:
        return []
    fix = (
        "Let that job finish, or cancel it (Cancel and clean up), then run the test again: SMC allows one "
        "unfinished job per source server."
    )
    if facts.unfinished_jobs:
        jobs = ", ".join(f"{j.job_id} ({j.status})" for j in facts.unfinished_jobs)
        return [
            DrillItem(check, Level.CRITICAL, title, f"Source {source.source_id} already has {jobs}.", fix)
        ]
    if source.state == SOURCE_IN_USE:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"Source {source.source_id} is in use by another migration job.",
                fix,
            )
        ]
    return [DrillItem(check, Level.OK, title, f"Source {source.source_id} has no unfinished job.")]


def _quotas(facts: DrillFacts) -> list[DrillItem]:
    quota = facts.quota
    if quota is None:
        return []
    return [
        _quota_item(
            DrillCheck.JOB_QUOTA,
            "Migration job quota",
            used=quota.total_jobs,
            limit=quota.max_jobs,
            what="migration jobs exist in the account",
            critical_fix="Delete finished or unneeded migration jobs (Cancel and clean up), or ask Alibaba "
            "Cloud for a higher quota with a ticket, then run the test again.",
            warning_fix="Delete finished migration jobs you no longer need before the account reaches "
            f"{quota.max_jobs:,}.",
        ),
        _quota_item(
            DrillCheck.RUNNING_QUOTA,
            "Running job quota",
            used=quota.running_jobs,
            limit=quota.max_running_jobs,
            what="migration jobs are running",
            critical_fix="Wait until fewer jobs run, or choose Create Only or Migrate Later and start this "
            "job when there is room.",
            warning_fix="Start this job soon, or expect it to wait if other jobs start first.",
        ),
    ]


def _quota_item(
    check: DrillCheck,
    title: str,
    *,
    used: int,
    limit: int,
    what: str,
    critical_fix: str,
    warning_fix: str,
) -> DrillItem:
    detail = f"{used:,} of {limit:,} {what}."
    if used >= limit:
        return DrillItem(check, Level.CRITICAL, title, detail + " SMC refuses another one.", critical_fix)
    if used >= math.ceil(limit * QUOTA_WARNING_RATIO):
        return DrillItem(check, Level.WARNING, title, detail + " The limit is near.", warning_fix)
    return DrillItem(check, Level.OK, title, detail)


def _disk_space(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    check, title = DrillCheck.DISK_SPACE, "Destination disks larger than the used space"
    source = _known_source(params, facts)
    if source is None:
        return []
    problems: list[str] = []
    fixes: list[str] = []
    fine: list[str] = []
    warnings: list[str] = []
    unknown: list[str] = []
    disks: list[tuple[str, SystemDisk | DataDisk, DiskFacts | None]] = [
        ("system disk", params.system_disk, source.system_disk)
    ]
    disks += [(f"data disk {d.index}", d, source.data_disk(d.index)) for d in params.migrated_data_disks()]
    for name, disk, disk_facts in disks:
        if disk_facts is None:
            problems.append(f"The source has no {name}.")
            fixes.append(f"Remove {name} from the request.")
            continue
        if disk_facts.used_gib is None:
            if disk.size_gib is None:
                problems.append(f"No size is set for {name}.")
                fixes.append(f"Enter a size for {name}, larger than the data on the source disk.")
            else:
                unknown.append(name)
            continue
        used = format_gib(disk_facts.used_gib)
        need = math.floor(disk_facts.used_gib) + 1
        if disk.size_gib is None:
            problems.append(f"No size is set for {name} ({used} GiB used on the source).")
            fixes.append(f"Enter a size of at least {need} GiB for {name}.")
        elif disk.size_gib <= disk_facts.used_gib:
            problems.append(
                f"The destination {name} ({disk.size_gib} GiB) is not larger than the {used} GiB used on the "
                "source."
            )
            fixes.append(f"Enter at least {need} GiB for {name} (more leaves room to grow).")
        else:
            fine.append(f"{name} {disk.size_gib} GiB > {used} GiB used")
    listed = {d.index for d in params.data_disks}
    not_listed = [missing for missing in source.data_disks if missing.index not in listed]
    warnings += [
        f"Source data disk {missing.index} ({missing.used_text}) is not in the request and will not be "
        "migrated."
        for missing in not_listed
    ]
    cautions = []
    if not_listed:
        cautions.append("Add the missing data disks with a size, or mark them skipped if they need not move.")
    if unknown:
        warnings.append(
            f"The source did not report the used space of its {' and '.join(unknown)}: the destination "
            "sizes could not be checked against the data on them."
        )
        cautions.append(
            "Check the used space on the source (`df -h`, or Disk Management on Windows) and keep each "
            "destination disk larger than it."
        )
    skipped = [f"data disk {d.index} skipped" for d in params.data_disks if d.skip]
    if problems:
        return [DrillItem(check, Level.CRITICAL, title, " ".join(problems + warnings), " ".join(fixes))]
    if warnings:
        return [DrillItem(check, Level.WARNING, title, " ".join(warnings), " ".join(cautions))]
    return [DrillItem(check, Level.OK, title, "; ".join(fine + skipped) + ".")]


def _partitions(params: MigrationParams) -> list[DrillItem]:
    check, title = DrillCheck.PARTITIONS, "Partitions fit their disks"
    disks: list[tuple[str, SystemDisk | DataDisk]] = [("system disk", params.system_disk)]
    disks += [(f"data disk {d.index}", d) for d in params.migrated_data_disks()]
    laid_out = [(name, disk) for name, disk in disks if disk.partitions and disk.size_gib is not None]
    if not laid_out:
        return []
    problems: list[str] = []
    fixes: list[str] = []
    fine: list[str] = []
    for name, disk in laid_out:
        total = sum(p.size_bytes for p in disk.partitions)
        size = (disk.size_gib or 0) * GIB
        if total > size:
            problems.append(
                f"The partitions of {name} add up to {format_gib(total / GIB)} GiB, more than its "
                f"{disk.size_gib} GiB."
            )
            fixes.append(
                f"Make {name} at least {math.ceil(total / GIB)} GiB, or make its partitions smaller."
            )
        else:
            fine.append(f"{name}: {format_gib(total / GIB)} of {disk.size_gib} GiB")
    if problems:
        return [DrillItem(check, Level.CRITICAL, title, " ".join(problems), " ".join(fixes))]
    return [DrillItem(check, Level.OK, title, "; ".join(fine) + ".")]


def _target_instance(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    if params.target_type is not TargetType.TARGET_INSTANCE:
        return []
    check, title = DrillCheck.TARGET_INSTANCE, "Destination instance compatible"
    instance = facts.target_instance
    if (
        instance is None
        or instance.instance_id != params.instance_id
        or instance.region_id != params.region_id
    ):
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"Instance {params.instance_id} was not found in {params.region_id}.",
                f"Choose an existing instance of {params.region_id}, or migrate to an ECS image instead.",
            )
        ]
    criticals: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    name = instance.instance_id
    status = facts.target_instance_status
    if status is not None and status not in ("Running", "Stopped"):
        warnings.append(
            (
                f"{name} is {status}.",
                "Wait until the instance is Running or Stopped, then run the test again.",
            )
        )
    source = _known_source(params, facts)
    if source is not None:
        wanted = _os_name(source.os_type)
        if instance.os_type is None:
            warnings.append(
                (
                    f"The OS family of {name} is unknown.",
                    f"Make sure {name} runs {wanted}, like the source.",
                )
            )
        elif instance.os_type is not source.os_type:
            criticals.append(
                (
                    f"The source runs {wanted} but {name} runs {_os_name(instance.os_type)}.",
                    f"Choose an instance that runs {wanted}, or migrate to an ECS image instead.",
                )
            )
    criticals += _instance_disk_problems(params, source, instance)
    detail_ok = (
        f"{name}" + (f" ({status})" if status else "") + f": system disk {instance.system_disk_gib} GiB"
    )
    if instance.data_disk_gib:
        detail_ok += ", data disks " + ", ".join(f"{size} GiB" for size in instance.data_disk_gib)
    if criticals:
        found = criticals + warnings
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                " ".join(d for d, _ in found),
                " ".join(f for _, f in found),
            )
        ]
    if warnings:
        return [
            DrillItem(
                check,
                Level.WARNING,
                title,
                " ".join(d for d, _ in warnings),
                " ".join(f for _, f in warnings),
            )
        ]
    return [DrillItem(check, Level.OK, title, detail_ok + ".")]


def _instance_disk_problems(
    params: MigrationParams, source: SourceFacts | None, instance: InstanceFacts
) -> list[tuple[str, str]]:
    """Fewer or smaller disks than the migration needs: (what was found, what to do)."""
    name = instance.instance_id
    found: list[tuple[str, str]] = []
    pairs: list[tuple[str, int | None, DiskFacts | None, int | None]] = [
        (
            "system disk",
            params.system_disk.size_gib,
            None if source is None else source.system_disk,
            instance.system_disk_gib,
        )
    ]
    for disk in params.migrated_data_disks():
        has = disk.index <= len(instance.data_disk_gib)
        pairs.append(
            (
                f"data disk {disk.index}",
                disk.size_gib,
                None if source is None else source.data_disk(disk.index),
                instance.data_disk_gib[disk.index - 1] if has else None,
            )
        )
    missing = [what for what, _, _, available in pairs if available is None]
    if missing:
        disks = ", ".join(missing)
        found.append(
            (
                f"{name} has {len(instance.data_disk_gib)} data disk(s), but the migration writes {disks}.",
                f"Attach {len(missing)} data disk(s) to {name}, skip {disks}, or choose another instance.",
            )
        )
    for what, requested, disk_facts, available in pairs:
        if available is None:
            continue
        if disk_facts is not None and disk_facts.used_gib is not None and available <= disk_facts.used_gib:
            found.append(
                (
                    f"The {what} of {name} ({available} GiB) is not larger than the "
                    f"{format_gib(disk_facts.used_gib)} GiB used on the source.",
                    f"Resize the {what} of {name} to at least {math.floor(disk_facts.used_gib) + 1} GiB, or "
                    "choose an instance with larger disks.",
                )
            )
        elif requested is not None and requested > available:
            found.append(
                (
                    f"The request sets {what} to {requested} GiB, "
                    f"but that disk of {name} has {available} GiB.",
                    f"Enter at most {available} GiB for {what}, or resize the disk of {name}.",
                )
            )
    return found


def _data_loss(params: MigrationParams) -> list[DrillItem]:
    if params.target_type is not TargetType.TARGET_INSTANCE:
        return []
    name = params.instance_id or "the destination instance"
    return [
        DrillItem(
            DrillCheck.DATA_LOSS,
            Level.WARNING,
            "Destination instance will be overwritten",
            f"SMC replaces the operating system of {name} and overwrites its disks, and deletes the "
            "automatic snapshots of its system disk, which cannot be restored. The instance is unavailable "
            "while the migration runs.",
            f"Before approving, copy anything you need off {name} (take manual snapshots), and set its "
            "automatic snapshots to be kept when the disk is released.",
        )
    ]


def is_chinese_mainland(region_id: str) -> bool:
    """`cn-*` regions except Hong Kong (cn-hongkong), which Alibaba lists outside the Chinese mainland."""
    return region_id.startswith("cn-") and region_id != "cn-hongkong"


def _windows_target_region(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    source = _known_source(params, facts)
    if (
        params.target_type is not TargetType.TARGET_INSTANCE
        or source is None
        or source.os_type is not OsType.WINDOWS
        or is_chinese_mainland(params.region_id)
    ):
        return []
    # https://www.alibabacloud.com/help/doc-detail/62394.htm : from 30 Nov 2025 SMC no longer migrates
    # Windows servers to destination instances in regions outside the Chinese mainland.
    return [
        DrillItem(
            DrillCheck.WINDOWS_TARGET_REGION,
            Level.WARNING,
            "Windows to an instance outside the Chinese mainland",
            f"SMC announced that from 30 November 2025 it no longer migrates Windows servers to destination "
            f"instances outside the Chinese mainland; {params.region_id} is outside it, so the job may fail.",
            "Migrate to an ECS image instead and create the instance from that image.",
        )
    ]


def _network(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    if params.vpc_id is None and params.vswitch_id is None:
        return []
    check, title = DrillCheck.NETWORK, "VPC and vSwitch"
    vpc = facts.vpc(params.vpc_id) if params.vpc_id else None
    if vpc is None:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"VPC {params.vpc_id or '(none)'} was not found in {params.region_id}.",
                f"Choose an existing VPC of {params.region_id} and one of its vSwitches.",
            )
        ]
    vswitch = vpc.vswitch(params.vswitch_id) if params.vswitch_id else None
    if vswitch is None:
        owner = next(
            (v.vpc_id for v in facts.vpcs if params.vswitch_id and v.vswitch(params.vswitch_id) is not None),
            None,
        )
        where = f"it belongs to {owner}" if owner else f"it was not found in {params.region_id}"
        choices = ", ".join(v.vswitch_id for v in vpc.vswitches) or "none yet: create one first"
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"vSwitch {params.vswitch_id or '(none)'} is not in VPC {vpc.vpc_id}: {where}.",
                f"Choose a vSwitch of {vpc.vpc_id} ({choices}).",
            )
        ]
    return [_free_addresses(params, vpc, vswitch)]


def _free_addresses(params: MigrationParams, vpc: VpcFacts, vswitch: VSwitchFacts) -> DrillItem:
    check, title = DrillCheck.NETWORK, "VPC and vSwitch"
    where = f"vSwitch {vswitch.vswitch_id} ({vswitch.cidr}) of {vpc.vpc_id}"
    if params.target_type is not TargetType.IMAGE:
        return DrillItem(
            check, Level.OK, title, f"{where} exists; an instance destination needs no new address."
        )
    fix_other = (
        f"Choose another vSwitch of {vpc.vpc_id}, or release unused addresses in {vswitch.vswitch_id}."
    )
    if vswitch.free_ips < 1:
        return DrillItem(
            check,
            Level.CRITICAL,
            title,
            f"{where} has no free address for the intermediate instance.",
            fix_other,
        )
    if vswitch.free_ips < FEW_FREE_IPS:
        return DrillItem(
            check,
            Level.WARNING,
            title,
            f"{where} has only {vswitch.free_ips} free address(es); the intermediate instance needs one and "
            "other resources may take them first.",
            fix_other,
        )
    return DrillItem(check, Level.OK, title, f"{where} has {vswitch.free_ips} free addresses.")


def _names(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    check, title = DrillCheck.NAMES, "Image and job names free"
    image = params.image_name if params.target_type is TargetType.IMAGE else None
    if image is None and params.job_name is None:
        return []
    problems: list[str] = []
    fixes: list[str] = []
    if image is not None and image in facts.image_names:
        problems.append(f"Image name {image} is already used by a migration job in {params.region_id}.")
        fixes.append(f"Choose another image name prefix, such as {image}-2.")
    if params.job_name is not None and params.job_name in facts.job_names:
        problems.append(f"A migration job named {params.job_name} already exists.")
        fixes.append(f"Choose another job name, such as {params.job_name}-2.")
    if problems:
        return [DrillItem(check, Level.CRITICAL, title, " ".join(problems), " ".join(fixes))]
    names = [f"image name {image}" if image else "", f"job name {params.job_name}" if params.job_name else ""]
    shown = " and ".join(n for n in names if n)
    return [DrillItem(check, Level.OK, title, f"{shown[0].upper()}{shown[1:]} free.")]


def _lvm(params: MigrationParams, facts: DrillFacts) -> list[DrillItem]:
    source = _known_source(params, facts)
    with_lvm = (["system disk"] if params.system_disk.lvm else []) + [
        f"data disk {d.index}" for d in params.migrated_data_disks() if d.lvm
    ]
    if source is None or not with_lvm:
        return []
    check, title = DrillCheck.LVM, "LVM rules"
    disks = ", ".join(with_lvm)
    if source.os_type is OsType.WINDOWS:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"LVM is on for {disks}, but the source runs Windows, which has no LVM.",
                f"Turn LVM off for {disks}.",
            )
        ]
    if not source.has_boot_partition:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"LVM is on for {disks}, but the source system disk has no boot partition, which LVM needs.",
                f"Turn LVM off for {disks}.",
            )
        ]
    return [DrillItem(check, Level.OK, title, f"LVM on {disks}: a Linux source with a boot partition.")]


def _schedule(params: MigrationParams, now: datetime) -> list[DrillItem]:
    if params.execution_method is not ExecutionMethod.MIGRATE_LATER:
        return []
    check, title = DrillCheck.SCHEDULE, "Scheduled start"
    earliest, latest = now + SCHEDULE_MIN_AHEAD, now + SCHEDULE_MAX_AHEAD
    window = f"between {_minute(earliest, up=True)} and {_minute(latest, up=False)} UTC"
    start = params.scheduled_start
    if start is None:
        return [
            DrillItem(
                check, Level.CRITICAL, title, "Migrate Later has no start time.", f"Pick a start {window}."
            )
        ]
    shown = format_utc(start)
    if start < earliest:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"The start {shown} is less than 10 minutes from now.",
                f"Pick a start {window}.",
            )
        ]
    if start > latest:
        return [
            DrillItem(
                check,
                Level.CRITICAL,
                title,
                f"The start {shown} is more than 30 days from now; SMC accepts at most 30 days.",
                f"Pick a start {window}.",
            )
        ]
    return [DrillItem(check, Level.OK, title, f"Starts at {shown}, in {human_duration(start - now)}.")]


def _public_network(params: MigrationParams, estimate: DrillEstimate) -> list[DrillItem]:
    if params.network_type is not NetworkType.PUBLIC:
        return []
    check, title = DrillCheck.PUBLIC_NETWORK, "Public network"
    took = human_duration(estimate.transfer_time)
    if estimate.transfer_time >= PUBLIC_NETWORK_SLOW_AFTER:
        return [
            DrillItem(
                check,
                Level.WARNING,
                title,
                f"Over the public network the transfer of {human_bytes(estimate.volume_bytes)} takes about "
                f"{took}; the internet is usually slower and less steady than a VPC connection.",
                "If the source can reach a VPC of the destination account (CEN, VPN Gateway or Express "
                "Connect), choose VPC; otherwise raise the source's public bandwidth (and the speed limit) "
                "for the migration.",
            )
        ]
    return [DrillItem(check, Level.OK, title, f"The transfer takes about {took} over the public network.")]


def _os_name(os_type: OsType) -> str:
    return "Windows" if os_type is OsType.WINDOWS else "Linux"


def _minute(moment: datetime, *, up: bool) -> str:
    """A moment as `YYYY-MM-DD HH:MM`, rounded to a minute that is still inside the window."""
    floor = moment.astimezone(UTC).replace(second=0, microsecond=0)
    if up and floor < moment:
        floor += timedelta(minutes=1)
    return floor.strftime("%Y-%m-%d %H:%M")


def worst_level(levels: Sequence[Level]) -> Level:
    """The most severe of `levels` (OK for none)."""
    return max(levels, key=lambda level: level.rank, default=Level.OK)
