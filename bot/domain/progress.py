"""The maths of PRODUCT §3.4 (speed, ETA, milestones, human units) and the job-state diff that yields events.

Speed is uncompressed bytes per second from progress deltas and ETA = (total - transferred) / speed, as the
console defines them. `observe` compares the stored `JobSnapshot` with a newly described `JobObservation`
and returns the thread events with keys that stay the same when the same change is observed twice.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from bot.domain.params import NetworkType
from storage.enums import BusinessStatus, JobStatus

MILESTONES: tuple[int, ...] = (25, 50, 75)
BYTES_PER_MBIT = 125_000
"""1 Mbit/s = 125,000 bytes/s: rates are shown in decimal MB/s and Mbit/s, like the console's speed limit."""

LOW_SPEED_BPS: Mapping[NetworkType, float] = MappingProxyType(
    {
        # A tenth of the drill's default speeds (bot.domain.drill.DEFAULT_SPEED_BPS): at 1 MB/s a 100 GiB
        # system disk already takes more than a day, which is when raising bandwidth is worth the trouble.
        NetworkType.PUBLIC: 1_000_000.0,
        NetworkType.VPC: 5_000_000.0,
    }
)

BAR_FULL = "▓"
BAR_EMPTY = "░"
"""Shade blocks: plain Unicode that Slack renders in messages and mrkdwn alike, unlike emoji shortcodes."""


# -- speed, ETA, averages -------------------------------------------------------------------------


def transferred_bytes(progress: float, total_bytes: int) -> float:
    """Uncompressed bytes moved at `progress` percent of `total_bytes` (progress clamped to 0-100)."""
    return _clamp_percent(progress) / 100 * total_bytes


@dataclass(frozen=True, slots=True)
class ProgressSample:
    """One reading of a job: when, its progress in percent, and the bytes one cycle moves (if known)."""

    at: datetime
    progress: float
    total_bytes: int | None = None

    @property
    def transferred(self) -> float | None:
        return None if self.total_bytes is None else transferred_bytes(self.progress, self.total_bytes)


def speed_between(earlier: ProgressSample, later: ProgressSample) -> float | None:
    """Uncompressed bytes/s between two readings; None without totals, time or forward progress.

    Progress also covers Preparing and Processing, so callers should pair readings taken while Syncing.
    """
    if earlier.transferred is None or later.transferred is None:
        return None
    seconds = (later.at - earlier.at).total_seconds()
    moved = later.transferred - earlier.transferred
    if seconds <= 0 or moved < 0:
        return None
    return moved / seconds


def eta(total_bytes: float, transferred: float, speed: float | None) -> timedelta | None:
    """(total - transferred) / speed, never negative; None when the speed is unknown or not positive."""
    if speed is None or not speed > 0 or not math.isfinite(speed):
        return None
    return timedelta(seconds=max(total_bytes - transferred, 0) / speed)


def average_speed(total_bytes: float, started: datetime, finished: datetime) -> float | None:
    """Bytes/s over a whole job (total / (finish - start)); None for a zero or negative duration."""
    seconds = (finished - started).total_seconds()
    return total_bytes / seconds if seconds > 0 else None


def median_speed(speeds: Iterable[float]) -> float | None:
    """The median of the positive speeds, or None: one slow or fast job does not skew it."""
    usable = [s for s in speeds if s > 0 and math.isfinite(s)]
    return statistics.median(usable) if usable else None


def is_low_speed(speed: float | None, network_type: NetworkType) -> bool:
    """True when a measured speed is below the threshold of its network type (unknown speed: False)."""
    return speed is not None and speed < LOW_SPEED_BPS[network_type]


def low_speed_advice(network_type: NetworkType, *, speed_limit_mbps: int = 0) -> str:
    """What to do about a slow transfer (the console: temporarily raise the bandwidth, or use VPC)."""
    parts = []
    if speed_limit_mbps > 0:
        parts.append(
            f"The job is limited to {speed_limit_mbps} Mbit/s: raise the limit with Modify speed if the "
            "network allows more."
        )
    if network_type is NetworkType.PUBLIC:
        parts.append(
            "Temporarily raise the public bandwidth of the source server, or, if it can reach a VPC of the "
            "destination account (CEN, VPN Gateway or Express Connect), migrate over VPC next time."
        )
    else:
        parts.append(
            "Temporarily raise the bandwidth of the link between the source and the VPC "
            "(VPN Gateway, CEN or Express Connect)."
        )
    return " ".join(parts)


