"""The simulated cloud's state: accounts, network, instances, images, SMC resources and STS sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network

from sandbox.cloud.faults import FaultConfig

GIB = 1024**3


class JobStatus(StrEnum):
    """SMC replication job `Status`."""

    READY = "Ready"
    RUNNING = "Running"
    STOPPED = "Stopped"
    IN_ERROR = "InError"
    FINISHED = "Finished"
    WAITING = "Waiting"
    EXPIRED = "Expired"
    DELETING = "Deleting"


UNFINISHED_JOB_STATUSES = frozenset(
    {
        JobStatus.READY,
        JobStatus.RUNNING,
        JobStatus.STOPPED,
        JobStatus.WAITING,
        JobStatus.IN_ERROR,
        JobStatus.EXPIRED,
    }
)


class Phase(StrEnum):
    """SMC replication job `BusinessStatus` while a cycle runs."""

    PREPARING = "Preparing"
    SYNCING = "Syncing"
    PROCESSING = "Processing"
    CLEANING = "Cleaning"


class SourceState(StrEnum):
    """SMC source server `State`."""

    UNAVAILABLE = "Unavailable"
    AVAILABLE = "Available"
    IN_USE = "InUse"
    DELETING = "Deleting"


@dataclass(slots=True)
class Timings:
    """How long simulated things take, in simulator seconds."""

    job_preparing: float = 180.0
    job_processing: float = 300.0
    job_cleaning: float = 120.0
    job_deleting: float = 60.0
    expired_job_retention: float = 7 * 86400.0
    incremental_change_ratio: float = 0.05
    invocation_pending: float = 5.0
    invocation_running: float = 60.0
    source_register_delay: float = 30.0
    source_deleting: float = 30.0
    instance_boot: float = 60.0
    assistant_boot: float = 90.0


@dataclass(slots=True)
class Speeds:
    """Replication throughput by network mode in MB/s (1 MB = 10^6 bytes), before any speed limit."""

    public_mb_per_s: float = 30.0
    vpc_mb_per_s: float = 120.0


@dataclass(slots=True)
class Quotas:
    """SMC per-account limits."""

    max_jobs: int = 1000
    max_running_jobs: int = 50


@dataclass(slots=True)
class AccessKey:
    """A permanent AccessKey pair of an account."""

    key_id: str
    secret: str


@dataclass(slots=True)
class Role:
    """A RAM role and the accounts its trust policy lets assume it."""

    account_uid: str
    name: str
    role_id: str
    trusted_accounts: list[str]
    max_session_duration: int = 3600
    external_id: str | None = None
    description: str = ""

    @property
    def arn(self) -> str:
        """`acs:ram::<uid>:role/<name>` (Alibaba lower-cases role names in ARNs)."""
        return f"acs:ram::{self.account_uid}:role/{self.name.lower()}"


@dataclass(slots=True)
class Account:
    """An Alibaba Cloud account (uid) with its AccessKeys, RAM roles and SMC settings."""

    uid: str
    name: str
    access_keys: list[AccessKey]
    roles: dict[str, Role] = field(default_factory=dict)
    smc_service_role: bool = True
    quotas: Quotas = field(default_factory=Quotas)

    def role(self, name: str) -> Role | None:
        """Role by name, case-insensitively as RAM matches them."""
        return self.roles.get(name.lower())


@dataclass(slots=True)
class Zone:
    """An availability zone."""

    zone_id: str
    local_name: str


@dataclass(slots=True)
class Region:
    """A region with its zones."""

    region_id: str
    local_name: str
    zones: list[Zone]

    @property
    def endpoint(self) -> str:
        """The ECS endpoint the real service would use for this region."""
        return f"ecs.{self.region_id}.aliyuncs.com"


@dataclass(slots=True)
class InstanceType:
    """An ECS instance type."""

    type_id: str
    family: str
    cpu: int
    memory_gib: float
    category: str = "General-purpose"
    generation: str = "ecs-6"


@dataclass(slots=True)
class OsInfo:
    """Operating system facts as ECS and SMC report them."""

    os_type: str  # "linux" | "windows"
    name: str
    name_en: str
    platform: str
    architecture: str = "x86_64"

    @property
    def is_windows(self) -> bool:
        """Windows Server rather than Linux."""
        return self.os_type == "windows"


@dataclass(slots=True)
class Partition:
    """A partition (or LVM logical volume) with its mount path, size and used space."""

    path: str
    size_bytes: int
    used_bytes: int
    can_block: bool = True
    need: bool = False


@dataclass(slots=True)
class Disk:
    """A cloud disk; index 0 is the system disk, data disks count from 1."""

    disk_id: str
    index: int
    size_gib: int
    partitions: list[Partition]
    category: str = "cloud_essd"
    lvm: bool = False
    name: str = ""

    @property
    def is_system(self) -> bool:
        """The system disk."""
        return self.index == 0

    @property
    def used_bytes(self) -> int:
        """Sum of used space over partitions."""
        return sum(part.used_bytes for part in self.partitions)

    @property
    def device(self) -> str:
        """Device name in the instance (`/dev/xvda`, `/dev/xvdb`, …)."""
        return f"/dev/xvd{chr(ord('a') + self.index)}"

    def device_id(self, part_index: int) -> str:
        """SMC partition device id: `<disk index>_<partition index>`."""
        return f"{self.index}_{part_index}"


@dataclass(slots=True)
class Instance:
    """An ECS instance."""

    instance_id: str
    account_uid: str
    region_id: str
    zone_id: str
    name: str
    instance_type: str
    os: OsInfo
    image_id: str
    disks: list[Disk]
    vpc_id: str
    vswitch_id: str
    private_ip: str
    created: datetime
    security_group_ids: list[str] = field(default_factory=list)
    hostname: str = ""
    description: str = ""
    status: str = "Running"
    cloud_assistant: bool = True
    cloud_assistant_version: str = "2.2.3.857"
    running_at: datetime | None = None
    assistant_ready_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    purpose: str = ""
    invocation_count: int = 0
    last_invoked: datetime | None = None


@dataclass(slots=True)
class Vpc:
    """A VPC."""

    vpc_id: str
    account_uid: str
    region_id: str
    name: str
    cidr: str
    created: datetime
    description: str = ""
    is_default: bool = False
    vrouter_id: str = ""


@dataclass(slots=True)
class VSwitch:
    """A vSwitch: a CIDR in one zone of a VPC, with addresses handed out to instances."""

    vswitch_id: str
    vpc_id: str
    account_uid: str
    region_id: str
    zone_id: str
    name: str
    cidr: str
    created: datetime
    description: str = ""
    is_default: bool = False
    reserved_count: int = 0
    allocated: set[str] = field(default_factory=set)

    @property
    def network(self) -> IPv4Network:
        """The CIDR as a network."""
        return IPv4Network(self.cidr)

    @property
    def available_ip_count(self) -> int:
        """Free addresses: usable addresses (Alibaba reserves 4) minus allocated and reserved ones."""
        usable = max(self.network.num_addresses - 4, 0)
        return max(usable - len(self.allocated) - self.reserved_count, 0)

    def allocate(self, wanted: str | None = None) -> str:
        """Take `wanted` or the next free address (first usable host is .1; Alibaba keeps the top 3)."""
        network = self.network
        if wanted is not None:
            if IPv4Address(wanted) not in network:
                raise ValueError(f"{wanted} is not in {self.cidr}")
            self.allocated.add(wanted)
            return wanted
        hosts = list(network.hosts())[:-3] if network.num_addresses > 8 else list(network.hosts())
        for host in hosts:
            text = str(host)
            if text not in self.allocated:
                self.allocated.add(text)
                return text
        raise ValueError(f"no free address in {self.cidr}")


@dataclass(slots=True)
class SecurityGroup:
    """A security group of a VPC."""

    group_id: str
    account_uid: str
    region_id: str
    vpc_id: str
    name: str
    created: datetime
    description: str = ""


@dataclass(slots=True)
class Image:
    """An ECS image: public (system, account None) or an account's own (SMC results land here)."""

    image_id: str
    region_id: str
    name: str
    os: OsInfo
    size_gib: int
    created: datetime
    account_uid: str | None = None
    owner_alias: str = "system"
    status: str = "Available"
    description: str = ""
    system_disk: Disk | None = None
    data_disks: list[Disk] = field(default_factory=list)
    source_job_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Public image ids repeat across regions, so images are keyed by (region, id)."""
        return (self.region_id, self.image_id)


@dataclass(slots=True)
class AccessToken:
    """An SMC activation code (access token)."""

    token_id: str
    account_uid: str
    code: str
    count: int
    ttl_days: int
    created: datetime
    name: str = ""
    description: str = ""
    registered_count: int = 0
    disabled: bool = False

    def expires(self) -> datetime:
        """When it stops registering sources."""
        return self.created + timedelta(days=self.ttl_days)


@dataclass(slots=True)
class SourceServer:
    """An SMC source server registered in an account."""

    source_id: str
    account_uid: str
    name: str
    os: OsInfo
    system_disk: Disk
    data_disks: list[Disk]
    created: datetime
    state: SourceState = SourceState.AVAILABLE
    description: str = ""
    hostname: str = ""
    private_ip: str = ""
    cores: int = 2
    memory_gib: float = 8.0
    agent_version: str = "2.8.3"
    heartbeat_rate: int = 30
    error_code: str = ""
    status_info: str = ""
    instance_account_uid: str = ""
    instance_id: str = ""
    last_job_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    gone_at: datetime | None = None
    reports_used_space: bool = True
    """False: `SystemInfo` carries no `disk_used_bytes`, like a real source (the API has no such field)."""


@dataclass(slots=True)
class PartSpec:
    """A partition a job migrates: source device id, target size and block replication flag."""

    device: str
    size_bytes: int | None = None
    block: bool = False
    path: str = ""


@dataclass(slots=True)
class DataDiskSpec:
    """A data disk a job migrates (source disk `index`), with its target size."""

    index: int
    size_gib: int
    parts: list[PartSpec] = field(default_factory=list)
    lvm: bool | None = None
    disk_id: str = ""


@dataclass(slots=True)
class JobRun:
    """One completed replication cycle (`ReplicationJobRuns`)."""

    start: datetime
    end: datetime
    run_type: str
    image_id: str = ""


@dataclass(slots=True)
class ReplicationJob:
    """An SMC replication job and its simulation state."""

    job_id: str
    account_uid: str
    region_id: str
    source_id: str
    created: datetime
    name: str = ""
    description: str = ""
    target_type: str = "Image"
    image_name: str = ""
    instance_id: str = ""
    system_disk_size: int | None = None
    system_parts: list[PartSpec] = field(default_factory=list)
    data_disks: list[DataDiskSpec] = field(default_factory=list)
    disks_request: dict[str, object] | None = None
    system_lvm: bool | None = None
    net_mode: int = 0
    vpc_id: str = ""
    vswitch_id: str = ""
    replication_parameters: str = ""
    bandwidth_limit_kbps: int = 0
    compress_level: int = 7
    checksum: bool = False
    run_once: bool = True
    frequency: int | None = None
    max_images: int | None = None
    instance_type: str = ""
    launch_template_id: str = ""
    launch_template_version: str = ""
    instance_ram_role: str = ""
    container_namespace: str = ""
    container_repository: str = ""
    container_tag: str = ""
    license_type: str = ""
    job_type: int = 0
    resource_group_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    client_token: str = ""
    scheduled_start: datetime | None = None
    valid_time: datetime | None = None
    status: JobStatus = JobStatus.READY
    phase: Phase | None = None
    progress: float = 0.0
    error_code: str = ""
    status_info: str = ""
    image_id: str = ""
    transition_instance_id: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    runs: list[JobRun] = field(default_factory=list)
    # simulation state
    last_tick: datetime | None = None
    phase_elapsed: float = 0.0
    cycle_bytes: int = 0
    bytes_done: float = 0.0
    cycle_start: datetime | None = None
    cycle_type: str = "Manual"
    final_cycle: bool = False
    cycle_synced: bool = False
    next_cycle_at: datetime | None = None
    expired_at: datetime | None = None
    gone_at: datetime | None = None
    kept_image_ids: list[str] = field(default_factory=list)

    @property
    def unfinished(self) -> bool:
        """Blocks a new job for its source: Ready, Running, Stopped, Waiting, InError or Expired."""
        return self.status in UNFINISHED_JOB_STATUSES

    @property
    def has_run(self) -> bool:
        """Whether the job has ever started (most attributes are frozen from then on)."""
        return self.start_time is not None


@dataclass(slots=True)
class InvokeInstance:
    """One instance's part of a Cloud Assistant invocation."""

    instance_id: str
    created: datetime
    start_at: datetime
    finish_at: datetime
    exit_code: int = 0
    output: str = ""
    error_code: str = ""
    error_info: str = ""
    final_status: str = "Success"  # Success | Failed | Aborted
    registers_source: bool = False
    register_at: datetime | None = None
    registered: bool = False


