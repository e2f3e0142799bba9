"""Destination-account data for the migration wizard: option lists and the facts validation needs.

Slack gives an options request 3 seconds, and a submission must be answered before anything slow runs.
So every lookup is served from a short-lived cache; a miss starts a fetch on a daemon thread and waits at
most a deadline, after which the caller answers "loading" and the fetch completes in the background,
filling the cache for the user's next keystroke. Entries older than `ttl_s` are still served (up to
`max_age_s`) while a refresh runs. Validation reads the cache only (`validation_context(wait_s=0)`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from bot.cloud.ports import (
    DEFAULT_CREDENTIAL_REF,
    CloudError,
    CloudGateway,
    DestinationCloud,
    Instance,
    InstanceType,
    Region,
    ReplicationJob,
    SourceDisk,
    SourceServer,
    SourceServerState,
    VSwitch,
)
from bot.cloud.ports import OsType as CloudOsType
from bot.domain.params import MigrationParams, OsType
from bot.domain.validation import (
    DiskFacts,
    InstanceFacts,
    PartitionFacts,
    SourceFacts,
    UnfinishedJob,
    ValidationContext,
    VpcFacts,
    VSwitchFacts,
)
from storage.enums import TargetType

log = logging.getLogger(__name__)

T = TypeVar("T")

UNFINISHED_STATUSES = frozenset({"Ready", "Running", "Stopped", "Waiting", "InError", "Expired"})
"""SMC allows one job per source in these statuses (SMC_API_NOTES, state rules)."""
MAX_PAGES = 10
"""Listing guard: 10 pages of 50 sources / 100 instances; far above what a migration team picks from."""
MAX_JOB_PAGES = 20
"""1,000 jobs at 50 a page: the account quota, so every job name in a region is seen."""
_GIB = 1024**3


class LookupState(StrEnum):
    READY = "ready"
    LOADING = "loading"
    FAILED = "failed"


@dataclass(frozen=True)
class Lookup(Generic[T]):
    """A deadline-bound answer: the value, or LOADING (still fetching), or FAILED with a message."""

    state: LookupState
    value: T | None = None
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.state is LookupState.READY


@dataclass(frozen=True)
class RegionJobs:
    """Names already taken by migration jobs in a region (job names and image names)."""

    job_names: frozenset[str] = frozenset()
    image_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FactsCheck:
    """A ValidationContext from the facts at hand, or what is still missing (and what failed)."""

    context: ValidationContext | None
    missing: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    stale: bool = False
    """Some fact it used is past the TTL (still served): `prefetch` would refresh it."""

    @property
    def complete(self) -> bool:
        return self.context is not None


@dataclass
class _Entry:
    value: Any
    fetched_at: float


@dataclass(frozen=True)
class _Need:
    key: Hashable
    fetch: Callable[[], Any]
    what: str


_ABSENT = object()


def is_unfinished(job: ReplicationJob) -> bool:
    return job.status.value in UNFINISHED_STATUSES


def domain_os(os_type: CloudOsType) -> OsType | None:
    if os_type is CloudOsType.WINDOWS:
        return OsType.WINDOWS
    if os_type is CloudOsType.LINUX:
        return OsType.LINUX
    return None


def _disk_facts(disk: SourceDisk) -> DiskFacts:
    return DiskFacts(
        index=disk.index,
        size_gib=disk.size_gib,
        used_gib=disk.used_gib,
        partitions=tuple(
            PartitionFacts(
                device=p.device,
                path=p.path,
                size_bytes=p.size_bytes,
                used_bytes=p.used_bytes or 0,
                can_block=p.can_block,
            )
            for p in disk.partitions
        ),
    )


def source_facts(server: SourceServer) -> SourceFacts:
    """What validation needs of a source; an unknown OS counts as Linux (unknown used space stays None)."""
    system = server.system_disk or SourceDisk(index=0, size_gib=0)
    paths = {p.path for p in system.partitions}
    # A Linux system disk boots from /boot, or from / when /boot is not a partition of its own.
    has_boot = not system.partitions or bool(paths & {"/boot", "/"})
    return SourceFacts(
        source_id=server.id,
        os_type=domain_os(server.os_type) or OsType.LINUX,
        has_boot_partition=has_boot,
        system_disk=_disk_facts(system),
        data_disks=tuple(_disk_facts(d) for d in server.data_disks),
        state=server.state.value,
        name=server.name,
    )


def vswitch_facts(vswitch: VSwitch) -> VSwitchFacts:
    return VSwitchFacts(
        vswitch_id=vswitch.id, cidr=vswitch.cidr, free_ips=vswitch.available_ips, zone_id=vswitch.zone
    )


def sources_in_order(servers: Iterable[SourceServer]) -> tuple[SourceServer, ...]:
    """Available sources first (the ones a migration can use), then by name."""
    return tuple(
        sorted(servers, key=lambda s: (s.state is not SourceServerState.AVAILABLE, s.name.lower(), s.id))
    )


class Catalog:
    """Cached, deadline-bound lookups in the destination account; thread-safe, one fetch per key."""

    def __init__(
        self,
        cloud: CloudGateway,
        *,
        credential_ref: str = DEFAULT_CREDENTIAL_REF,
        deadline_s: float = 1.5,
        ttl_s: float = 60.0,
        max_age_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cloud = cloud
        self._credential_ref = credential_ref
        self.deadline_s = deadline_s
        self._ttl = ttl_s
        self._max_age = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[Hashable, _Entry] = {}
        self._in_flight: dict[Hashable, Future[Any]] = {}

    # ---- option lists --------------------------------------------------------------------------

    def regions(self, deadline_s: float | None = None) -> Lookup[tuple[Region, ...]]:
        return self._lookup(self._regions_need(), deadline_s)

    def source_servers(self, deadline_s: float | None = None) -> Lookup[tuple[SourceServer, ...]]:
        """Imported sources of the destination account, Available ones first."""
        return self._lookup(_Need(("sources",), self._fetch_sources, "source servers"), deadline_s)

    def instances(self, region: str, deadline_s: float | None = None) -> Lookup[tuple[Instance, ...]]:
        """Destination instances in a region (the candidates for an ECS instance destination)."""
        need = _Need(("instances", region), lambda: self._fetch_instances(region), f"instances in {region}")
        return self._lookup(need, deadline_s)

    def vpcs(self, region: str, deadline_s: float | None = None) -> Lookup[tuple[VpcFacts, ...]]:
        """VPCs of a region, each with its vSwitches."""
        return self._lookup(self._vpcs_need(region), deadline_s)

    def vswitches(
        self, region: str, vpc_id: str, deadline_s: float | None = None
    ) -> Lookup[tuple[VSwitchFacts, ...]]:
        found = self.vpcs(region, deadline_s)
        if not found.ready:
            return Lookup(found.state, message=found.message)
        vpc = next((v for v in found.value or () if v.vpc_id == vpc_id), None)
        return Lookup(LookupState.READY, vpc.vswitches if vpc is not None else ())

    def instance_types(
        self, region: str, deadline_s: float | None = None
    ) -> Lookup[tuple[InstanceType, ...]]:
        need = _Need(
            ("instance_types", region),
            lambda: tuple(self._dest().list_instance_types(region)),
            f"instance types in {region}",
        )
        return self._lookup(need, deadline_s)

    def region_jobs(self, region: str, deadline_s: float | None = None) -> Lookup[RegionJobs]:
        return self._lookup(self._region_jobs_need(region), deadline_s)

    # ---- facts ---------------------------------------------------------------------------------

    def source(self, source_id: str, deadline_s: float | None = None) -> Lookup[SourceServer | None]:
        """One source server; READY with None when the destination account has no such source."""
        return self._lookup(self._source_need(source_id), deadline_s)

    def target_instance(
        self, region: str, instance_id: str, deadline_s: float | None = None
    ) -> Lookup[InstanceFacts | None]:
        return self._lookup(self._instance_need(region, instance_id), deadline_s)

    def unfinished_job(self, source_id: str, deadline_s: float | None = None) -> Lookup[UnfinishedJob | None]:
        return self._lookup(self._source_jobs_need(source_id), deadline_s)

    def cached_source(self, source_id: str) -> SourceServer | None:
        """The source if it is cached (never fetches): for rendering without waiting."""
        value = self._peek(("source", source_id))
        return None if value is _ABSENT else cast(SourceServer | None, value)

    def cached_instance(self, region: str, instance_id: str) -> InstanceFacts | None:
        value = self._peek(("instance", region, instance_id))
        return None if value is _ABSENT else cast(InstanceFacts | None, value)

    def cached_regions(self) -> tuple[Region, ...]:
        value = self._peek(("regions",))
        return () if value is _ABSENT else cast(tuple[Region, ...], value)

    def cached_instances(self, region: str) -> tuple[Instance, ...]:
        value = self._peek(("instances", region))
        return () if value is _ABSENT else cast(tuple[Instance, ...], value)

    def cached_sources(self) -> tuple[SourceServer, ...]:
        value = self._peek(("sources",))
        return () if value is _ABSENT else cast(tuple[SourceServer, ...], value)

    def cached_vpcs(self, region: str) -> tuple[VpcFacts, ...]:
        value = self._peek(("vpcs", region))
        return () if value is _ABSENT else cast(tuple[VpcFacts, ...], value)

    def validation_context(
        self, params: MigrationParams, now: datetime, *, wait_s: float = 0.0
    ) -> FactsCheck:
        """Facts for `validate(params, ctx)`: from the cache only (wait_s=0), or fetching up to wait_s."""
        needs = self._needs(params)
        failures: list[str] = []
        if wait_s > 0:
            deadline = self._clock() + wait_s
            futures = [(n, self._start(n)) for n in needs if self._peek(n.key) is _ABSENT]
            for need, future in futures:
                try:
                    future.result(max(0.0, deadline - self._clock()))
                except FutureTimeout:
                    pass
                except CloudError as err:
                    failures.append(f"{need.what}: {err.code}")
        values: dict[Hashable, Any] = {}
        stale = False
        for need in needs:
            values[need.key], fresh = self._peek_aged(need.key)
            stale = stale or not fresh
        missing = tuple(n.what for n in needs if values[n.key] is _ABSENT)
        if missing:
            return FactsCheck(None, missing, tuple(failures))
        return FactsCheck(self._context(params, now, values), stale=stale)

    def prefetch(self, params: MigrationParams) -> None:
        """Start fetching (in the background) every fact `params` will be validated against."""
        for need in self._needs(params):
            with self._lock:
                entry = self._cache.get(need.key)
                fresh = entry is not None and self._clock() - entry.fetched_at < self._ttl
            if not fresh:
                self._start(need)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until no fetch is in flight (tests, shutdown); False if some are still running."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = list(self._in_flight.values())
            remaining = deadline - time.monotonic()
            if not pending:
                return True
            if remaining <= 0:
                return False
            wait(pending, timeout=remaining)

    # ---- what validation needs -----------------------------------------------------------------

    def _needs(self, params: MigrationParams) -> list[_Need]:
        needs = [self._regions_need()]
        if params.source_id:
            needs += [self._source_need(params.source_id), self._source_jobs_need(params.source_id)]
        region = params.region_id
        if region:
            if params.target_type is TargetType.TARGET_INSTANCE and params.instance_id:
                needs.append(self._instance_need(region, params.instance_id))
            if params.vpc_id:
                needs.append(self._vpcs_need(region))
            if params.job_name or params.image_name:
                needs.append(self._region_jobs_need(region))
        return needs

    def _context(
        self, params: MigrationParams, now: datetime, values: dict[Hashable, Any]
    ) -> ValidationContext:
        def value(key: Hashable, default: Any) -> Any:
            found = values.get(key, _ABSENT)
            return default if found is _ABSENT else found

        region = params.region_id
        server = cast(SourceServer | None, value(("source", params.source_id), None))
        jobs = cast(RegionJobs, value(("region_jobs", region), RegionJobs()))
        regions = cast(tuple[Region, ...], value(("regions",), ()))
        return ValidationContext(
            now=now,
            source=source_facts(server) if server is not None else None,
            regions=tuple(r.id for r in regions),
            unfinished_job=value(("source_jobs", params.source_id), None),
            target_instance=value(("instance", region, params.instance_id), None),
            vpcs=value(("vpcs", region), ()),
            job_names=jobs.job_names,
            image_names=jobs.image_names,
        )

    def _regions_need(self) -> _Need:
        return _Need(("regions",), lambda: tuple(self._dest().list_regions()), "regions")

    def _source_need(self, source_id: str) -> _Need:
        return _Need(("source", source_id), lambda: self._fetch_source(source_id), f"source {source_id}")

    def _source_jobs_need(self, source_id: str) -> _Need:
        return _Need(
            ("source_jobs", source_id),
            lambda: self._fetch_unfinished(source_id),
            f"migration jobs of {source_id}",
        )

    def _instance_need(self, region: str, instance_id: str) -> _Need:
        return _Need(
            ("instance", region, instance_id),
            lambda: self._fetch_instance(region, instance_id),
            f"instance {instance_id}",
        )

    def _vpcs_need(self, region: str) -> _Need:
        return _Need(("vpcs", region), lambda: self._fetch_vpcs(region), f"VPCs in {region}")

    def _region_jobs_need(self, region: str) -> _Need:
        return _Need(
            ("region_jobs", region), lambda: self._fetch_region_jobs(region), f"migration jobs in {region}"
        )

    # ---- fetches (run on daemon threads) -------------------------------------------------------

    def _dest(self) -> DestinationCloud:
        return self._cloud.destination(self._credential_ref)

    def _fetch_sources(self) -> tuple[SourceServer, ...]:
        found: list[SourceServer] = []
        for number in range(1, MAX_PAGES + 1):
            page = self._dest().list_source_servers(page_number=number)
            found.extend(page.items)
            if not page.items or not page.has_more:
                break
        return sources_in_order(found)

    def _fetch_source(self, source_id: str) -> SourceServer | None:
        return next((s for s in self._dest().describe_source_servers([source_id]) if s.id == source_id), None)

    def _fetch_unfinished(self, source_id: str) -> UnfinishedJob | None:
        for number in range(1, MAX_PAGES + 1):
            page = self._dest().list_replication_jobs(source_ids=[source_id], page_number=number)
            for job in page.items:
                if job.source_id == source_id and is_unfinished(job):
                    return UnfinishedJob(job_id=job.id, status=job.status.value)
            if not page.items or not page.has_more:
                break
        return None

    def _fetch_instances(self, region: str) -> tuple[Instance, ...]:
        found: list[Instance] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = self._dest().list_instances(region, next_token=token)
            found.extend(page.items)
            token = page.next_token
            if not token:
                break
        return tuple(sorted(found, key=lambda i: (i.name.lower(), i.id)))

    def _fetch_instance(self, region: str, instance_id: str) -> InstanceFacts | None:
        dest = self._dest()
        found = [i for i in dest.describe_instances(region, [instance_id]) if i.id == instance_id]
        if not found:
            return None
        instance = found[0]
        disks = dest.list_instance_disks(region, instance_id)
        system = next((d.size_gib for d in disks if d.type == "system"), 0)
        data = sorted(
            (d for d in disks if d.type == "data"), key=lambda d: (d.device is None, d.device or "")
        )
        vswitch = None
        if instance.vswitch_id:
            switches = dest.list_vswitches(region, vpc_id=instance.vpc_id)
            vswitch = next((vswitch_facts(v) for v in switches if v.id == instance.vswitch_id), None)
        return InstanceFacts(
            instance_id=instance.id,
            region_id=region,
            os_type=domain_os(instance.os_type),
            system_disk_gib=system,
            data_disk_gib=tuple(d.size_gib for d in data),
            vswitch=vswitch,
        )

    def _fetch_vpcs(self, region: str) -> tuple[VpcFacts, ...]:
        dest = self._dest()
        vpcs = dest.list_vpcs(region)
        switches = dest.list_vswitches(region)
        return tuple(
            VpcFacts(
                vpc_id=vpc.id,
                cidr=vpc.cidr,
                name=vpc.name,
                vswitches=tuple(
                    vswitch_facts(s)
                    for s in sorted(switches, key=lambda s: (s.zone, s.id))
                    if s.vpc_id == vpc.id
                ),
            )
            for vpc in sorted(vpcs, key=lambda v: (v.name.lower(), v.id))
        )

    def _fetch_region_jobs(self, region: str) -> RegionJobs:
        names: set[str] = set()
        images: set[str] = set()
        for number in range(1, MAX_JOB_PAGES + 1):
            page = self._dest().list_replication_jobs(region, page_number=number)
            for job in page.items:
                if job.name:
                    names.add(job.name)
                if job.image_name:
                    images.add(job.image_name)
            if not page.items or not page.has_more:
                break
        return RegionJobs(frozenset(names), frozenset(images))

    # ---- cache plumbing ------------------------------------------------------------------------

    def _peek(self, key: Hashable) -> Any:
        return self._peek_aged(key)[0]

    def _peek_aged(self, key: Hashable) -> tuple[Any, bool]:
        """The cached value (or _ABSENT past the maximum age) and whether it is within the TTL."""
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:
            return _ABSENT, False
        age = self._clock() - entry.fetched_at
        return (_ABSENT, False) if age >= self._max_age else (entry.value, age < self._ttl)

    def _lookup(self, need: _Need, deadline_s: float | None) -> Lookup[Any]:
        with self._lock:
            entry = self._cache.get(need.key)
            age = None if entry is None else self._clock() - entry.fetched_at
        if entry is not None and age is not None and age < self._max_age:
            if age >= self._ttl:
                self._start(need)
            return Lookup(LookupState.READY, entry.value)
        future = self._start(need)
        try:
            return Lookup(
                LookupState.READY, future.result(self.deadline_s if deadline_s is None else deadline_s)
            )
        except FutureTimeout:
            return Lookup(LookupState.LOADING, message=f"Loading {need.what}…")
        except CloudError as err:
            return Lookup(LookupState.FAILED, message=f"Could not load {need.what} ({err.code}).")

    def _start(self, need: _Need) -> Future[Any]:
        """Join the fetch in flight for this key, or start one on a daemon thread (it outlives a request)."""
        with self._lock:
            existing = self._in_flight.get(need.key)
            if existing is not None:
                return existing
            future: Future[Any] = Future()
            self._in_flight[need.key] = future

        def run() -> None:
            try:
                value = need.fetch()
            except CloudError as err:
                log.warning("catalog fetch failed what=%s code=%s", need.what, err.code)
                self._finish(need.key, future, error=err)
            except Exception as exc:
                log.exception("catalog fetch crashed what=%s", need.what)
                self._finish(need.key, future, error=exc)
            else:
                self._finish(need.key, future, value=value)

        threading.Thread(target=run, name="catalog-fetch", daemon=True).start()
        return future

    def _finish(
        self, key: Hashable, future: Future[Any], *, value: Any = None, error: BaseException | None = None
    ) -> None:
        with self._lock:
            if error is None:
                self._cache[key] = _Entry(value, self._clock())
            self._in_flight.pop(key, None)
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def forget(self, keys: Sequence[Hashable] = ()) -> None:
        """Drop cached entries (all when none are named), so the next lookup asks the cloud again."""
        with self._lock:
            if not keys:
                self._cache.clear()
            for key in keys:
                self._cache.pop(key, None)
