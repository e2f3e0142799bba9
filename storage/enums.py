"""Persisted enumerations. They live in storage so tables can use them; the domain imports them from here."""

from enum import StrEnum


class TargetType(StrEnum):
    """What a migration delivers; the values are SMC's `TargetType`."""

    IMAGE = "Image"
    TARGET_INSTANCE = "TargetInstance"


class ExecutionMethod(StrEnum):
    """The console's execution methods (with a migration test: the first two; without: the rest)."""

    TEST_ONLY = "test_only"
    TEST_AND_MIGRATE = "test_and_migrate"
    MIGRATE_NOW = "migrate_now"
    MIGRATE_LATER = "migrate_later"
    CREATE_ONLY = "create_only"


class RequestState(StrEnum):
    """Lifecycle of a migration request; the SMC job's own status is tracked on the job row."""

    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DRILLING = "drilling"
    TESTED = "tested"
    DRILL_BLOCKED = "drill_blocked"
    EXECUTING = "executing"
    JOB_CREATED = "job_created"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    JOB_DELETED = "job_deleted"


class ApprovalAction(StrEnum):
    """What an approval round lets happen once quorum is reached."""

    EXECUTE = "execute"
    MIGRATE = "migrate"
    MIGRATE_ANYWAY = "migrate_anyway"
    START = "start"
    VERIFY = "verify"


class VoteDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class JobStatus(StrEnum):
    """SMC `ReplicationJob.Status`, plus `Deleted` for a job SMC no longer returns."""

    READY = "Ready"
    RUNNING = "Running"
    STOPPED = "Stopped"
    IN_ERROR = "InError"
    FINISHED = "Finished"
    WAITING = "Waiting"
    EXPIRED = "Expired"
    DELETING = "Deleting"
    DELETED = "Deleted"


class BusinessStatus(StrEnum):
    """SMC `ReplicationJob.BusinessStatus` while a job runs."""

    PREPARING = "Preparing"
    SYNCING = "Syncing"
    PROCESSING = "Processing"
    CLEANING = "Cleaning"


class ImportBatchState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


class ImportItemState(StrEnum):
    PENDING = "pending"
    AGENT_OFFLINE = "agent_offline"
    INSTALLING = "installing"
    WAITING_ONLINE = "waiting_online"
    ONLINE = "online"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class OutboxKind(StrEnum):
    """Slack deliveries, and work intents that a worker executes (e.g. create the SMC job)."""

    SLACK_POST = "slack_post"
    SLACK_UPDATE = "slack_update"
    SLACK_EPHEMERAL = "slack_ephemeral"
    SLACK_FILE = "slack_file"
    WORK = "work"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class AuditOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    ERROR = "error"