@dataclass(slots=True)
class Invocation:
    """A Cloud Assistant `RunCommand` invocation."""

    invoke_id: str
    command_id: str
    account_uid: str
    region_id: str
    command_type: str
    content: str
    parameters: dict[str, str]
    created: datetime
    instances: list[InvokeInstance]
    name: str = ""
    description: str = ""
    timeout: int = 60
    username: str = ""
    working_dir: str = ""
    token_id: str = ""


@dataclass(slots=True)
class StsSession:
    """Temporary credentials issued by AssumeRole."""

    access_key_id: str
    secret: str
    token: str
    account_uid: str
    role_name: str
    role_id: str
    session_name: str
    caller_uid: str
    expiration: datetime
    real_clock: bool = False

    @property
    def arn(self) -> str:
        """`acs:ram::<uid>:assumed-role/<role>/<session>`."""
        return f"acs:ram::{self.account_uid}:assumed-role/{self.role_name.lower()}/{self.session_name}"


@dataclass(slots=True)
class World:
    """Everything the simulator knows; handlers mutate it under the simulator lock."""

    seed: str
    regions: dict[str, Region]
    instance_types: dict[str, InstanceType]
    accounts: dict[str, Account]
    timings: Timings = field(default_factory=Timings)
    speeds: Speeds = field(default_factory=Speeds)
    clock_start: datetime | None = None
    sts_real_clock: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)
    instances: dict[str, Instance] = field(default_factory=dict)
    vpcs: dict[str, Vpc] = field(default_factory=dict)
    vswitches: dict[str, VSwitch] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    images: dict[tuple[str, str], Image] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    source_servers: dict[str, SourceServer] = field(default_factory=dict)
    jobs: dict[str, ReplicationJob] = field(default_factory=dict)
    invocations: dict[str, Invocation] = field(default_factory=dict)
    sts_sessions: dict[str, StsSession] = field(default_factory=dict)
    client_tokens: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def find_access_key(self, key_id: str) -> tuple[Account, AccessKey] | None:
        """The account owning a permanent AccessKey id."""
        for account in self.accounts.values():
            for key in account.access_keys:
                if key.key_id == key_id:
                    return account, key
        return None

    def account_instances(self, account_uid: str, region_id: str) -> list[Instance]:
        """An account's instances in a region."""
        return [
            item
            for item in self.instances.values()
            if item.account_uid == account_uid and item.region_id == region_id
        ]

    def account_jobs(self, account_uid: str) -> list[ReplicationJob]:
        """An account's replication jobs (all regions)."""
        return [job for job in self.jobs.values() if job.account_uid == account_uid]
