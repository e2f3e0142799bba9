"""What the bot needs from Alibaba Cloud, in our own words; the domain depends on this module only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_CREDENTIAL_REF = "default"
MASK = "**********"

# Platform limits the adapters enforce by chunking (SMC_API_NOTES "Batch limits").
MAX_JOB_IDS_PER_DESCRIBE = 50
MAX_INSTANCE_IDS_PER_DESCRIBE = 100
MAX_INSTANCES_PER_RUN_COMMAND = 100

CallObserver = Callable[[str, str, str, float], None]
"""Metrics hook: (service, action, outcome, seconds); outcome is "ok" or the CloudError code."""


class Secret:
    """A secret string (activation code, AccessKey secret, STS token) that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value, for the one place that must send it (a request parameter)."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class CloudError(Exception):
    """Every failure of a cloud call: SDK types never leave the adapter, and messages carry no secret."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        retryable: bool = False,
        http_status: int | None = None,
        service: str | None = None,
        action: str | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retryable = retryable
        self.http_status = http_status
        self.service = service
        self.action = action

    def __str__(self) -> str:
        where = f" [{self.service} {self.action}]" if self.service and self.action else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{where}{rid}"

    def __repr__(self) -> str:
        return (
            f"CloudError(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r}, "
            f"retryable={self.retryable!r}, http_status={self.http_status!r})"
        )

    @property
    def is_throttling(self) -> bool:
        return self.code.startswith("Throttling")

    @property
    def is_not_found(self) -> bool:
        return ".NotFound" in self.code or self.code.startswith(
            ("NotFound", "EntityNotExist", "InvalidJobId")
        )


class _Lenient(StrEnum):
    """A StrEnum that maps values the service may add later to UNKNOWN instead of failing a poll."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.lower():
                    return member
        return cls.__members__.get("UNKNOWN")


class OsType(_Lenient):
    LINUX = "linux"
    WINDOWS = "windows"
    UNKNOWN = "unknown"


class JobStatus(_Lenient):
    """SMC `ReplicationJob.Status` (values equal storage.enums.JobStatus)."""

    READY = "Ready"
    RUNNING = "Running"
    STOPPED = "Stopped"
    IN_ERROR = "InError"
    FINISHED = "Finished"
    WAITING = "Waiting"
    EXPIRED = "Expired"
    DELETING = "Deleting"
    UNKNOWN = "Unknown"


class BusinessStatus(_Lenient):
    PREPARING = "Preparing"
    SYNCING = "Syncing"
    PROCESSING = "Processing"
    CLEANING = "Cleaning"
    UNKNOWN = "Unknown"


class SourceServerState(_Lenient):
    UNAVAILABLE = "Unavailable"
    AVAILABLE = "Available"
    IN_USE = "InUse"
    DELETING = "Deleting"
    UNKNOWN = "Unknown"


class AccessTokenStatus(_Lenient):
    ACTIVATED = "activated"
    UNACTIVATED = "unactivated"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class InvocationStatus(_Lenient):
    """Cloud Assistant invocation status, overall and per instance."""

    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    SUCCESS = "Success"
    FAILED = "Failed"
    PARTIAL_FAILED = "PartialFailed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    INVALID = "Invalid"
    ABORTED = "Aborted"
    ERROR = "Error"
    TIMEOUT = "Timeout"
    CANCELLED = "Cancelled"
    TERMINATED = "Terminated"
    UNKNOWN = "Unknown"

    @property
    def finished(self) -> bool:
        return self not in _INVOCATION_ACTIVE


_INVOCATION_ACTIVE = frozenset(
    {
        InvocationStatus.PENDING,
        InvocationStatus.SCHEDULED,
        InvocationStatus.RUNNING,
        InvocationStatus.STOPPING,
        InvocationStatus.UNKNOWN,
    }
)


class CommandType(StrEnum):
    SHELL = "RunShellScript"
    POWERSHELL = "RunPowerShellScript"
    BAT = "RunBatScript"


class ImageOwner(StrEnum):
    SELF = "self"
    SYSTEM = "system"
    OTHERS = "others"
    MARKETPLACE = "marketplace"


