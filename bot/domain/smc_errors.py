"""Alibaba Cloud error codes the bot meets -> what they mean, what to do, and whether a retry can help.

Where the codes come from (nothing here is invented; `verified=False` marks what could not be checked):
- SMC, STS and ECS API codes: the `errorCodes` of every operation in the API metadata
  (`reference/alibaba-api/smc-2019-06-01.json`, `sts-2015-04-01.json`, `ecs-2014-05-26.subset.json`).
- Gateway codes every Alibaba Cloud API shares (throttling, signatures, STS tokens): Alibaba's public error
  centre, https://error-center.alibabacloud.com/status/product/Public (as listed by
  aliyun/terraform-provider-alicloud), and `Throttling.Resource` from the ECS metadata.
- Cloud Assistant invocation codes: `ErrorCode` of `DescribeInvocationResults` in the ECS metadata.
- Migration-time job codes (`ErrorCode` of an InError job): only `M199` could be found in Alibaba's
  documentation; every other job code is explained by the generic entry (`explain`).
- `Bot.*` codes are the bot's own names for conditions the cloud reports without a code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

BILLING_NOTE = (
    "While a job is InError or Stopped, SMC keeps its intermediate instance (ECS image destinations) or "
    "temporary disk (ECS instance destinations), and that pay-as-you-go resource keeps billing until the "
    "job finishes, expires or is deleted: retry the job, or cancel it to release them."
)

SMC_FAQ_URL = "https://www.alibabacloud.com/help/en/server-migration-center/latest/smc-faq"
"""The SMC FAQ, which the console's "Troubleshoot Errors" points to for errors without their own page."""
M199_URL = "https://help.aliyun.com/en/smc/support/error-prompt-m199-source-system-migration-environment-detection-failed"
PUBLIC_ERRORS_URL = "https://error-center.alibabacloud.com/status/product/Public"
STS_ASSUME_ROLE_URL = "https://alibabacloud.com/help/en/ram/api-assumerole"
STS_FAQ_URL = "https://help.aliyun.com/en/ram/support/faq-about-ram-roles-and-sts-tokens"
STS_COMMON_ERRORS_URL = "https://www.alibabacloud.com/help/doc-detail/42775.htm"


def smc_api_url(operation: str) -> str:
    """The English API page of an SMC operation (the URL scheme of Alibaba's SMC API reference)."""
    return (
        f"https://www.alibabacloud.com/help/en/smc/developer-reference/api-smc-2019-06-01-{operation.lower()}"
    )


def _doc(topic_id: int) -> str:
    """`doc-detail` links, with the topic ids the API metadata itself links to."""
    return f"https://www.alibabacloud.com/help/doc-detail/{topic_id}.htm"


ECS_DESCRIBE_INSTANCES_URL = _doc(25506)
ECS_DESCRIBE_VSWITCHES_URL = _doc(35748)
ECS_CLOUD_ASSISTANT_STATUS_URL = _doc(87346)
ECS_DESCRIBE_INVOCATIONS_URL = _doc(64840)
ECS_INVOCATION_RESULTS_URL = _doc(64845)
ECS_RUN_COMMAND_URL = (
    "https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-runcommand"
)
"""Not in the metadata's links: the URL follows the scheme of the SMC API pages."""


class Service(StrEnum):
    """Who reports the code; the same code can mean different things at SMC and at STS."""

    SMC = "smc"
    ECS = "ecs"
    STS = "sts"
    COMMON = "common"
    """Codes of Alibaba Cloud's API gateway, the same for every product."""
    CLOUD_ASSISTANT = "cloud_assistant"
    """`ErrorCode` of one Cloud Assistant invocation on one instance (not an API error)."""
    MIGRATION = "migration"
    """`ErrorCode` of an SMC job in InError (not an API error)."""
    BOT = "bot"


@dataclass(frozen=True)
class ErrorInfo:
    """What an error means and what to do; `retryable`: the same call may succeed later unchanged."""

    code: str
    meaning: str
    fix: str
    doc_url: str
    retryable: bool
    service: Service = Service.SMC
    verified: bool = True
    """False when the code's meaning comes from a pattern (e.g. `Throttling.*`), not a documented list."""
    message: str | None = None
    """The cloud's own message for this occurrence, set by `explain`."""


