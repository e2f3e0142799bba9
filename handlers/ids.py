"""Every id of the Slack surface, as enums shared by rendering, registration, the manifest test and tests."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from bot.domain.workflow import UserAction

SLASH_COMMAND = "/smc"


class Subcommand(StrEnum):
    """`/smc <subcommand>`; PRODUCT §2."""

    HELP = "help"
    IMPORT = "import"
    MIGRATE = "migrate"
    LIST = "list"
    STATUS = "status"
    APPROVALS = "approvals"
    CONFIG = "config"
    TEMPLATE = "template"
    AUDIT = "audit"


class CallbackId(StrEnum):
    """Modal callback ids."""

    IMPORT = "import_sources"
    MIGRATE = "migrate"
    """The Start migration wizard; `private_metadata` says which step is shown."""
    MIGRATE_WAIT = "migrate_wait"
    """Loading and checking views of the wizard (nothing to submit)."""
    MIGRATE_DONE = "migrate_done"
    REJECT_REASON = "approval_reject_reason"
    """The optional reason of a Reject; `private_metadata` is the round reference."""
    APPROVAL_REQUEST = "approval_request"
    """The exact CreateReplicationJob request behind an approval card (read-only)."""
    CHANNEL_CONFIG = "channel_config"
    """`/smc config`; `private_metadata` is the channel id."""
    MODIFY_JOB = "job_modify_view"
    """The Modify modal of a job; `private_metadata` is `<request id>:<channel id>`."""


class ActionId(StrEnum):
    """Button and select action ids (anchored when registered: Bolt searches regexes)."""

    IMPORT_SOURCE_TYPE = "import_source_type"
    IMPORT_SCOPE = "import_scope"
    IMPORT_ACCOUNT = "import_account"
    IMPORT_ROLE = "import_role"
    IMPORT_REGION = "import_region"
    IMPORT_INSTANCES = "import_instances"
    IMPORT_RETRY = "import_retry"
    """Retry import on an import thread's messages; the value is the batch id."""
    MIGRATE_FIELD = "migrate_field"
    """Every input of the migration wizard; the block id names the parameter field."""
    MIGRATE_BACK = "migrate_back"
    REQUEST_EDIT = "request_edit"
    REQUEST_WITHDRAW = "request_withdraw"
    REQUEST_RETRY_EXECUTION = "request_retry_execution"
    REQUEST_MIGRATE = "request_migrate"
    REQUEST_MIGRATE_ANYWAY = "request_migrate_anyway"
    REQUEST_VERIFY = "request_verify"
    JOB_START = "job_start"
    JOB_PAUSE = "job_pause"
    JOB_RESUME = "job_resume"
    JOB_RETRY = "job_retry"
    JOB_MODIFY = "job_modify"
    JOB_CUT_OVER = "job_cut_over"
    JOB_CANCEL = "job_cancel"
    APPROVE = "approve"
    REJECT = "reject"
    SHOW_REQUEST = "approval_show_request"
    MODIFY_FIELD = "job_modify_field"
    """Every input of the Modify modal; the block id names the field."""
    HOME_OPEN_THREAD = "home_open_thread"
    """The App Home's link buttons to a request's thread (Slack still sends the click: it is acked)."""


class BlockId(StrEnum):
    """Block ids that are not migration-parameter fields."""

    IMPORT_SOURCE_TYPE = "import_source_type"
    IMPORT_SCOPE = "import_scope"
    IMPORT_ACCOUNT = "import_account"
    IMPORT_ROLE = "import_role"
    IMPORT_ACCESS = "import_access"
    IMPORT_REGION = "import_region"
    IMPORT_INSTANCES = "import_instances"
    IMPORT_ACTIONS = "import_actions"
    MIGRATE_PARTITION_LAYOUT = "migrate_partition_layout"
    MIGRATE_NAV = "migrate_nav"
    SUMMARY_ACTIONS = "summary_actions"
    APPROVAL_ACTIONS = "approval_actions"
    REJECT_REASON = "reject_reason"
    CFG_APPROVER_GROUPS = "cfg_approver_groups"
    CFG_APPROVER_USERS = "cfg_approver_users"
    CFG_ADMIN_USERS = "cfg_admin_users"
    CFG_QUORUM = "cfg_quorum"
    CFG_SELF_APPROVAL = "cfg_self_approval"
    CFG_EXPIRY_HOURS = "cfg_expiry_hours"
    CFG_APPROVAL_METHODS = "cfg_approval_methods"
    CFG_DEFAULT_REGION = "cfg_default_region"
    CFG_DEFAULT_SOURCE_ACCOUNT = "cfg_default_source_account"
    CFG_DEFAULT_ROLE = "cfg_default_role"
    CFG_DEFAULT_NETWORK = "cfg_default_network"
    CFG_POLL_SECONDS = "cfg_poll_seconds"
    MODIFY_NAME = "job_modify_name"
    MODIFY_DESCRIPTION = "job_modify_description"
    MODIFY_SPEED_LIMIT = "job_modify_speed_limit"
    MODIFY_COMPRESSION = "job_modify_compression"
    MODIFY_CHECKSUM = "job_modify_checksum"
    MODIFY_FREQUENCY = "job_modify_frequency"
    MODIFY_MAX_IMAGES = "job_modify_max_images"
    MODIFY_LOCKED = "job_modify_locked"


BOT_SCOPES: frozenset[str] = frozenset(
    {
        "commands",
        "chat:write",
        "chat:write.public",
        "usergroups:read",
        "users:read",
        "files:write",
        "channels:history",
        "groups:history",
        "channels:join",
    }
)
"""The bot token scopes `manifest.yml` asks for (a test keeps them equal); `smc-bot check` compares."""

SUMMARY_ACTION_IDS: Mapping[UserAction, ActionId] = MappingProxyType(
    {
        UserAction.EDIT: ActionId.REQUEST_EDIT,
        UserAction.WITHDRAW: ActionId.REQUEST_WITHDRAW,
        UserAction.RETRY_EXECUTION: ActionId.REQUEST_RETRY_EXECUTION,
        UserAction.MIGRATE: ActionId.REQUEST_MIGRATE,
        UserAction.MIGRATE_ANYWAY: ActionId.REQUEST_MIGRATE_ANYWAY,
        UserAction.VERIFY: ActionId.REQUEST_VERIFY,
        UserAction.START: ActionId.JOB_START,
        UserAction.PAUSE: ActionId.JOB_PAUSE,
        UserAction.RESUME: ActionId.JOB_RESUME,
        UserAction.RETRY: ActionId.JOB_RETRY,
        UserAction.MODIFY: ActionId.JOB_MODIFY,
        UserAction.CUT_OVER: ActionId.JOB_CUT_OVER,
        UserAction.CANCEL_JOB: ActionId.JOB_CANCEL,
    }
)
"""The summary message's buttons (`workflow.summary_actions`); each button's value is the request id."""