# ---- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass `next_token` (ECS token paging) or `page_number + 1` to continue."""

    items: tuple[T, ...]
    next_token: str | None = None
    page_number: int | None = None
    page_size: int | None = None
    total: int | None = None

    @property
    def has_more(self) -> bool:
        if self.next_token:
            return True
        if self.total is not None and self.page_number is not None and self.page_size:
            return self.page_number * self.page_size < self.total
        return False


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, with an STS token and expiry when temporary; secrets never print."""

    access_key_id: str
    access_key_secret: Secret
    security_token: Secret | None = None
    expiration: datetime | None = None


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str
    arn: str
    identity_type: str
    principal_id: str | None = None


@dataclass(frozen=True)
class Region:
    id: str
    name: str


@dataclass(frozen=True)
class Zone:
    id: str
    name: str


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    region: str
    zone: str
    os_type: OsType
    os_name: str
    status: str
    private_ip: str | None
    vpc_id: str | None
    vswitch_id: str | None
    instance_type: str
    cpu: int | None = None
    memory_mib: int | None = None
    image_id: str | None = None
    public_ip: str | None = None


@dataclass(frozen=True)
class InstanceDisk:
    id: str
    instance_id: str | None
    type: str  # "system" | "data"
    size_gib: int
    device: str | None
    category: str | None


@dataclass(frozen=True)
class Vpc:
    id: str
    name: str
    region: str
    cidr: str
    status: str
    is_default: bool = False


@dataclass(frozen=True)
class VSwitch:
    id: str
    vpc_id: str
    zone: str
    cidr: str
    available_ips: int
    name: str = ""
    status: str = ""

    def contains(self, ip: str) -> bool:
        """True when `ip` lies inside this vSwitch's CIDR block."""
        try:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(self.cidr, strict=False)
        except ValueError:
            return False


@dataclass(frozen=True)
class SecurityGroup:
    """An ECS security group; an instance launched into a VPC needs one of that VPC's."""

    id: str
    name: str
    vpc_id: str
    description: str = ""
    type: str = "normal"


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    region: str
    status: str
    os_type: OsType
    os_name: str
    platform: str
    size_gib: int | None
    owner: str
    creation_time: datetime | None = None


@dataclass(frozen=True)
class InstanceType:
    id: str
    family: str
    cpu_cores: int | None
    memory_gib: float | None


@dataclass(frozen=True)
class CloudAssistantStatus:
    instance_id: str
    online: bool
    version: str | None = None
    os_type: OsType = OsType.UNKNOWN
    last_heartbeat: datetime | None = None


@dataclass(frozen=True)
class InstanceInvocation:
    """One instance's run of a Cloud Assistant command; `output` is decoded text, its tail only."""

    instance_id: str
    status: InvocationStatus
    exit_code: int | None = None
    error_code: str | None = None
    error_info: str | None = None
    output: str = ""
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Invocation:
    invoke_id: str
    status: InvocationStatus
    instances: tuple[InstanceInvocation, ...] = ()

    def for_instance(self, instance_id: str) -> InstanceInvocation | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)


@dataclass(frozen=True)
class AccessToken:
    id: str
    name: str
    status: AccessTokenStatus
    count: int | None  # how many sources may register with it
    registered_count: int | None
    ttl_days: int | None
    creation_time: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class NewAccessToken:
    """CreateAccessToken's answer: the code is returned once and is a secret."""

    id: str
    code: Secret


@dataclass(frozen=True)
class Partition:
    device: str
    path: str
    size_bytes: int
    can_block: bool
    need: bool = True
    used_bytes: int | None = None


@dataclass(frozen=True)
class SourceDisk:
    """Index 0 is the system disk; data disks count from 1 (SMC `DataDisk.N.Index`)."""

    index: int
    size_gib: int
    path: str = ""
    used_bytes: int | None = None  # None when the source does not report it
    partitions: tuple[Partition, ...] = ()

    @property
    def used_gib(self) -> float | None:
        return None if self.used_bytes is None else self.used_bytes / 1024**3


@dataclass(frozen=True)
class SourceServer:
    id: str
    name: str
    state: SourceServerState
    platform: str
    os_type: OsType
    architecture: str = ""
    agent_version: str = ""
    heartbeat_rate_s: int | None = None
    last_heartbeat: datetime | None = None
    job_id: str | None = None
    error_code: str | None = None
    status_info: str = ""
    description: str = ""
    creation_time: datetime | None = None
    system_disk: SourceDisk | None = None
    data_disks: tuple[SourceDisk, ...] = ()
    system_info: Mapping[str, str] = field(default_factory=dict)

    @property
    def disks(self) -> tuple[SourceDisk, ...]:
        return ((self.system_disk,) if self.system_disk else ()) + self.data_disks


