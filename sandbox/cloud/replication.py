"""SMC replication jobs over simulated time: Preparing → Syncing → Processing → Cleaning, cycles, expiry."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta

from sandbox.cloud.faults import Faults
from sandbox.cloud.ids import IdFactory
from sandbox.cloud.resources import create_image, launch_instance, release_instance
from sandbox.cloud.world import (
    GIB,
    Disk,
    JobRun,
    JobStatus,
    OsInfo,
    Partition,
    PartSpec,
    Phase,
    ReplicationJob,
    SourceServer,
    SourceState,
    World,
)

# Overall Progress (0-100) each BusinessStatus covers within one cycle.
PROGRESS_RANGES: dict[Phase, tuple[float, float]] = {
    Phase.PREPARING: (0.0, 5.0),
    Phase.SYNCING: (5.0, 90.0),
    Phase.PROCESSING: (90.0, 98.0),
    Phase.CLEANING: (98.0, 100.0),
}
NEXT_PHASE = {
    Phase.PREPARING: Phase.SYNCING,
    Phase.SYNCING: Phase.PROCESSING,
    Phase.PROCESSING: Phase.CLEANING,
}
INTERMEDIATE_OS = OsInfo("linux", "SMC intermediate (Alibaba Cloud Linux 3)", "SMC intermediate", "Aliyun")
_MAX_STEPS = 100_000


def refresh_source_state(world: World, source_id: str) -> None:
    """A source is InUse while it has an unfinished job, Available otherwise (Unavailable/Deleting stay)."""
    source = world.source_servers.get(source_id)
    if source is None or source.state in (SourceState.DELETING, SourceState.UNAVAILABLE):
        return
    busy = any(job.unfinished for job in world.jobs.values() if job.source_id == source_id)
    source.state = SourceState.IN_USE if busy else SourceState.AVAILABLE


def migrated_bytes(job: ReplicationJob, source: SourceServer | None) -> int:
    """Data a full cycle moves: used space of migrated partitions (whole partition for block replication)."""
    if source is None:
        return 0
    total = _disk_bytes(source.system_disk, job.system_parts)
    for spec in job.data_disks:
        disk = next((item for item in source.data_disks if item.index == spec.index), None)
        if disk is not None:
            total += _disk_bytes(disk, spec.parts)
    return total


def _disk_bytes(disk: Disk, parts: list[PartSpec]) -> int:
    if not parts:
        return disk.used_bytes
    total = 0
    for position, partition in enumerate(disk.partitions):
        spec = next((item for item in parts if item.device == disk.device_id(position)), None)
        if spec is not None:
            total += partition.size_bytes if spec.block else partition.used_bytes
    return total


class ReplicationEngine:
    """Applies job commands and moves jobs along the simulated clock."""

    def __init__(self, world: World, ids: IdFactory, faults: Faults) -> None:
        self._world = world
        self._ids = ids
        self._faults = faults

    # -- commands (callers have checked the state rules) ---------------------------------------------
    def start(self, job: ReplicationJob, now: datetime, run_type: str = "Manual") -> None:
        """Start a Ready job, or resume a Stopped / InError one where it stopped."""
        job.scheduled_start = None if job.status == JobStatus.READY else job.scheduled_start
        if job.phase is None:
            self._begin_cycle(job, now, run_type)
            return
        job.status = JobStatus.RUNNING
        job.error_code = ""
        job.status_info = ""
        job.last_tick = now
        self._ensure_intermediate(job, now)
        refresh_source_state(self._world, job.source_id)

    def stop(self, job: ReplicationJob, now: datetime) -> None:
        """Pause a Running + Syncing job; it keeps its intermediate instance."""
        self._accrue(job, now)
        job.status = JobStatus.STOPPED
        job.last_tick = now

    def cut_over(self, job: ReplicationJob, now: datetime, sync_data: bool) -> None:
        """End an incremental job: one last sync then Finished, or straight to cleaning."""
        job.next_cycle_at = None
        if sync_data:
            self._begin_cycle(job, now, "Manual", final=True)
            return
        self._begin_cycle(job, now, "Manual", final=True)
        job.phase = Phase.CLEANING
        job.progress = PROGRESS_RANGES[Phase.CLEANING][0]

    def delete(self, job: ReplicationJob, now: datetime) -> None:
        """Mark Deleting; the job disappears after `job_deleting` seconds, its intermediate instance now."""
        self._accrue(job, now)
        job.status = JobStatus.DELETING
        job.phase = None
        job.gone_at = now + timedelta(seconds=self._world.timings.job_deleting)
        self._release_intermediate(job)
        refresh_source_state(self._world, job.source_id)

    # -- time ----------------------------------------------------------------------------------------
    def advance_all(self, now: datetime) -> None:
        """Bring every job to `now`."""
        for job in list(self._world.jobs.values()):
            self.advance(job, now)

    def advance(self, job: ReplicationJob, now: datetime) -> None:
        """Apply, in order, every event of this job up to `now`, then accrue partial progress."""
        for _ in range(_MAX_STEPS):
            if job.job_id not in self._world.jobs:
                return
            when, apply = self._next_event(job)
            if when is None or apply is None or when > now:
                self._accrue(job, now)
                return
            self._accrue(job, when)
            apply(when)
        raise RuntimeError(f"replication job {job.job_id} did not settle")

    def speed(self, job: ReplicationJob) -> float:
        """Bytes per simulated second: network speed capped by `bandwidth_limit` (KB/s, 1 KB = 1000 B)."""
        speeds = self._world.speeds
        mb_per_s = speeds.vpc_mb_per_s if job.net_mode == 2 else speeds.public_mb_per_s
        rate = mb_per_s * 1_000_000
        if job.bandwidth_limit_kbps > 0:
            rate = min(rate, job.bandwidth_limit_kbps * 1000.0)
        return max(rate, 1.0)

    def _duration(self, phase: Phase) -> float:
        timings = self._world.timings
        return {
            Phase.PREPARING: timings.job_preparing,
            Phase.PROCESSING: timings.job_processing,
            Phase.CLEANING: timings.job_cleaning,
        }.get(phase, 0.0)

    def _next_event(self, job: ReplicationJob) -> tuple[datetime | None, Callable[[datetime], None] | None]:
        candidates: list[tuple[datetime, Callable[[datetime], None]]] = []
        if job.status in (JobStatus.DELETING, JobStatus.EXPIRED) and job.gone_at is not None:
            candidates.append((job.gone_at, lambda when: self._remove(job)))
        if job.unfinished and job.status != JobStatus.EXPIRED and job.valid_time is not None:
            candidates.append((job.valid_time, lambda when: self._expire(job, when)))
        if job.status == JobStatus.READY and job.scheduled_start is not None:
            candidates.append((job.scheduled_start, lambda when: self._scheduled_start(job, when)))
        if job.status == JobStatus.WAITING and job.next_cycle_at is not None:
            candidates.append((job.next_cycle_at, lambda when: self._begin_cycle(job, when, "Schedule")))
        if job.status == JobStatus.RUNNING and job.phase is not None and job.last_tick is not None:
            candidates.append((self._phase_end(job), lambda when: self._finish_phase(job, when)))
            failure_at = self._failure_time(job)
            if failure_at is not None:
                candidates.append((failure_at, lambda when: self._fail(job, when)))
        if not candidates:
            return None, None
        return min(candidates, key=lambda item: item[0])

    def _phase_end(self, job: ReplicationJob) -> datetime:
        assert job.phase is not None and job.last_tick is not None
        if job.phase == Phase.SYNCING:
            remaining = max(job.cycle_bytes - job.bytes_done, 0.0) / self.speed(job)
        else:
            remaining = max(self._duration(job.phase) - job.phase_elapsed, 0.0)
        return job.last_tick + timedelta(seconds=remaining)

    def _failure_time(self, job: ReplicationJob) -> datetime | None:
        assert job.phase is not None and job.last_tick is not None
        failure = self._faults.job_failure_for(job.job_id, job.source_id, job.name)
        if failure is None:
            return None
        low, high = PROGRESS_RANGES[job.phase]
        target = failure.at_progress
        if target >= high:
            return None
        if target <= job.progress:
            return job.last_tick
        fraction = (target - low) / (high - low)
        if job.phase == Phase.SYNCING:
            needed = fraction * job.cycle_bytes - job.bytes_done
            seconds = max(needed, 0.0) / self.speed(job)
        else:
            seconds = max(fraction * self._duration(job.phase) - job.phase_elapsed, 0.0)
        return job.last_tick + timedelta(seconds=seconds)

    def _accrue(self, job: ReplicationJob, when: datetime) -> None:
        if job.status != JobStatus.RUNNING or job.phase is None or job.last_tick is None:
            if job.last_tick is None or when > job.last_tick:
                job.last_tick = when
            return
        elapsed = (when - job.last_tick).total_seconds()
        if elapsed <= 0:
            return
        if job.phase == Phase.SYNCING:
            job.bytes_done = min(float(job.cycle_bytes), job.bytes_done + elapsed * self.speed(job))
        else:
            job.phase_elapsed = min(self._duration(job.phase), job.phase_elapsed + elapsed)
        job.last_tick = when
        self._update_progress(job)

    def _update_progress(self, job: ReplicationJob) -> None:
        if job.phase is None:
            return
        low, high = PROGRESS_RANGES[job.phase]
        if job.phase == Phase.SYNCING:
            fraction = job.bytes_done / job.cycle_bytes if job.cycle_bytes else 1.0
        else:
            duration = self._duration(job.phase)
            fraction = job.phase_elapsed / duration if duration else 1.0
        job.progress = round(low + (high - low) * min(fraction, 1.0), 2)

    # -- transitions ---------------------------------------------------------------------------------
    def _scheduled_start(self, job: ReplicationJob, when: datetime) -> None:
        account = self._world.accounts[job.account_uid]
        running = sum(
            1 for item in self._world.account_jobs(job.account_uid) if item.status == JobStatus.RUNNING
        )
        job.scheduled_start = None
        if running >= account.quotas.max_running_jobs:
            job.status = JobStatus.IN_ERROR
            job.error_code = "QuotaExceeded.ReplicationJob"
            job.status_info = "The maximum number of running replication jobs is exceeded."
            return
        self._begin_cycle(job, when, "Schedule")

    def _begin_cycle(
        self, job: ReplicationJob, when: datetime, run_type: str, *, final: bool = False
    ) -> None:
        job.status = JobStatus.RUNNING
        job.phase = Phase.PREPARING
        job.phase_elapsed = 0.0
        job.bytes_done = 0.0
        job.cycle_bytes = 0
        job.cycle_start = when
        job.cycle_type = run_type
        job.cycle_synced = False
        job.final_cycle = final
        job.next_cycle_at = None
        job.last_tick = when
        job.progress = 0.0
        job.error_code = ""
        job.status_info = ""
        if job.start_time is None:
            job.start_time = when
        self._ensure_intermediate(job, when)
        refresh_source_state(self._world, job.source_id)

    def _finish_phase(self, job: ReplicationJob, when: datetime) -> None:
        assert job.phase is not None
        if job.phase == Phase.PROCESSING:
            self._deliver(job, when)
        if job.phase == Phase.CLEANING:
            self._end_cycle(job, when)
            return
        job.phase = NEXT_PHASE[job.phase]
        job.phase_elapsed = 0.0
        job.last_tick = when
        if job.phase == Phase.SYNCING:
            source = self._world.source_servers.get(job.source_id)
            full = migrated_bytes(job, source)
            first = not job.runs
            ratio = self._world.timings.incremental_change_ratio
            job.cycle_bytes = full if first else max(int(full * ratio), 1)
            job.bytes_done = 0.0
        self._update_progress(job)

    def _end_cycle(self, job: ReplicationJob, when: datetime) -> None:
        if job.cycle_synced and job.cycle_start is not None:
            job.runs.append(JobRun(job.cycle_start, when, job.cycle_type, job.image_id))
        job.phase = None
        job.progress = 100.0
        job.last_tick = when
        if job.run_once or job.final_cycle:
            job.status = JobStatus.FINISHED
            job.end_time = when
            self._release_intermediate(job)
        else:
            job.status = JobStatus.WAITING
            job.next_cycle_at = when + timedelta(hours=job.frequency or 1)
        refresh_source_state(self._world, job.source_id)

    def _deliver(self, job: ReplicationJob, when: datetime) -> None:
        """End of Processing: the image exists (image target) or the target instance is overwritten."""
        job.cycle_synced = True
        source = self._world.source_servers.get(job.source_id)
        if source is None:
            return
        system_disk, data_disks = self._target_disks(job, source)
        if job.target_type == "TargetInstance":
            target = self._world.instances.get(job.instance_id)
            if target is not None:
                # The target keeps its own cloud disks (ids, sizes); their contents become the source's.
                target.os = copy.deepcopy(source.os)
                if target.disks:
                    system_disk.disk_id = target.disks[0].disk_id
                    system_disk.size_gib = max(target.disks[0].size_gib, system_disk.size_gib)
                    system_disk.category = target.disks[0].category
                kept_data = {disk.index: disk for disk in target.disks[1:]}
                for disk in data_disks:
                    existing = kept_data.get(disk.index)
                    if existing is not None:
                        disk.disk_id = existing.disk_id
                        disk.size_gib = max(existing.size_gib, disk.size_gib)
                        disk.category = existing.category
                    else:
                        disk.disk_id = self._ids.new("d", job.region_id)
                    kept_data[disk.index] = disk
                target.disks = [system_disk, *sorted(kept_data.values(), key=lambda item: item.index)]
            return
        if job.target_type != "Image":
            return
        name = job.image_name if job.run_once else f"{job.image_name}_{when:%Y%m%d%H%M%S}"
        image = create_image(
            self._world,
            self._ids,
            account_uid=job.account_uid,
            region_id=job.region_id,
            name=name,
            os=copy.deepcopy(source.os),
            system_disk=system_disk,
            data_disks=data_disks,
            now=when,
            job_id=job.job_id,
            description=f"Created by SMC replication job {job.job_id}",
        )
        job.image_id = image.image_id
        job.kept_image_ids.append(image.image_id)
        keep = job.max_images if not job.run_once and job.max_images else None
        while keep is not None and len(job.kept_image_ids) > keep:
            oldest = job.kept_image_ids.pop(0)
            self._world.images.pop((job.region_id, oldest), None)

    def _target_disks(self, job: ReplicationJob, source: SourceServer) -> tuple[Disk, list[Disk]]:
        system = copy.deepcopy(source.system_disk)
        system.disk_id = ""
        system.size_gib = job.system_disk_size or system.size_gib
        _apply_part_sizes(system, job.system_parts)
        data: list[Disk] = []
        for spec in job.data_disks:
            original = next((disk for disk in source.data_disks if disk.index == spec.index), None)
            if original is None:
                continue
            disk = copy.deepcopy(original)
            disk.disk_id = ""
            disk.size_gib = spec.size_gib
            _apply_part_sizes(disk, spec.parts)
            data.append(disk)
        return system, data

    def _fail(self, job: ReplicationJob, when: datetime) -> None:
        failure = self._faults.job_failure_for(job.job_id, job.source_id, job.name)
        if failure is None:
            return
        self._faults.consume_job_failure(failure)
        job.status = JobStatus.IN_ERROR
        job.error_code = failure.code
        job.status_info = failure.message
        job.last_tick = when

    def _expire(self, job: ReplicationJob, when: datetime) -> None:
        job.status = JobStatus.EXPIRED
        job.phase = None
        job.expired_at = when
        job.next_cycle_at = None
        job.gone_at = when + timedelta(seconds=self._world.timings.expired_job_retention)
        self._release_intermediate(job)

    def _remove(self, job: ReplicationJob) -> None:
        self._release_intermediate(job)
        self._world.jobs.pop(job.job_id, None)
        refresh_source_state(self._world, job.source_id)

    # -- intermediate instance -----------------------------------------------------------------------
    def _ensure_intermediate(self, job: ReplicationJob, when: datetime) -> None:
        if job.target_type != "Image":
            return
        if job.transition_instance_id and job.transition_instance_id in self._world.instances:
            return
        region = self._world.regions[job.region_id]
        vswitch = self._world.vswitches.get(job.vswitch_id) if job.net_mode == 2 else None
        zone_id = vswitch.zone_id if vswitch is not None else region.zones[0].zone_id
        instance_type = job.instance_type or next(iter(self._world.instance_types), "ecs.g6.large")
        disk = Disk("", 0, 40, [Partition("/", 40 * GIB, 3 * GIB)])
        try:
            instance = launch_instance(
                self._world,
                self._ids,
                account_uid=job.account_uid,
                region_id=job.region_id,
                zone_id=zone_id,
                name=f"INSTANCE_FOR_SMC_{job.job_id}",
                instance_type=instance_type,
                os=INTERMEDIATE_OS,
                image_id="",
                disks=[disk],
                vswitch_id=vswitch.vswitch_id if vswitch is not None else "",
                now=when,
                purpose="smc-intermediate",
                description="Intermediate instance created by SMC. Released when the job ends.",
            )
        except ValueError:
            return
        job.transition_instance_id = instance.instance_id

    def _release_intermediate(self, job: ReplicationJob) -> None:
        if job.transition_instance_id:
            release_instance(self._world, job.transition_instance_id)


def _apply_part_sizes(disk: Disk, specs: list[PartSpec]) -> None:
    for spec in specs:
        if spec.size_bytes is None:
            continue
        for position, partition in enumerate(disk.partitions):
            if disk.device_id(position) == spec.device:
                partition.size_bytes = spec.size_bytes