def _entry(
    code: str,
    service: Service,
    meaning: str,
    fix: str,
    doc_url: str,
    *,
    retryable: bool = False,
) -> ErrorInfo:
    return ErrorInfo(code, meaning, fix, doc_url, retryable, service)


_CREATE = smc_api_url("CreateReplicationJob")
_MODIFY = smc_api_url("ModifyReplicationJobAttribute")
_START = smc_api_url("StartReplicationJob")
_STOP = smc_api_url("StopReplicationJob")
_CUT_OVER = smc_api_url("CutOverReplicationJob")
_DELETE_JOB = smc_api_url("DeleteReplicationJob")
_DELETE_SOURCE = smc_api_url("DeleteSourceServer")
_MODIFY_SOURCE = smc_api_url("ModifySourceServerAttribute")
_DESCRIBE_JOBS = smc_api_url("DescribeReplicationJobs")
_TAGS = smc_api_url("TagResources")

_RETRY_LATER = "The bot retries this itself with backoff; nothing to change."
_TICKET = "If it keeps happening, open a ticket with Alibaba Cloud and quote the RequestId."

_SMC: tuple[ErrorInfo, ...] = (
    _entry(
        "InternalError",
        Service.SMC,
        "SMC had an internal error while handling the request.",
        f"{_RETRY_LATER} {_TICKET}",
        _DESCRIBE_JOBS,
        retryable=True,
    ),
    _entry(
        "Forbidden.Unauthorized",
        Service.SMC,
        "The identity the bot uses in the destination account may not call this SMC operation.",
        "Attach the AliyunSMCFullAccess policy to the bot's RAM user or role in the destination account, "
        "then retry.",
        _DESCRIBE_JOBS,
    ),
    _entry(
        "EntityNotExist.Role",
        Service.SMC,
        "The destination account has not authorised SMC: the service role AliyunServiceRoleForSMC is "
        "missing.",
        "Open the SMC console once with the destination account and confirm the authorisation of "
        "AliyunServiceRoleForSMC (or create that role in RAM), then retry.",
        _CREATE,
    ),
    _entry(
        "RealNameAuthenticationError",
        Service.SMC,
        "The destination account has not completed real-name verification, which ECS resources need.",
        "Complete real-name verification for the destination account in the Alibaba Cloud console, "
        "then retry.",
        _CREATE,
    ),
    _entry(
        "QuotaExceeded.ReplicationJob",
        Service.SMC,
        "The account reached its SMC job quota (1,000 jobs, of which at most 50 running).",
        "Delete finished or unneeded migration jobs (Cancel and clean up), or wait for running jobs to "
        "finish; ask Alibaba Cloud for a higher quota with a ticket if you need more.",
        _CREATE,
    ),
    _entry(
        "ReplicationJobName.Duplicate",
        Service.SMC,
        "Another migration job in the account already has this name.",
        "Choose another job name (for example add -2) and submit again.",
        _CREATE,
    ),
    _entry(
        "ImageName.UsedByReplicationJob",
        Service.SMC,
        "Another migration job in this region already delivers an image with this name.",
        "Choose another image name prefix and submit again.",
        _CREATE,
    ),
    _entry(
        "VSwitchIdVpcId.Mismatch",
        Service.SMC,
        "The vSwitch does not belong to the chosen VPC.",
        "Choose a vSwitch of the selected VPC (the modal lists them), then submit again.",
        _CREATE,
    ),
    _entry(
        "InvalidSecurityGroupId.IncorrectNetworkType",
        Service.SMC,
        "The security group's network type cannot be used for this job.",
        "Use a VPC-type security group of the job's VPC, or leave the security group to SMC.",
        _CREATE,
    ),
    _entry(
        "InvalidSecurityGroupId.VPCMismatch",
        Service.SMC,
        "The security group and the vSwitch are in different VPCs.",
        "Use a security group of the vSwitch's VPC, or leave the security group to SMC.",
        _CREATE,
    ),
    _entry(
        "ReplicationJobDataDiskIndex.Invalid",
        Service.SMC,
        "The request names a data disk the source server does not have.",
        "Reload the form so the disks match the source server, remove the extra data disk, and submit again.",
        _CREATE,
    ),
    _entry(
        "DataDisk.DuplicateIndex",
        Service.SMC,
        "The request lists the same data disk twice.",
        "Keep one entry per data disk and submit again.",
        _MODIFY,
    ),
    _entry(
        "InvalidOsMigrationType.NotMatched",
        Service.SMC,
        "The source and target operating system types do not fit together for an OS migration job.",
        "Choose a target OS type SMC lists as supported for this source.",
        _CREATE,
    ),
    _entry(
        "SourceServerState.Invalid",
        Service.SMC,
        "The source server is not in a state that allows this (it must be online, Available, and not used by "
        "another job).",
        "Check that the SMC client still runs on the source server (Linux: /smc, Windows: C:\\smc); if the "
        "source is offline, import it again with /smc import; if another job uses it, let that job finish or "
        "cancel it.",
        _CREATE,
    ),
    _entry(
        "SourceServerName.Duplicate",
        Service.SMC,
        "Another source server in the account already has this name.",
        "Choose another name for the source server.",
        _MODIFY_SOURCE,
    ),
    _entry(
        "SourceServer.WithRunningReplicationJob",
        Service.SMC,
        "The source server has a running migration job, so it cannot be deleted.",
        "Pause or cancel the job first, then delete the source server.",
        _DELETE_SOURCE,
    ),
    _entry(
        "ReplicationJob.Related",
        Service.SMC,
        "The source server still has migration jobs, so it cannot be deleted.",
        "Delete its migration jobs first (Cancel and clean up), then delete the source server.",
        _DELETE_SOURCE,
    ),
    _entry(
        "ReplicationJob.InvalidStatus",
        Service.SMC,
        "The job's status does not allow this action (start: Ready, Stopped or InError; cut over: Waiting; "
        "most changes: before the job runs).",
        "Look at the job's current state in its thread and use one of the buttons it shows now.",
        _START,
    ),
    _entry(
        "ReplicationJob.InvalidBusinessStatus",
        Service.SMC,
        "The job's sub-status does not allow this action (a job can be paused only while Running and "
        "Syncing).",
        "Wait until the job is Syncing, or use one of the buttons its thread shows now.",
        _STOP,
    ),
    _entry(
        "NumberExceed.Tags",
        Service.SMC,
        "More than 20 tags were given.",
        "Keep at most 20 tags.",
        _TAGS,
    ),
    _entry(
        "MissingParameter.ResourceType",
        Service.SMC,
        "A tag request did not say which kind of resource it tags.",
        "This is a bug in the bot: report it with the request id.",
        _TAGS,
    ),
    _entry(
        "InvalidResourceType.NotFound",
        Service.SMC,
        "A tag request named a resource type SMC does not have.",
        "This is a bug in the bot: report it with the request id.",
        _TAGS,
    ),
    _entry(
        "NumberExceed.ResourceIds",
        Service.SMC,
        "A tag request named more than 50 resources.",
        "Tag at most 50 resources at a time.",
        _TAGS,
    ),
    _entry(
        "Duplicate.ResourceId",
        Service.SMC,
        "A tag request named the same resource twice.",
        "Name each resource once.",
        _TAGS,
    ),
    _entry(
        "InvalidResourceId.NotFound",
        Service.SMC,
        "A tagged resource (job or source server) does not exist any more.",
        "Refresh the list; the resource was probably deleted.",
        _TAGS,
    ),
)