@dataclass(frozen=True)
class ReplicationJobRun:
    image_id: str | None
    type: str  # "Manual" | "Schedule"
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class ReplicationJob:
    id: str
    name: str
    source_id: str
    region: str
    status: JobStatus
    business_status: BusinessStatus | None = None
    progress: float = 0.0
    error_code: str | None = None
    status_info: str = ""
    description: str = ""
    target_type: str = ""
    job_type: int | None = None
    image_id: str | None = None
    image_name: str | None = None
    instance_id: str | None = None
    transition_instance_id: str | None = None
    instance_type: str | None = None
    net_mode: int | None = None
    vpc_id: str | None = None
    vswitch_id: str | None = None
    system_disk_size: int | None = None
    license_type: str | None = None
    runs: tuple[ReplicationJobRun, ...] = ()
    creation_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    scheduled_start_time: datetime | None = None
    valid_time: datetime | None = None
    run_once: bool | None = None
    frequency: int | None = None
    max_images: int | None = None
    replication_parameters: str = ""  # SMC's JSON string, verbatim
    tags: tuple[tuple[str, str], ...] = ()


# ---- queries ------------------------------------------------------------------------------------

_INSTANCE_ID = re.compile(r"^i-[a-z0-9]{4,}$")


@dataclass(frozen=True)
class InstanceFilter:
    """What `DescribeInstances` can filter on; names accept `*` wildcards."""

    instance_ids: tuple[str, ...] = ()
    name: str | None = None
    private_ips: tuple[str, ...] = ()
    vpc_id: str | None = None
    zone_id: str | None = None
    status: str | None = None

    @classmethod
    def from_search_text(cls, text: str) -> InstanceFilter:
        """A Slack typeahead string: an instance id, a private IPv4, or part of a name."""
        text = text.strip()
        if not text:
            return cls()
        if _INSTANCE_ID.match(text):
            return cls(instance_ids=(text,))
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return cls(name=f"*{text}*")
        return cls(private_ips=(text,))


# ---- credential references ----------------------------------------------------------------------


def role_credential_ref(account_id: str, role_name: str) -> str:
    """The CredentialRef of a destination account reached by AssumeRole."""
    return f"role/{account_id}/{role_name}"


def parse_credential_ref(ref: str) -> tuple[str, str] | None:
    """(account_id, role_name) for "role/<account>/<role>", None for "default"; ValueError otherwise."""
    if ref == DEFAULT_CREDENTIAL_REF:
        return None
    parts = ref.split("/")
    if len(parts) == 3 and parts[0] == "role" and parts[1].isdigit() and parts[2]:
        return parts[1], parts[2]
    raise ValueError(
        f"not a credential reference: {ref!r} (use 'default' or 'role/<account_id>/<role_name>')"
    )


# ---- ports --------------------------------------------------------------------------------------


class Identity(Protocol):
    def get_caller_identity(self) -> CallerIdentity:
        """STS GetCallerIdentity with these credentials (`smc-bot check`)."""
        ...