# -- milestones and rendering ----------------------------------------------------------------------


def crossed_milestones(previous: float, current: float, marks: Sequence[int] = MILESTONES) -> list[int]:
    """Marks m with previous < m <= current, ascending; nothing when progress did not move forward."""
    if marks is MILESTONES:
        return [m for m in _SORTED_MILESTONES if previous < m <= current]
    return sorted(m for m in set(marks) if previous < m <= current)


_SORTED_MILESTONES = tuple(sorted(set(MILESTONES)))


def progress_bar(percent: float, width: int = 20) -> str:
    """`▓▓▓▓▓▓▓▓░░░░░░░░░░░░ 42%`: cells and label round down, so 99.9 % never looks finished."""
    if width < 1:
        raise ValueError("a progress bar needs at least one cell")
    value = _clamp_percent(percent)
    filled = math.floor(value / 100 * width)
    return f"{BAR_FULL * filled}{BAR_EMPTY * (width - filled)} {math.floor(value)}%"


def human_bytes(value: float) -> str:
    """Binary units like the disk sizes (GiB): 1536 -> "1.5 KiB", 37 * GIB -> "37.0 GiB"."""
    if value < 1024:
        return f"{max(value, 0):.0f} B"
    size = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def human_rate(bytes_per_second: float) -> str:
    """Decimal units, as the console's speed limit: 12_500_000 -> "12.5 MB/s (100 Mbit/s)"."""
    megabytes = bytes_per_second / 1_000_000
    megabits = bytes_per_second / BYTES_PER_MBIT
    return f"{megabytes:.1f} MB/s ({megabits:.0f} Mbit/s)"


def human_duration(value: timedelta | float) -> str:
    """45 s, 12 min, 3 h 05 min, 2 d 4 h: seconds under a minute, then rounded to the unit shown last."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = round(seconds / 3600)
    return f"{hours // 24} d {hours % 24} h"


def _clamp_percent(value: float) -> float:
    # min(max(value, 0.0), 100.0) for finite values, without the two calls (a poll clamps thousands).
    if not math.isfinite(value) or value < 0.0:
        return 0.0
    return 100.0 if value > 100.0 else value


# -- job observation diff --------------------------------------------------------------------------

_ACTIVE = frozenset({JobStatus.RUNNING, JobStatus.STOPPED, JobStatus.IN_ERROR})
"""States of a cycle in progress: milestones count only here."""
CYCLE_RESET_DROP = 10.0
"""A progress drop of this many points while active means a new cycle began between two polls."""
_STATUS_ORDER: tuple[JobStatus, ...] = tuple(JobStatus)
"""Declaration order: a snapshot's `entries` follow it (iterating the enum class itself is slow)."""
_ENTRIES: dict[tuple[tuple[JobStatus, int], ...], Mapping[JobStatus, int]] = {}
"""Read-only `entries` mappings shared by the snapshots that count alike: a poller keeps thousands of
snapshots, most with the same few counts, and makes new ones every tick."""
_ENTRIES_SIZE = 1024


