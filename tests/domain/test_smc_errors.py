"""The error table: what an SMC/ECS/STS code means, what to do, and whether the bot may simply retry."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.domain.smc_errors import (
    BILLING_NOTE,
    CLOUD_ASSISTANT_OFFLINE,
    M199_URL,
    SMC_FAQ_URL,
    SOURCE_IMPORT_TIMEOUT,
    ErrorInfo,
    Service,
    explain,
    is_retryable,
    known_codes,
    lookup,
    smc_api_url,
)

# Every `errorCodes` entry of every operation in reference/alibaba-api/smc-2019-06-01.json.
SMC_METADATA_CODES = (
    "Forbidden.Unauthorized",
    "InternalError",
    "SourceServerName.Duplicate",
    "SourceServerState.Invalid",
    "SourceServer.WithRunningReplicationJob",
    "ReplicationJob.Related",
    "ReplicationJobDataDiskIndex.Invalid",
    "VSwitchIdVpcId.Mismatch",
    "InvalidSecurityGroupId.IncorrectNetworkType",
    "InvalidSecurityGroupId.VPCMismatch",
    "QuotaExceeded.ReplicationJob",
    "ReplicationJobName.Duplicate",
    "ImageName.UsedByReplicationJob",
    "InvalidOsMigrationType.NotMatched",
    "EntityNotExist.Role",
    "RealNameAuthenticationError",
    "DataDisk.DuplicateIndex",
    "ReplicationJob.InvalidStatus",
    "ReplicationJob.InvalidBusinessStatus",
    "NumberExceed.Tags",
    "MissingParameter.ResourceType",
    "InvalidResourceType.NotFound",
    "NumberExceed.ResourceIds",
    "Duplicate.ResourceId",
    "InvalidResourceId.NotFound",
)
# The errorCodes of AssumeRole in reference/alibaba-api/sts-2015-04-01.json.
STS_ASSUME_ROLE_CODES = (
    "InvalidParameter.DurationSeconds",
    "InvalidParameter.ExternalId",
    "InvalidParameter.RoleArn",
    "InvalidParameter.RoleSessionName",
    "InvalidParameter.SerialNumber",
    "InvalidParameter.TokenCode",
    "InvalidParameter.PolicyGrammar",
    "InvalidParameter.PolicySize",
    "InvalidParameter.ContentType",
    "NoPermission",
    "AuthenticationFail.ApiUsername",
    "AuthenticationFail.ApiPassword",
    "EntityNotExist.Role",
    "InternalError",
)
# ErrorCode values of DescribeInvocationResults in reference/alibaba-api/ecs-2014-05-26.subset.json.
INVOCATION_CODES = (
    "InstanceNotExists",
    "InstanceReleased",
    "InstanceNotRunning",
    "CommandNotApplicable",
    "AccountNotExists",
    "DirectoryNotExists",
    "BadCronExpression",
    "ClientNotRunning",
    "ClientNotResponse",
    "ClientIsUpgrading",
    "ClientNeedUpgrade",
    "DeliveryTimeout",
    "ExecutionTimeout",
    "ExecutionException",
    "ExecutionInterrupted",
    "ExitCodeNonzero",
    "SecurityGroupRuleDenied",
)


def info(code: str, service: Service | None = None) -> ErrorInfo:
    found = lookup(code, service)
    assert found is not None, code
    return found


def test_every_documented_smc_code_is_explained() -> None:
    assert set(known_codes(Service.SMC)) == set(SMC_METADATA_CODES)


def test_every_assume_role_code_is_explained() -> None:
    assert set(known_codes(Service.STS)) == set(STS_ASSUME_ROLE_CODES)


def test_every_cloud_assistant_invocation_code_is_explained() -> None:
    assert set(known_codes(Service.CLOUD_ASSISTANT)) == set(INVOCATION_CODES)


def test_each_entry_is_complete_and_listed_once_per_service() -> None:
    every = [info(code, service) for service in Service for code in known_codes(service)]
    for entry in every:
        assert entry.meaning.endswith(".") and entry.fix.endswith("."), entry.code
        assert entry.doc_url.startswith("https://"), entry.code
        assert entry.verified, entry.code
        assert entry.message is None
    repeated = Counter((e.service, e.code) for e in every)
    assert [key for key, n in repeated.items() if n > 1] == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("ImageName.UsedByReplicationJob", "another image name"),
        ("ReplicationJobName.Duplicate", "another job name"),
        ("QuotaExceeded.ReplicationJob", "Delete finished or unneeded migration jobs"),
        ("VSwitchIdVpcId.Mismatch", "vSwitch of the selected VPC"),
        ("EntityNotExist.Role", "AliyunServiceRoleForSMC"),
        ("ReplicationJob.InvalidStatus", "buttons it shows now"),
        ("ReplicationJob.InvalidBusinessStatus", "Syncing"),
        ("SourceServerState.Invalid", "/smc import"),
        ("Forbidden.Unauthorized", "AliyunSMCFullAccess"),
    ],
)
def test_the_codes_the_bot_meets_at_create_start_stop_cutover_and_delete(code: str, words: str) -> None:
    found = info(code)
    assert words in found.fix
    assert not found.retryable
    assert found.service is Service.SMC


def test_create_errors_link_to_the_create_replication_job_page() -> None:
    assert info("ImageName.UsedByReplicationJob").doc_url == (
        "https://www.alibabacloud.com/help/en/smc/developer-reference/api-smc-2019-06-01-createreplicationjob"
    )
    assert info("ReplicationJob.InvalidBusinessStatus").doc_url == smc_api_url("StopReplicationJob")


@pytest.mark.parametrize(
    "code",
    [
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Resource",
        "InternalError",
        "ServiceUnavailable",
    ],
)
def test_throttling_and_internal_errors_are_retried(code: str) -> None:
    assert info(code).retryable
    assert is_retryable(code)
    assert "retries this itself" in info(code).fix


def test_the_same_code_means_different_things_at_smc_and_sts() -> None:
    smc = info("EntityNotExist.Role", Service.SMC)
    sts = info("EntityNotExist.Role", Service.STS)
    assert "AliyunServiceRoleForSMC" in smc.meaning
    assert "source account" in sts.meaning
    assert "ram-role-smc" in sts.fix
    assert info("EntityNotExist.Role") == smc


def test_a_service_lookup_falls_back_to_the_shared_gateway_codes() -> None:
    assert info("Throttling.User", Service.STS).service is Service.COMMON
    assert info("QuotaExceeded.ReplicationJob", Service.ECS).service is Service.SMC


def test_import_flow_codes() -> None:
    assert "AliyunSTSAssumeRoleAccess" in info("NoPermission", Service.STS).fix
    assert "trusted entity" in info("NoPermission", Service.STS).fix
    assert "instance" in info("InvalidInstance.NotFound", Service.ECS).meaning
    expired = info("InvalidSecurityToken.Expired")
    assert expired.retryable
    assert "assumes the role again" in expired.fix
    assert "agent" in info("ClientNotRunning").fix
    assert "command output" in info("ExitCodeNonzero").fix
    assert not info("Invocation.ExceedQuota").retryable


def test_the_bots_own_codes_cover_what_the_cloud_reports_without_a_code() -> None:
    offline = info(CLOUD_ASSISTANT_OFFLINE)
    assert offline.service is Service.BOT
    assert "Cloud Assistant" in offline.fix
    assert "Retry import" in info(SOURCE_IMPORT_TIMEOUT).fix


def test_the_documented_migration_time_code() -> None:
    m199 = info("M199")
    assert m199.service is Service.MIGRATION
    assert m199.doc_url == M199_URL


def test_lookup_ignores_case_and_surrounding_spaces() -> None:
    assert info("  imagename.usedbyreplicationjob ") == info("ImageName.UsedByReplicationJob")
    assert lookup("No.Such.Code") is None


def test_explain_a_known_code_keeps_the_clouds_message() -> None:
    explained = explain(
        "QuotaExceeded.ReplicationJob", "  The maximum number of replication jobs is exceeded. "
    )
    assert explained.code == "QuotaExceeded.ReplicationJob"
    assert explained.message == "The maximum number of replication jobs is exceeded."
    assert explained.verified


def test_explain_an_unknown_code_still_helps() -> None:
    explained = explain("S5.PartitionMountFailed", "mount /dev/vdb1 failed")
    assert explained.code == "S5.PartitionMountFailed"
    assert explained.meaning == "Alibaba Cloud reported S5.PartitionMountFailed: mount /dev/vdb1 failed"
    assert explained.message == "mount /dev/vdb1 failed"
    assert explained.doc_url == SMC_FAQ_URL
    assert BILLING_NOTE in explained.fix
    assert not explained.retryable
    assert not explained.verified


def test_explain_without_code_or_message() -> None:
    explained = explain(None, None)
    assert explained.code == "(no error code)"
    assert explained.meaning == "Alibaba Cloud reported (no error code)."
    assert explained.message is None
    assert explain(" ", "  ").code == "(no error code)"


def test_unknown_transient_looking_errors_are_retryable() -> None:
    assert explain("Throttling.Concurrent", "slow down").retryable
    assert explain("InternalError.Unknown", None).retryable
    assert explain("Something.Odd", "bad gateway", http_status=502).retryable
    assert not explain("Something.Odd", "bad request", http_status=400).retryable
    assert not is_retryable(None)
    assert is_retryable(None, http_status=503)


def test_the_billing_note_names_the_states_and_the_way_out() -> None:
    assert "InError" in BILLING_NOTE
    assert "Stopped" in BILLING_NOTE
    assert "intermediate instance" in BILLING_NOTE
    assert "deleted" in BILLING_NOTE


def test_a_job_error_explains_what_to_do_before_retry_and_the_bill() -> None:
    quota = explain("QuotaExceeded.ReplicationJob", "too many running", service=Service.MIGRATION)
    assert quota.fix.startswith("Delete finished or unneeded migration jobs")
    assert "Then Retry: the job resumes where it stopped." in quota.fix
    assert quota.fix.endswith(BILLING_NOTE)
    internal = explain("InternalError", "disk read failed", service=Service.MIGRATION)
    assert internal.retryable
    assert internal.fix.startswith("This looks temporary: Retry resumes the job where it stopped.")
    assert "retries this itself" not in internal.fix
    m199 = explain("M199", "kernel check failed", service=Service.MIGRATION)
    assert m199.fix.count("Retry") == 1
    assert m199.fix.endswith(BILLING_NOTE)
    unknown = explain("S7_E42", None, service=Service.MIGRATION)
    assert unknown.fix.count(BILLING_NOTE) == 1
    assert unknown.service is Service.MIGRATION