_COMMON: tuple[ErrorInfo, ...] = (
    *(
        _entry(
            code,
            Service.COMMON,
            f"Alibaba Cloud throttled the request ({what}).",
            f"{_RETRY_LATER} If it persists, poll less often or spread the work over time.",
            PUBLIC_ERRORS_URL,
            retryable=True,
        )
        for code, what in (
            ("Throttling", "too many requests"),
            ("Throttling.User", "too many requests from this account"),
            ("Throttling.Api", "too many calls of this operation"),
            ("Throttling.Resource", "too many operations on this resource"),
        )
    ),
    _entry(
        "ServiceUnavailable",
        Service.COMMON,
        "The service was temporarily unavailable.",
        f"{_RETRY_LATER} {_TICKET}",
        ECS_INVOCATION_RESULTS_URL,
        retryable=True,
    ),
    _entry(
        "UnknownError",
        Service.COMMON,
        "Alibaba Cloud's gateway reported an unknown error.",
        f"{_RETRY_LATER} {_TICKET}",
        PUBLIC_ERRORS_URL,
        retryable=True,
    ),
    _entry(
        "InvalidAccessKeyId.NotFound",
        Service.COMMON,
        "The AccessKey ID the bot uses does not exist.",
        "Check ALIBABA_CLOUD_ACCESS_KEY_ID (no spaces, the right account) or the bot's credential chain, "
        "then restart the bot.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidAccessKeyId.Inactive",
        Service.COMMON,
        "The AccessKey the bot uses is disabled.",
        "Enable the AccessKey in the RAM console or configure another one, then restart the bot.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "Forbidden.AccessKeyDisabled",
        Service.COMMON,
        "The AccessKey the bot uses is disabled.",
        "Enable the AccessKey in the RAM console or configure another one, then restart the bot.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "SignatureDoesNotMatch",
        Service.COMMON,
        "The request signature is wrong: the AccessKey secret does not belong to the AccessKey ID.",
        "Check ALIBABA_CLOUD_ACCESS_KEY_SECRET (or the credential chain) and restart the bot.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "IncompleteSignature",
        Service.COMMON,
        "The request signature is incomplete.",
        "Check the bot's credentials and SMC_BOT_CLOUD_ENDPOINT; report a bug if they are right.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidSecurityToken.Expired",
        Service.COMMON,
        "The STS token of an assumed role expired before the call.",
        "The bot assumes the role again and retries; if it keeps happening, check the clock of the bot's "
        "host.",
        PUBLIC_ERRORS_URL,
        retryable=True,
    ),
    _entry(
        "InvalidSecurityToken.Malformed",
        Service.COMMON,
        "The STS token sent with the call is malformed.",
        "The bot assumes the role again; if it keeps happening, report a bug.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidSecurityToken.MismatchWithAccessKey",
        Service.COMMON,
        "The STS token does not belong to the temporary AccessKey sent with it.",
        "The bot assumes the role again; if it keeps happening, report a bug.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "MissingSecurityToken",
        Service.COMMON,
        "Temporary credentials were sent without their STS token.",
        "Check the bot's credential configuration (an STS AccessKey needs its security token).",
        STS_COMMON_ERRORS_URL,
    ),
    _entry(
        "InvalidTimeStamp.Expired",
        Service.COMMON,
        "The request's timestamp is too far from Alibaba Cloud's time.",
        "Synchronise the clock of the bot's host (NTP), then retry.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidTimeStamp.Format",
        Service.COMMON,
        "The request's timestamp is malformed.",
        "Report a bug with the request id.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "SignatureNonceUsed",
        Service.COMMON,
        "The request's nonce was already used (a replayed request).",
        "Retry the action once; report a bug if it repeats.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidRegion.NotFound",
        Service.COMMON,
        "The region does not exist for this product.",
        "Choose a region from the list the bot offers.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidApi.NotFound",
        Service.COMMON,
        "The operation does not exist at this endpoint.",
        "Check SMC_BOT_CLOUD_ENDPOINT; report a bug if it is right.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "MissingParameter",
        Service.COMMON,
        "A required parameter was missing from the request.",
        "Report a bug with the request id.",
        PUBLIC_ERRORS_URL,
    ),
    _entry(
        "InvalidParameter",
        Service.COMMON,
        "A parameter of the request is not valid.",
        "Check the values in the request (the message names the parameter) and submit again.",
        PUBLIC_ERRORS_URL,
    ),
)