class JobEventKind(StrEnum):
    """What happened to a job; each kind is one thread reply."""

    STATUS = "status"
    BUSINESS_STATUS = "business_status"
    MILESTONE = "milestone"
    CYCLE_FINISHED = "cycle_finished"
    ERROR = "error"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class JobRun:
    """One finished cycle, as `ReplicationJobRuns` lists it (in order)."""

    image_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobObservation:
    """A job as `DescribeReplicationJobs` just described it; `incremental` is `RunOnce == false`."""

    status: JobStatus
    business_status: BusinessStatus | None = None
    progress: float = 0.0
    error_code: str | None = None
    status_info: str | None = None
    image_id: str | None = None
    runs: tuple[JobRun, ...] = ()
    incremental: bool = False


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """What the bot stored after the last observation, including the counters event keys are built from.

    `entries` counts how often each status was entered, `cycle` is the 1-based cycle in progress (it grows
    when an incremental job leaves Waiting), and `peak` / `business_seen` belong to that cycle, so a
    milestone or sub-status is reported once per cycle even when progress wobbles.
    """

    status: JobStatus = JobStatus.READY
    business_status: BusinessStatus | None = None
    progress: float = 0.0
    error_code: str | None = None
    runs_seen: int = 0
    image_id: str | None = None
    cycle: int = 1
    peak: float | None = None
    """Highest progress of this cycle; None means `progress` (a snapshot rebuilt from a progress column)."""
    business_seen: frozenset[BusinessStatus] = frozenset()
    entries: Mapping[JobStatus, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.peak is None:
            object.__setattr__(self, "peak", _clamp_percent(self.progress))
        entries = self.entries
        counts = tuple((status, entries[status]) for status in _STATUS_ORDER if entries.get(status))
        for _, count in counts:
            if type(count) is not int:
                object.__setattr__(self, "entries", MappingProxyType(dict(counts)))
                return
        shared = _ENTRIES.get(counts)
        if shared is None:
            shared = MappingProxyType(dict(counts))
            if len(_ENTRIES) >= _ENTRIES_SIZE:
                _ENTRIES.clear()
            _ENTRIES[counts] = shared
        object.__setattr__(self, "entries", shared)

    def entered(self, status: JobStatus) -> int:
        """How many times the job has entered `status` so far."""
        return self.entries.get(status, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for a JSON column)."""
        return {
            "status": self.status.value,
            "business_status": None if self.business_status is None else self.business_status.value,
            "progress": self.progress,
            "error_code": self.error_code,
            "runs_seen": self.runs_seen,
            "image_id": self.image_id,
            "cycle": self.cycle,
            "peak": self.peak,
            "business_seen": sorted(b.value for b in self.business_seen),
            "entries": {status.value: count for status, count in self.entries.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSnapshot:
        """Inverse of `to_dict`; unknown enum values raise ValueError."""
        business = data.get("business_status")
        return cls(
            status=_job_status(data["status"]),
            business_status=None if business is None else _business_status(business),
            progress=float(data.get("progress", 0.0)),
            error_code=data.get("error_code"),
            runs_seen=int(data.get("runs_seen", 0)),
            image_id=data.get("image_id"),
            cycle=int(data.get("cycle", 1)),
            peak=None if data.get("peak") is None else float(data["peak"]),
            business_seen=frozenset(_business_status(b) for b in data.get("business_seen", ())),
            entries={_job_status(k): int(v) for k, v in dict(data.get("entries", {})).items()},
        )


_JOB_STATUSES: Mapping[str, JobStatus] = {status.value: status for status in JobStatus}
_BUSINESS_STATUSES: Mapping[str, BusinessStatus] = {status.value: status for status in BusinessStatus}


def _job_status(value: Any) -> JobStatus:
    """`JobStatus(value)` (the same ValueError for an unknown one), a dict lookup for a stored string."""
    found = _JOB_STATUSES.get(value) if type(value) is str else None
    return found if found is not None else JobStatus(value)


def _business_status(value: Any) -> BusinessStatus:
    found = _BUSINESS_STATUSES.get(value) if type(value) is str else None
    return found if found is not None else BusinessStatus(value)


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One thread-worthy change; `key` is unique per job and the same whenever this change is observed."""

    kind: JobEventKind
    key: str
    status: JobStatus
    previous_status: JobStatus | None = None
    business_status: BusinessStatus | None = None
    milestone: int | None = None
    run: int | None = None
    cycle: int = 1
    image_id: str | None = None
    error_code: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready payload for the outbox (enums as their values, empty fields left out)."""
        data: dict[str, Any] = {"kind": self.kind.value, "key": self.key, "status": self.status.value}
        optional: dict[str, Any] = {
            "previous_status": None if self.previous_status is None else self.previous_status.value,
            "business_status": None if self.business_status is None else self.business_status.value,
            "milestone": self.milestone,
            "run": self.run,
            "image_id": self.image_id,
            "error_code": self.error_code,
            "message": self.message,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        data["cycle"] = self.cycle
        return data


@dataclass(frozen=True, slots=True)
class Observed:
    """The events of one observation, in order, and the snapshot to store with them (same transaction)."""

    events: tuple[JobEvent, ...]
    snapshot: JobSnapshot


def observe(
    previous: JobSnapshot,
    current: JobObservation,
    *,
    marks: Sequence[int] = MILESTONES,
    every_cycle: bool = False,
) -> Observed:
    """Events between two states, oldest first, and the next snapshot.

    Keys: `run:<n>`, `status:<Status>:<n-th entry>`, `error:<code>:<n-th InError>`, `finished:<n>`,
    `business:<cycle>:<BusinessStatus>`, `milestone:<cycle>:<mark>`. InError and Finished are reported as
    ERROR and FINISHED (not also as STATUS); an error code that changes while the job stays InError is not
    a new event. For incremental jobs, after the first cycle only new runs, errors, pauses and the finish
    are reported unless `every_cycle`; a one-off job's run is reported by FINISHED, not as a cycle.
    """
    entries = dict(previous.entries)
    new_runs = current.runs[previous.runs_seen :]
    runs_seen = max(previous.runs_seen, len(current.runs))

    active = current.status in _ACTIVE
    new_cycle = active and (
        previous.status is JobStatus.WAITING
        or (bool(new_runs) and current.progress < previous.progress)
        or current.progress <= previous.progress - CYCLE_RESET_DROP
    )
    cycle = previous.cycle + 1 if new_cycle else previous.cycle
    peak = 0.0 if new_cycle else previous.peak or 0.0
    business_seen = frozenset() if new_cycle else previous.business_seen
    quiet = current.incremental and cycle > 1 and not every_cycle

    def event(kind: JobEventKind, key: str, **values: Any) -> JobEvent:
        return JobEvent(kind, key, current.status, cycle=cycle, **values)

    before: list[JobEvent] = []
    middle: list[JobEvent] = []
    after: list[JobEvent] = []

    if current.incremental:
        for number, run in enumerate(new_runs, start=previous.runs_seen + 1):
            before.append(
                event(JobEventKind.CYCLE_FINISHED, f"run:{number}", run=number, image_id=run.image_id)
            )

    if current.status is not previous.status:
        count = entries.get(current.status, 0) + 1
        entries[current.status] = count
        change = _status_event(previous, current, count, cycle, quiet=quiet)
        if change is not None:
            (before if current.status is JobStatus.RUNNING else after).append(change)

    milestones: list[JobEvent] = []
    if active:
        if not quiet:
            milestones = [
                event(JobEventKind.MILESTONE, f"milestone:{cycle}:{mark}", milestone=mark)
                for mark in crossed_milestones(peak, current.progress, marks)
            ]
        peak = max(peak, _clamp_percent(current.progress))

    business: list[JobEvent] = []
    sub = current.business_status
    if current.status is JobStatus.RUNNING and sub is not None and sub not in business_seen:
        business_seen = business_seen | {sub}
        if not quiet:
            business.append(
                event(JobEventKind.BUSINESS_STATUS, f"business:{cycle}:{sub.value}", business_status=sub)
            )
    # Milestones fall inside Syncing: the sub-status goes first up to Syncing, after them from Processing on.
    if sub in (None, BusinessStatus.PREPARING, BusinessStatus.SYNCING):
        middle = business + milestones
    else:
        middle = milestones + business

    snapshot = JobSnapshot(
        status=current.status,
        business_status=current.business_status,
        progress=current.progress,
        error_code=current.error_code,
        runs_seen=runs_seen,
        image_id=current.image_id or previous.image_id,
        cycle=cycle,
        peak=peak,
        business_seen=business_seen,
        entries=entries,
    )
    return Observed(tuple(before + middle + after), snapshot)


def diff(
    previous: JobSnapshot,
    current: JobObservation,
    *,
    marks: Sequence[int] = MILESTONES,
    every_cycle: bool = False,
) -> list[JobEvent]:
    """The events of `observe`, without the next snapshot."""
    return list(observe(previous, current, marks=marks, every_cycle=every_cycle).events)


def _status_event(
    previous: JobSnapshot, current: JobObservation, count: int, cycle: int, *, quiet: bool
) -> JobEvent | None:
    status = current.status
    common: dict[str, Any] = {"previous_status": previous.status, "cycle": cycle}
    if status is JobStatus.IN_ERROR:
        code = (current.error_code or "").strip() or "unknown"
        return JobEvent(
            JobEventKind.ERROR,
            f"error:{code}:{count}",
            status,
            error_code=current.error_code or None,
            message=current.status_info or None,
            **common,
        )
    if status is JobStatus.FINISHED:
        return JobEvent(
            JobEventKind.FINISHED,
            f"finished:{count}",
            status,
            image_id=current.image_id or previous.image_id,
            **common,
        )
    if quiet and status in (JobStatus.RUNNING, JobStatus.WAITING):
        return None
    return JobEvent(
        JobEventKind.STATUS,
        f"status:{status.value}:{count}",
        status,
        business_status=current.business_status,
        **common,
    )