class Ecs(Protocol):
    """ECS and Cloud Assistant in one account; regional calls take the region id."""

    def list_regions(self) -> list[Region]: ...

    def list_zones(self, region: str) -> list[Zone]: ...

    def list_instances(
        self,
        region: str,
        query: InstanceFilter | None = None,
        *,
        next_token: str | None = None,
        max_results: int = 100,
    ) -> Page[Instance]:
        """One page (≤ 100) of instances; at most 100 ids in the filter."""
        ...

    def describe_instances(self, region: str, instance_ids: Sequence[str]) -> list[Instance]:
        """All of the given instances that exist, in chunks of ≤ 100 ids."""
        ...

    def list_instance_disks(self, region: str, instance_id: str) -> list[InstanceDisk]: ...

    def list_vpcs(self, region: str) -> list[Vpc]: ...

    def list_vswitches(
        self, region: str, *, vpc_id: str | None = None, zone_id: str | None = None
    ) -> list[VSwitch]: ...

    def list_security_groups(self, region: str, *, vpc_id: str) -> list[SecurityGroup]:
        """Every security group of the VPC, oldest first (all pages)."""
        ...

    def list_images(
        self,
        region: str,
        *,
        owner: ImageOwner = ImageOwner.SELF,
        name: str | None = None,
        image_ids: Sequence[str] = (),
        page_number: int = 1,
        page_size: int = 50,
    ) -> Page[Image]: ...

    def list_instance_types(self, region: str, *, family: str | None = None) -> list[InstanceType]: ...

    def cloud_assistant_status(
        self, region: str, instance_ids: Sequence[str]
    ) -> list[CloudAssistantStatus]: ...

    def run_command(
        self,
        region: str,
        instance_ids: Sequence[str],
        *,
        script: str,
        command_type: CommandType,
        parameters: Mapping[str, str | Secret],
        name: str = "smc-chatops",
        timeout_s: int = 600,
        client_token: str | None = None,
    ) -> str:
        """Cloud Assistant RunCommand with `{{name}}` parameters (never inlined); returns the InvokeId."""
        ...

    def describe_invocation(self, region: str, invoke_id: str) -> Invocation:
        """Status and decoded output tail per instance; CloudError NotFound when unknown."""
        ...

    def run_instances(self, region: str, request: Mapping[str, Any]) -> list[str]:
        """ECS RunInstances with the request in API parameter names; returns the new instance ids."""
        ...

    def delete_instance(self, region: str, instance_id: str, *, force: bool = True) -> None: ...

    def delete_image(self, region: str, image_id: str, *, force: bool = False) -> None: ...


class Smc(Protocol):
    """Server Migration Center of the destination account (a central service: no region endpoint)."""

    def create_access_token(
        self, *, name: str, description: str = "", count: int = 1, ttl_days: int = 1
    ) -> NewAccessToken: ...

    def list_access_tokens(
        self,
        *,
        token_ids: Sequence[str] = (),
        name: str | None = None,
        status: AccessTokenStatus | None = None,
    ) -> list[AccessToken]: ...

    def delete_access_token(self, token_id: str) -> None: ...

    def describe_source_servers(self, source_ids: Sequence[str]) -> list[SourceServer]:
        """All of the given sources that exist, in chunks of ≤ 50."""
        ...

    def list_source_servers(
        self,
        *,
        state: SourceServerState | None = None,
        name: str | None = None,
        page_number: int = 1,
        page_size: int = 50,
    ) -> Page[SourceServer]: ...

    def create_replication_job(self, request: Mapping[str, Any]) -> str:
        """CreateReplicationJob with the request in API parameter names (ClientToken included); JobId."""
        ...

    def start_replication_job(self, job_id: str) -> None: ...

    def stop_replication_job(self, job_id: str) -> None: ...

    def delete_replication_job(self, job_id: str) -> None: ...

    def cut_over_replication_job(self, job_id: str, *, sync_data: bool = True) -> None: ...

    def modify_replication_job(self, job_id: str, attributes: Mapping[str, Any]) -> None:
        """ModifyReplicationJobAttribute with the changed fields in API parameter names."""
        ...

    def describe_replication_jobs(self, region: str, job_ids: Sequence[str]) -> list[ReplicationJob]:
        """The given jobs in batches of ≤ 50 ids; a job SMC no longer knows is simply absent."""
        ...

    def list_replication_jobs(
        self,
        region: str | None = None,
        *,
        name: str | None = None,
        status: JobStatus | None = None,
        source_ids: Sequence[str] = (),
        page_number: int = 1,
        page_size: int = 50,
    ) -> Page[ReplicationJob]: ...


class SourceCloud(Ecs, Identity, Protocol):
    """ECS of the account that owns the source servers (reached by AssumeRole, or the bot's own)."""

    @property
    def account_id(self) -> str | None:
        """The source account id, None for same-account."""
        ...


class DestinationCloud(Ecs, Smc, Identity, Protocol):
    """SMC and ECS of the account the migrated images/instances land in."""

    @property
    def credential_ref(self) -> str: ...


class CloudGateway(Protocol):
    """The facade the domain receives."""

    def destination(self, credential_ref: str = DEFAULT_CREDENTIAL_REF) -> DestinationCloud: ...

    def source(self, account_id: str | None, role_name: str | None) -> SourceCloud: ...