_STS: tuple[ErrorInfo, ...] = (
    _entry(
        "NoPermission",
        Service.STS,
        "The bot may not assume the source account's role: it calls as a root account, lacks "
        "AliyunSTSAssumeRoleAccess, or the role does not trust the destination account.",
        "In the destination account give the bot's RAM user AliyunSTSAssumeRoleAccess; in the source account "
        "make the role's trusted entity the destination account (Cloud Account > Other Account); then retry.",
        STS_FAQ_URL,
    ),
    _entry(
        "EntityNotExist.Role",
        Service.STS,
        "The RAM role does not exist in the source account.",
        "Check the source account ID and the role name (for example ram-role-smc) in the import form, or "
        "create the role in the source account's RAM console, then retry.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.RoleArn",
        Service.STS,
        "The role ARN is malformed.",
        "Enter the source account ID (digits only) and the role name without spaces, then retry.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.RoleSessionName",
        Service.STS,
        "The role session name is malformed.",
        "Report a bug: the bot builds this name.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.DurationSeconds",
        Service.STS,
        "The requested credential lifetime is outside what the role allows.",
        "Lower the credential duration the bot asks for, or raise the role's maximum session duration.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.ExternalId",
        Service.STS,
        "The external ID is malformed.",
        "Check the external ID configured for the source account.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.PolicyGrammar",
        Service.STS,
        "The session policy sent with AssumeRole is not valid.",
        "Fix or remove the session policy configured for the source account.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.PolicySize",
        Service.STS,
        "The session policy is larger than 2,048 bytes.",
        "Shorten the session policy configured for the source account.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.SerialNumber",
        Service.STS,
        "The MFA device serial number sent with AssumeRole is malformed.",
        "The bot does not use MFA for AssumeRole: remove any MFA settings from the source account's "
        "configuration.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.TokenCode",
        Service.STS,
        "The MFA code sent with AssumeRole is malformed.",
        "The bot does not use MFA for AssumeRole: remove any MFA settings from the source account's "
        "configuration.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InvalidParameter.ContentType",
        Service.STS,
        "STS did not accept the request's content type.",
        "Report a bug with the request id: the SDK sets the content type.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "AuthenticationFail.ApiUsername",
        Service.STS,
        "STS did not accept the caller's API user name.",
        "Check the AccessKey the bot uses in the destination account, then retry.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "AuthenticationFail.ApiPassword",
        Service.STS,
        "STS did not accept the caller's API password.",
        "Check the AccessKey the bot uses in the destination account, then retry.",
        STS_ASSUME_ROLE_URL,
    ),
    _entry(
        "InternalError",
        Service.STS,
        "STS had an internal error.",
        f"{_RETRY_LATER} {_TICKET}",
        STS_ASSUME_ROLE_URL,
        retryable=True,
    ),
)

_ECS: tuple[ErrorInfo, ...] = (
    _entry(
        "InvalidInstance.NotFound",
        Service.ECS,
        "The instance does not exist in this region of the source account (or was released).",
        "Check the region and the instance in the import form; reload the instance list and choose again.",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
    ),
    _entry(
        "InvalidInstance.NotMatch",
        Service.ECS,
        "The command type does not fit the instance's OS (a shell script for Windows or the reverse).",
        "Check the install script configured for this OS family.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "MissingParam.InstanceId",
        Service.ECS,
        "No instance was given.",
        "Choose at least one instance in the import form.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "InstanceIds.ExceedLimit",
        Service.ECS,
        "Too many instances in one Cloud Assistant call.",
        "Import at most 100 instances at a time.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "Invocation.ExceedQuota",
        Service.ECS,
        "The source account used up today's Cloud Assistant invocation quota in this region.",
        "Retry tomorrow, or raise the quota in the source account's Quota Center.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "CmdCount.ExceedQuota",
        Service.ECS,
        "The source account has the maximum number of Cloud Assistant commands in this region.",
        "Delete unused Cloud Assistant commands in the source account, then retry.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "CmdContent.ExceedLimit",
        Service.ECS,
        "The install script is longer than Cloud Assistant accepts.",
        "Shorten the configured install script (download the installer instead of inlining it).",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "Parameter.Disabled",
        Service.ECS,
        "Command parameters were sent, but parameters are not enabled for the command.",
        "Report a bug: the bot must send EnableParameter=true with the activation parameters.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "Parameter.NotMatched",
        Service.ECS,
        "The command parameters do not match the {{placeholders}} of the install script.",
        "Make the configured install script use exactly the parameters the bot passes.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "ParameterCount.ExceedLimit",
        Service.ECS,
        "The install script uses more command parameters than Cloud Assistant allows.",
        "Reduce the parameters of the configured install script.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "Operation.Forbidden",
        Service.ECS,
        "Cloud Assistant refused the operation for this account or instance.",
        "Check that the source role's policy allows ecs:RunCommand and ecs:DescribeInvocations "
        "(the seed's policy-smc), then retry.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "TemporaryAccessKey.Error",
        Service.ECS,
        "Cloud Assistant rejected the temporary AccessKey of the assumed role.",
        "The bot assumes the role again and retries; if it persists, check the role in the source account.",
        ECS_RUN_COMMAND_URL,
        retryable=True,
    ),
    _entry(
        "IdempotentProcessing",
        Service.ECS,
        "An earlier request with the same client token is still being processed.",
        _RETRY_LATER,
        ECS_RUN_COMMAND_URL,
        retryable=True,
    ),
    _entry(
        "IdempotentParameterMismatch",
        Service.ECS,
        "A client token was reused with different parameters.",
        "Report a bug: the bot must use a new client token for a changed request.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "RegionId.ApiNotSupported",
        Service.ECS,
        "Cloud Assistant is not offered in this region.",
        "Migrate an instance of a region where Cloud Assistant exists, or install the SMC client by hand.",
        ECS_RUN_COMMAND_URL,
    ),
    _entry(
        "InvalidRegionId.NotFound",
        Service.ECS,
        "The region does not exist.",
        "Choose a region from the list.",
        ECS_DESCRIBE_INSTANCES_URL,
    ),
    _entry(
        "Unauthorized.EmptyRegion",
        Service.ECS,
        "The account may not use any region.",
        "Check the account's status and the RAM policy of the identity the bot uses.",
        ECS_DESCRIBE_INSTANCES_URL,
    ),
    _entry(
        "Forbidden.VpcNotFound",
        Service.ECS,
        "The VPC does not exist in this region.",
        "Choose a VPC from the list the modal offers.",
        ECS_DESCRIBE_VSWITCHES_URL,
    ),
    _entry(
        "InvalidVSwitchId.NotFound",
        Service.ECS,
        "The vSwitch does not exist.",
        "Choose a vSwitch from the list the modal offers.",
        ECS_DESCRIBE_VSWITCHES_URL,
    ),
    _entry(
        "InternalError.Dispatch",
        Service.ECS,
        "Cloud Assistant failed to dispatch the request.",
        f"{_RETRY_LATER} {_TICKET}",
        ECS_RUN_COMMAND_URL,
        retryable=True,
    ),
    _entry(
        "InternalError",
        Service.ECS,
        "ECS had an internal error.",
        f"{_RETRY_LATER} {_TICKET}",
        ECS_DESCRIBE_INSTANCES_URL,
        retryable=True,
    ),
)

_REINSTALL = "Retry import; if it fails again, check the command output in the thread."
_CLOUD_ASSISTANT: tuple[ErrorInfo, ...] = (
    _entry(
        "InstanceNotExists",
        Service.CLOUD_ASSISTANT,
        "The instance does not exist or was released.",
        "Remove it from the import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "InstanceReleased",
        Service.CLOUD_ASSISTANT,
        "The instance was released while the command ran.",
        "Remove it from the import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "InstanceNotRunning",
        Service.CLOUD_ASSISTANT,
        "The instance was not running when the command was sent.",
        "Start the source instance, then Retry import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "CommandNotApplicable",
        Service.CLOUD_ASSISTANT,
        "The install script does not fit this instance (for example a shell script on Windows).",
        "Check the install script configured for this OS family.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "AccountNotExists",
        Service.CLOUD_ASSISTANT,
        "The user the command should run as does not exist on the instance.",
        "Run the install script as root (Linux) or System (Windows).",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "DirectoryNotExists",
        Service.CLOUD_ASSISTANT,
        "The command's working directory does not exist on the instance.",
        "Configure an existing working directory for the install script, or none.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "BadCronExpression",
        Service.CLOUD_ASSISTANT,
        "The command's schedule expression is not valid.",
        "Report a bug: the bot runs the install script once, without a schedule.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "ClientNotRunning",
        Service.CLOUD_ASSISTANT,
        "The Cloud Assistant agent is not running on the instance.",
        "Start (or install) the Cloud Assistant agent on the source instance, then Retry import.",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
    ),
    _entry(
        "ClientNotResponse",
        Service.CLOUD_ASSISTANT,
        "The Cloud Assistant agent did not respond.",
        f"Check that the source instance is healthy and its agent runs. {_REINSTALL}",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
        retryable=True,
    ),
    _entry(
        "ClientIsUpgrading",
        Service.CLOUD_ASSISTANT,
        "The Cloud Assistant agent was upgrading itself.",
        "Wait a few minutes, then Retry import.",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
        retryable=True,
    ),
    _entry(
        "ClientNeedUpgrade",
        Service.CLOUD_ASSISTANT,
        "The Cloud Assistant agent is too old for this command.",
        "Upgrade the Cloud Assistant agent on the source instance, then Retry import.",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
    ),
    _entry(
        "DeliveryTimeout",
        Service.CLOUD_ASSISTANT,
        "The command could not be delivered to the instance in time.",
        f"Check the instance's network and agent. {_REINSTALL}",
        ECS_INVOCATION_RESULTS_URL,
        retryable=True,
    ),
    _entry(
        "ExecutionTimeout",
        Service.CLOUD_ASSISTANT,
        "The install script ran longer than its timeout.",
        "Check that the instance can download the SMC client (outbound internet), or raise the command "
        "timeout, then Retry import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "ExecutionException",
        Service.CLOUD_ASSISTANT,
        "The install script failed with an exception.",
        _REINSTALL,
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "ExecutionInterrupted",
        Service.CLOUD_ASSISTANT,
        "The install script was interrupted (stopped, or the instance restarted).",
        "Retry import and keep the instance running until the source is online.",
        ECS_INVOCATION_RESULTS_URL,
        retryable=True,
    ),
    _entry(
        "ExitCodeNonzero",
        Service.CLOUD_ASSISTANT,
        "The install script ended with a non-zero exit code.",
        "Read the command output in the thread (the SMC client logs are in /smc or C:\\smc), fix the cause, "
        "then Retry import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
    _entry(
        "SecurityGroupRuleDenied",
        Service.CLOUD_ASSISTANT,
        "A security group rule blocks the instance from reaching the Cloud Assistant service.",
        "Allow outbound access to the Cloud Assistant endpoints in the instance's security group, then Retry "
        "import.",
        ECS_INVOCATION_RESULTS_URL,
    ),
)

_MIGRATION: tuple[ErrorInfo, ...] = (
    _entry(
        "M199",
        Service.MIGRATION,
        "The source server failed SMC's migration environment check.",
        "The job's message names the check that failed: fix it on the source server (see the linked page), "
        "then Retry.",
        M199_URL,
    ),
)

CLOUD_ASSISTANT_OFFLINE = "Bot.CloudAssistantOffline"
SOURCE_IMPORT_TIMEOUT = "Bot.SourceImportTimeout"

_BOT: tuple[ErrorInfo, ...] = (
    _entry(
        CLOUD_ASSISTANT_OFFLINE,
        Service.BOT,
        "Cloud Assistant on the instance has not sent a heartbeat for 2 minutes "
        "(DescribeCloudAssistantStatus reports false), so the bot cannot install the SMC client.",
        "Install or start the Cloud Assistant agent on the source instance, wait until it is online, then "
        "Retry import.",
        ECS_CLOUD_ASSISTANT_STATUS_URL,
    ),
    _entry(
        SOURCE_IMPORT_TIMEOUT,
        Service.BOT,
        "The SMC client was installed, but the source server did not come online in time.",
        "Check the SMC client on the instance (logs in /smc or C:\\smc) and its outbound access to Alibaba "
        "Cloud, then Retry import.",
        SMC_FAQ_URL,
    ),
)

_ALL: tuple[ErrorInfo, ...] = _SMC + _COMMON + _STS + _ECS + _CLOUD_ASSISTANT + _MIGRATION + _BOT

_BY_SERVICE: dict[tuple[Service, str], ErrorInfo] = {(e.service, e.code.lower()): e for e in _ALL}
_BY_CODE: dict[str, ErrorInfo] = {}
for _info in _ALL:  # the first service listing a code wins a lookup without a service (SMC before STS)
    _BY_CODE.setdefault(_info.code.lower(), _info)

_TRANSIENT_PREFIXES = ("throttling", "internalerror", "serviceunavailable")


def known_codes(service: Service | None = None) -> tuple[str, ...]:
    """Every code in the table (of one service), in table order."""
    return tuple(e.code for e in _ALL if service is None or e.service is service)


def lookup(code: str, service: Service | None = None) -> ErrorInfo | None:
    """The table's entry, case-insensitively; with `service`, that service's meaning first."""
    key = code.strip().lower()
    if service is not None:
        found = _BY_SERVICE.get((service, key)) or _BY_SERVICE.get((Service.COMMON, key))
        if found is not None:
            return found
    return _BY_CODE.get(key)


def is_retryable(code: str | None, *, http_status: int | None = None) -> bool:
    """Throttling, internal errors and 5xx: the same call may succeed later unchanged."""
    if http_status is not None and http_status >= 500:
        return True
    if not code:
        return False
    info = lookup(code)
    if info is not None:
        return info.retryable
    return code.strip().lower().startswith(_TRANSIENT_PREFIXES)


def explain(
    code: str | None,
    message: str | None,
    *,
    service: Service | None = None,
    http_status: int | None = None,
) -> ErrorInfo:
    """Always an answer: the table's entry, or a generic one that still shows the code and the message.

    With `service=Service.MIGRATION` (the `ErrorCode` of a job in InError) the fix is about the job: what to
    do before clicking Retry, which resumes it where it stopped, and it ends with `BILLING_NOTE`.
    """
    text = message.strip() if message and message.strip() else None
    info = lookup(code, service) if code and code.strip() else None
    if info is None:
        info = _unknown(code, text, service, http_status)
    info = replace(info, message=text)
    if service is not Service.MIGRATION:
        return info
    if info.service is not Service.MIGRATION and info.retryable:
        fix = f"This looks temporary: Retry resumes the job where it stopped. {_TICKET}"
    elif info.verified and "Retry" not in info.fix:
        fix = f"{info.fix} Then Retry: the job resumes where it stopped."
    else:
        fix = info.fix
    if BILLING_NOTE not in fix:
        fix = f"{fix} {BILLING_NOTE}"
    return replace(info, fix=fix)


def _unknown(
    code: str | None, text: str | None, service: Service | None, http_status: int | None
) -> ErrorInfo:
    shown = code.strip() if code and code.strip() else "(no error code)"
    retryable = is_retryable(code, http_status=http_status)
    if retryable:
        fix = f"This looks temporary. {_RETRY_LATER} {_TICKET}"
    else:
        fix = (
            "Look the code up in the SMC FAQ and troubleshooting pages (linked), fix the cause, then Retry; "
            f"if the job is not needed any more, cancel it. {BILLING_NOTE}"
        )
    return ErrorInfo(
        code=shown,
        meaning=f"Alibaba Cloud reported {shown}" + (f": {text}" if text else "."),
        fix=fix,
        doc_url=SMC_FAQ_URL,
        retryable=retryable,
        service=service or Service.SMC,
        verified=False,
    )
