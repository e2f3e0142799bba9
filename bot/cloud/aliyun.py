"""The ports implemented over alibabacloud_smc20190601 / _ecs20140526 / _sts20150401."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_smc20190601 import models as smc_models

from bot.cloud import parse
from bot.cloud.credentials import RoleCredentialCache, StsRoleAssumer, utc_now
from bot.cloud.ports import (
    DEFAULT_CREDENTIAL_REF,
    MAX_INSTANCE_IDS_PER_DESCRIBE,
    MAX_INSTANCES_PER_RUN_COMMAND,
    MAX_JOB_IDS_PER_DESCRIBE,
    AccessToken,
    AccessTokenStatus,
    CallerIdentity,
    CallObserver,
    CloudAssistantStatus,
    CloudError,
    CommandType,
    Credentials,
    Image,
    ImageOwner,
    Instance,
    InstanceDisk,
    InstanceFilter,
    InstanceType,
    Invocation,
    JobStatus,
    NewAccessToken,
    Page,
    Region,
    ReplicationJob,
    Secret,
    SecurityGroup,
    SourceServer,
    SourceServerState,
    Vpc,
    VSwitch,
    Zone,
    parse_credential_ref,
)
from bot.cloud.scrub import Scrubber, protect_transport_logs
from bot.cloud.sdk import (
    SMC_API_VERSION,
    TOKEN_REJECTED_CODES,
    ClientFactory,
    CloudConfig,
    Invoker,
    call_rpc,
)

__all__ = ["AliyunCloudGateway", "CloudConfig"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Platform limits (SMC_API_NOTES "Batch limits").
SMC_PAGE_SIZE = 50
ECS_MAX_RESULTS = 100
ECS_PAGE_SIZE = 50
CLOUD_ASSISTANT_BATCH = 50
_MAX_PAGES = 200  # a runaway-pagination guard, far above any real account


def chunks(values: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most `size`, duplicates removed (order kept)."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def request_from_map(model: Any, request: Mapping[str, Any]) -> Any:
    """`Model().from_map(request)`, refusing keys the SDK would silently drop (a misspelt field)."""
    built = model.from_map(dict(request))
    unknown = _dropped_keys(request, built.to_map())
    if unknown:
        raise ValueError(f"{type(model).__name__} has no field(s) {', '.join(sorted(unknown))}")
    return built


def _dropped_keys(given: Any, kept: Any, prefix: str = "") -> set[str]:
    if isinstance(given, Mapping):
        kept_map = kept if isinstance(kept, Mapping) else {}
        missing: set[str] = set()
        for key, value in given.items():
            if value is None:
                continue
            if key not in kept_map:
                missing.add(prefix + str(key))
            else:
                missing |= _dropped_keys(value, kept_map[key], f"{prefix}{key}.")
        return missing
    if isinstance(given, list) and isinstance(kept, list):
        dropped: set[str] = set()
        for index, (g, k) in enumerate(zip(given, kept, strict=False)):
            dropped |= _dropped_keys(g, k, f"{prefix}{index + 1}.")
        return dropped
    return set()


class _Principal:
    """Whose credentials a cloud object uses: the bot's own (None) or an assumed role's."""

    def __init__(self, roles: RoleCredentialCache, role: tuple[str, str] | None) -> None:
        self._roles = roles
        self.role = role

    def credentials(self) -> Credentials | None:
        return None if self.role is None else self._roles.get(*self.role)

    def invalidate(self, stale: Credentials) -> None:
        if self.role is not None:
            self._roles.invalidate(*self.role, stale=stale)


class _Account:
    """Runs calls for one principal; re-assumes once when the service rejects a temporary token."""

    def __init__(
        self, principal: _Principal, factory: ClientFactory, invoker: Invoker, scrub: Scrubber
    ) -> None:
        self._principal = principal
        self._factory = factory
        self._invoker = invoker
        self._scrub = scrub

    def _call(self, service: str, action: str, fn: Callable[[Credentials | None], Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            creds = self._principal.credentials()
            try:
                return self._invoker.call(service, action, partial(fn, creds))
            except CloudError as err:
                temporary = creds is not None and creds.security_token is not None
                if attempt == 1 and creds is not None and temporary and err.code in TOKEN_REJECTED_CODES:
                    log.info(
                        "temporary credentials rejected, assuming the role again "
                        "service=%s action=%s code=%s",
                        service,
                        action,
                        err.code,
                    )
                    self._principal.invalidate(creds)
                    continue
                raise
        raise AssertionError("unreachable")

    def _ecs(self, region: str, action: str, request: Any, *, idempotent: bool = True) -> dict[str, Any]:
        method = _snake(action)
        return self._call(
            "ecs",
            action,
            lambda creds: getattr(self._factory.ecs(creds, region, idempotent=idempotent), method)(request),
        )

    def _smc(self, action: str, request: Any, *, idempotent: bool = True) -> dict[str, Any]:
        method = _snake(action)
        return self._call(
            "smc",
            action,
            lambda creds: getattr(self._factory.smc(creds, idempotent=idempotent), method)(request),
        )

    def _smc_rpc(self, action: str, request: Any, *, idempotent: bool = True) -> dict[str, Any]:
        """`_smc` for the poller's hot path: the same request through the client's `call_api`
        (`sdk.call_rpc`), without the SDK's response model round trip."""
        return self._call(
            "smc",
            action,
            lambda creds: call_rpc(
                self._factory.smc(creds, idempotent=idempotent), action, SMC_API_VERSION, request
            ),
        )

    # ---- STS ----------------------------------------------------------------------------------

    def get_caller_identity(self) -> CallerIdentity:
        body = self._call(
            "sts", "GetCallerIdentity", lambda creds: self._factory.sts(creds).get_caller_identity()
        )
        return parse.caller_identity(body)

    # ---- ECS ----------------------------------------------------------------------------------

    def list_regions(self) -> list[Region]:
        region = self._factory.default_region
        body = self._ecs(region, "DescribeRegions", ecs_models.DescribeRegionsRequest())
        return [parse.region(r) for r in parse.items(body, "Regions", "Region")]

    def list_zones(self, region: str) -> list[Zone]:
        body = self._ecs(region, "DescribeZones", ecs_models.DescribeZonesRequest(region_id=region))
        return [parse.zone(z) for z in parse.items(body, "Zones", "Zone")]

    def list_instances(
        self,
        region: str,
        query: InstanceFilter | None = None,
        *,
        next_token: str | None = None,
        max_results: int = ECS_MAX_RESULTS,
    ) -> Page[Instance]:
        query = query or InstanceFilter()
        if len(query.instance_ids) > MAX_INSTANCE_IDS_PER_DESCRIBE:
            raise ValueError(
                f"at most {MAX_INSTANCE_IDS_PER_DESCRIBE} instance ids per page; use describe_instances"
            )
        request = ecs_models.DescribeInstancesRequest(
            region_id=region,
            instance_ids=json.dumps(list(query.instance_ids)) if query.instance_ids else None,
            instance_name=query.name,
            private_ip_addresses=json.dumps(list(query.private_ips)) if query.private_ips else None,
            instance_network_type="vpc" if query.private_ips else None,
            vpc_id=query.vpc_id,
            zone_id=query.zone_id,
            status=query.status,
            next_token=next_token or None,
            max_results=max(1, min(max_results, ECS_MAX_RESULTS)),
        )
        body = self._ecs(region, "DescribeInstances", request)
        return Page(
            items=tuple(parse.instance(i) for i in parse.items(body, "Instances", "Instance")),
            next_token=parse.opt_text(body, "NextToken"),
            total=parse.opt_int(body, "TotalCount"),
        )

    def describe_instances(self, region: str, instance_ids: Sequence[str]) -> list[Instance]:
        found: list[Instance] = []
        for batch in chunks(instance_ids, MAX_INSTANCE_IDS_PER_DESCRIBE):
            token: str | None = None
            for _ in range(_MAX_PAGES):
                page = self.list_instances(
                    region, InstanceFilter(instance_ids=tuple(batch)), next_token=token
                )
                found.extend(page.items)
                token = page.next_token
                if not token:
                    break
        return found

    def list_instance_disks(self, region: str, instance_id: str) -> list[InstanceDisk]:
        disks: list[InstanceDisk] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            request = ecs_models.DescribeDisksRequest(
                region_id=region, instance_id=instance_id, max_results=ECS_MAX_RESULTS, next_token=token
            )
            body = self._ecs(region, "DescribeDisks", request)
            disks.extend(parse.instance_disk(d) for d in parse.items(body, "Disks", "Disk"))
            token = parse.opt_text(body, "NextToken")
            if not token:
                break
        return disks

    def list_vpcs(self, region: str) -> list[Vpc]:
        return self._all_pages(
            lambda number: self._ecs(
                region,
                "DescribeVpcs",
                ecs_models.DescribeVpcsRequest(region_id=region, page_number=number, page_size=ECS_PAGE_SIZE),
            ),
            ("Vpcs", "Vpc"),
            parse.vpc,
        )

    def list_vswitches(
        self, region: str, *, vpc_id: str | None = None, zone_id: str | None = None
    ) -> list[VSwitch]:
        return self._all_pages(
            lambda number: self._ecs(
                region,
                "DescribeVSwitches",
                ecs_models.DescribeVSwitchesRequest(
                    region_id=region,
                    vpc_id=vpc_id,
                    zone_id=zone_id,
                    page_number=number,
                    page_size=ECS_PAGE_SIZE,
                ),
            ),
            ("VSwitches", "VSwitch"),
            parse.vswitch,
        )

    def list_security_groups(self, region: str, *, vpc_id: str) -> list[SecurityGroup]:
        groups: list[SecurityGroup] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            request = ecs_models.DescribeSecurityGroupsRequest(
                region_id=region, vpc_id=vpc_id, max_results=ECS_MAX_RESULTS, next_token=token
            )
            body = self._ecs(region, "DescribeSecurityGroups", request)
            groups.extend(
                parse.security_group(g) for g in parse.items(body, "SecurityGroups", "SecurityGroup")
            )
            token = parse.opt_text(body, "NextToken")
            if not token:
                break
        return groups

    def list_images(
        self,
        region: str,
        *,
        owner: ImageOwner = ImageOwner.SELF,
        name: str | None = None,
        image_ids: Sequence[str] = (),
        page_number: int = 1,
        page_size: int = 50,
    ) -> Page[Image]:
        request = ecs_models.DescribeImagesRequest(
            region_id=region,
            image_owner_alias=owner.value,
            image_name=name,
            image_id=",".join(image_ids) if image_ids else None,
            page_number=page_number,
            page_size=max(1, min(page_size, 100)),
        )
        body = self._ecs(region, "DescribeImages", request)
        return Page(
            items=tuple(parse.image(i, region) for i in parse.items(body, "Images", "Image")),
            page_number=parse.opt_int(body, "PageNumber") or page_number,
            page_size=parse.opt_int(body, "PageSize") or page_size,
            total=parse.opt_int(body, "TotalCount"),
        )

    def list_instance_types(self, region: str, *, family: str | None = None) -> list[InstanceType]:
        found: list[InstanceType] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            request = ecs_models.DescribeInstanceTypesRequest(
                instance_type_family=family, max_results=1600, next_token=token
            )
            body = self._ecs(region, "DescribeInstanceTypes", request)
            found.extend(parse.instance_type(t) for t in parse.items(body, "InstanceTypes", "InstanceType"))
            token = parse.opt_text(body, "NextToken")
            if not token:
                break
        return found

    def cloud_assistant_status(self, region: str, instance_ids: Sequence[str]) -> list[CloudAssistantStatus]:
        found: list[CloudAssistantStatus] = []
        for batch in chunks(instance_ids, CLOUD_ASSISTANT_BATCH):
            token: str | None = None
            for _ in range(_MAX_PAGES):
                request = ecs_models.DescribeCloudAssistantStatusRequest(
                    region_id=region, instance_id=batch, max_results=CLOUD_ASSISTANT_BATCH, next_token=token
                )
                body = self._ecs(region, "DescribeCloudAssistantStatus", request)
                found.extend(
                    parse.cloud_assistant_status(s)
                    for s in parse.items(
                        body, "InstanceCloudAssistantStatusSet", "InstanceCloudAssistantStatus"
                    )
                )
                token = parse.opt_text(body, "NextToken")
                if not token:
                    break
        return found

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
        if not instance_ids:
            raise ValueError("run_command needs at least one instance id")
        if len(instance_ids) > MAX_INSTANCES_PER_RUN_COMMAND:
            raise ValueError(f"RunCommand takes at most {MAX_INSTANCES_PER_RUN_COMMAND} instances per call")
        values: dict[str, str] = {}
        for key, value in parameters.items():
            if isinstance(value, Secret):
                self._scrub.register(value)
                values[key] = value.reveal()
            else:
                values[key] = value
        request = ecs_models.RunCommandRequest(
            region_id=region,
            instance_id=list(instance_ids),
            type=command_type.value,
            command_content=script,
            content_encoding="PlainText",
            enable_parameter=bool(values),
            parameters=values or None,
            name=name,
            timeout=timeout_s,
            keep_command=False,
            client_token=client_token,
        )
        body = self._ecs(region, "RunCommand", request, idempotent=client_token is not None)
        invoke_id = parse.opt_text(body, "InvokeId")
        if invoke_id is None:
            raise CloudError(
                "InvalidResponse", "RunCommand returned no InvokeId", service="ecs", action="RunCommand"
            )
        log.info("command sent region=%s instances=%s invoke_id=%s", region, len(instance_ids), invoke_id)
        return invoke_id

    def describe_invocation(self, region: str, invoke_id: str) -> Invocation:
        request = ecs_models.DescribeInvocationsRequest(
            region_id=region, invoke_id=invoke_id, include_output=True, content_encoding="Base64"
        )
        body = self._ecs(region, "DescribeInvocations", request)
        found = parse.items(body, "Invocations", "Invocation")
        if not found:
            raise CloudError(
                "InvalidInvokeId.NotFound",
                f"no Cloud Assistant invocation {invoke_id} in {region}",
                service="ecs",
                action="DescribeInvocations",
            )
        result = parse.invocation(found[0], base64_output=True)
        # The script's output is shown to users: mask any secret it may have echoed.
        return Invocation(
            invoke_id=result.invoke_id,
            status=result.status,
            instances=tuple(
                replace(i, output=self._scrub(i.output), error_info=self._scrub(i.error_info or "") or None)
                for i in result.instances
            ),
        )

    def run_instances(self, region: str, request: Mapping[str, Any]) -> list[str]:
        fields = {"RegionId": region, **request}
        built = request_from_map(ecs_models.RunInstancesRequest(), fields)
        body = self._ecs(region, "RunInstances", built, idempotent="ClientToken" in fields)
        return parse.strings(body, "InstanceIdSets", "InstanceIdSet")

    def delete_instance(self, region: str, instance_id: str, *, force: bool = True) -> None:
        self._ecs(
            region, "DeleteInstance", ecs_models.DeleteInstanceRequest(instance_id=instance_id, force=force)
        )

    def delete_image(self, region: str, image_id: str, *, force: bool = False) -> None:
        self._ecs(
            region,
            "DeleteImage",
            ecs_models.DeleteImageRequest(region_id=region, image_id=image_id, force=force),
        )

    # ---- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _all_pages(
        fetch: Callable[[int], dict[str, Any]], path: tuple[str, str], convert: Callable[[parse.Body], T]
    ) -> list[T]:
        found: list[T] = []
        for number in range(1, _MAX_PAGES + 1):
            body = fetch(number)
            page = parse.items(body, *path)
            found.extend(convert(item) for item in page)
            total = parse.opt_int(body, "TotalCount")
            size = parse.opt_int(body, "PageSize") or len(page)
            if not page or total is None or number * max(size, 1) >= total:
                break
        return found


class _SmcAccount(_Account):
    """SMC calls, on top of the account's ECS ones (the destination)."""

    def create_access_token(
        self, *, name: str, description: str = "", count: int = 1, ttl_days: int = 1
    ) -> NewAccessToken:
        request = smc_models.CreateAccessTokenRequest(
            name=name, description=description or None, count=str(count), time_to_live_in_days=str(ttl_days)
        )
        # No ClientToken on this call: retry only what the service refused (throttling).
        body = self._smc("CreateAccessToken", request, idempotent=False)
        token_id, code = parse.opt_text(body, "AccessTokenId"), parse.opt_text(body, "AccessTokenCode")
        if token_id is None or code is None:
            raise CloudError(
                "InvalidResponse",
                "CreateAccessToken returned no token",
                service="smc",
                action="CreateAccessToken",
            )
        self._scrub.register(code)
        log.info("access token created token_id=%s uses=%s ttl_days=%s", token_id, count, ttl_days)
        return NewAccessToken(id=token_id, code=Secret(code))

    def list_access_tokens(
        self,
        *,
        token_ids: Sequence[str] = (),
        name: str | None = None,
        status: AccessTokenStatus | None = None,
    ) -> list[AccessToken]:
        request = smc_models.ListAccessTokensRequest(
            access_token_id=list(token_ids) or None, name=name, status=status.value if status else None
        )
        body = self._smc("ListAccessTokens", request)
        return [parse.access_token(t) for t in parse.items(body, "AccessTokens", "AccessToken")]

    def delete_access_token(self, token_id: str) -> None:
        self._smc("DeleteAccessToken", smc_models.DeleteAccessTokenRequest(access_token_id=token_id))

    def describe_source_servers(self, source_ids: Sequence[str]) -> list[SourceServer]:
        found: list[SourceServer] = []
        for batch in chunks(source_ids, SMC_PAGE_SIZE):
            request = smc_models.DescribeSourceServersRequest(
                source_id=batch, page_size=SMC_PAGE_SIZE, page_number=1
            )
            body = self._smc("DescribeSourceServers", request)
            found.extend(parse.source_server(s) for s in parse.items(body, "SourceServers", "SourceServer"))
        return found

    def list_source_servers(
        self,
        *,
        state: SourceServerState | None = None,
        name: str | None = None,
        page_number: int = 1,
        page_size: int = SMC_PAGE_SIZE,
    ) -> Page[SourceServer]:
        request = smc_models.DescribeSourceServersRequest(
            state=state.value if state else None,
            name=name,
            page_number=page_number,
            page_size=max(1, min(page_size, SMC_PAGE_SIZE)),
        )
        body = self._smc("DescribeSourceServers", request)
        return Page(
            items=tuple(parse.source_server(s) for s in parse.items(body, "SourceServers", "SourceServer")),
            page_number=parse.opt_int(body, "PageNumber") or page_number,
            page_size=parse.opt_int(body, "PageSize") or page_size,
            total=parse.opt_int(body, "TotalCount"),
        )

    def create_replication_job(self, request: Mapping[str, Any]) -> str:
        built = request_from_map(smc_models.CreateReplicationJobRequest(), request)
        # ClientToken makes a repeat return the same job, so 5xx and timeouts may be retried.
        body = self._smc("CreateReplicationJob", built, idempotent="ClientToken" in request)
        job_id = parse.opt_text(body, "JobId")
        if job_id is None:
            raise CloudError(
                "InvalidResponse",
                "CreateReplicationJob returned no JobId",
                service="smc",
                action="CreateReplicationJob",
            )
        log.info("replication job created job_id=%s source_id=%s", job_id, request.get("SourceId"))
        return job_id

    def start_replication_job(self, job_id: str) -> None:
        self._job_action("StartReplicationJob", smc_models.StartReplicationJobRequest(job_id=job_id), job_id)

    def stop_replication_job(self, job_id: str) -> None:
        self._job_action("StopReplicationJob", smc_models.StopReplicationJobRequest(job_id=job_id), job_id)

    def delete_replication_job(self, job_id: str) -> None:
        self._job_action(
            "DeleteReplicationJob", smc_models.DeleteReplicationJobRequest(job_id=job_id), job_id
        )

    def cut_over_replication_job(self, job_id: str, *, sync_data: bool = True) -> None:
        request = smc_models.CutOverReplicationJobRequest(job_id=job_id, sync_data=sync_data)
        self._job_action("CutOverReplicationJob", request, job_id)

    def modify_replication_job(self, job_id: str, attributes: Mapping[str, Any]) -> None:
        built = request_from_map(
            smc_models.ModifyReplicationJobAttributeRequest(), {**attributes, "JobId": job_id}
        )
        self._job_action("ModifyReplicationJobAttribute", built, job_id, idempotent=True)

    def _job_action(self, action: str, request: Any, job_id: str, *, idempotent: bool = False) -> None:
        # A state change repeated after a lost answer fails with InvalidStatus: retry throttling only.
        self._smc(action, request, idempotent=idempotent)
        log.info("replication job action=%s job_id=%s", action, job_id)

    def describe_replication_jobs(self, region: str, job_ids: Sequence[str]) -> list[ReplicationJob]:
        found: list[ReplicationJob] = []
        for batch in chunks(job_ids, MAX_JOB_IDS_PER_DESCRIBE):
            request = smc_models.DescribeReplicationJobsRequest(
                region_id=region, job_id=batch, page_size=SMC_PAGE_SIZE, page_number=1
            )
            body = self._smc_rpc("DescribeReplicationJobs", request)
            found.extend(
                parse.replication_job(j) for j in parse.items(body, "ReplicationJobs", "ReplicationJob")
            )
        return found

    def list_replication_jobs(
        self,
        region: str | None = None,
        *,
        name: str | None = None,
        status: JobStatus | None = None,
        source_ids: Sequence[str] = (),
        page_number: int = 1,
        page_size: int = SMC_PAGE_SIZE,
    ) -> Page[ReplicationJob]:
        request = smc_models.DescribeReplicationJobsRequest(
            region_id=region,
            name=name,
            status=status.value if status else None,
            source_id=list(source_ids) or None,
            page_number=page_number,
            page_size=max(1, min(page_size, SMC_PAGE_SIZE)),
        )
        body = self._smc_rpc("DescribeReplicationJobs", request)
        return Page(
            items=tuple(
                parse.replication_job(j) for j in parse.items(body, "ReplicationJobs", "ReplicationJob")
            ),
            page_number=parse.opt_int(body, "PageNumber") or page_number,
            page_size=parse.opt_int(body, "PageSize") or page_size,
            total=parse.opt_int(body, "TotalCount"),
        )


class AliyunSourceCloud(_Account):
    """ECS of a source account (SourceCloud)."""

    def __init__(self, account_id: str | None, *args: Any) -> None:
        super().__init__(*args)
        self._account_id = account_id

    @property
    def account_id(self) -> str | None:
        return self._account_id


class AliyunDestinationCloud(_SmcAccount):
    """SMC + ECS of a destination account (DestinationCloud)."""

    def __init__(self, credential_ref: str, *args: Any) -> None:
        super().__init__(*args)
        self._credential_ref = credential_ref

    @property
    def credential_ref(self) -> str:
        return self._credential_ref


class AliyunCloudGateway:
    """The CloudGateway: the bot's own account, and others reached by STS AssumeRole."""

    def __init__(
        self,
        config: CloudConfig,
        *,
        observer: CallObserver | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        protect_transport_logs()
        self._scrub = Scrubber()
        self._scrub.register(config.access_key_secret)
        self._factory = ClientFactory(config)
        self._invoker = Invoker(self._scrub, observer)
        self._own_account: str | None = None
        self._own_lock = threading.Lock()
        assumer = StsRoleAssumer(
            self._factory,
            self._invoker,
            self._scrub,
            session_name=config.role_session_name,
            duration_s=config.role_duration_s,
            caller_account=self._own_account_id,
        )
        self._roles = RoleCredentialCache(
            assumer,
            refresh_margin=timedelta(seconds=config.refresh_margin_s),
            max_lifetime=timedelta(seconds=max(config.role_duration_s, 900)),
            clock=clock,
        )

    @property
    def scrub(self) -> Scrubber:
        """The gateway's scrubber (knows every secret it has seen); for log filters."""
        return self._scrub

    def destination(self, credential_ref: str = DEFAULT_CREDENTIAL_REF) -> AliyunDestinationCloud:
        role = parse_credential_ref(credential_ref)
        return AliyunDestinationCloud(
            credential_ref, self._principal(role), self._factory, self._invoker, self._scrub
        )

    def source(self, account_id: str | None, role_name: str | None) -> AliyunSourceCloud:
        """Same-account when no role is given; otherwise AssumeRole into acs:ram::<account>:role/<role>."""
        if role_name and not account_id:
            raise ValueError("a source role needs the source account id")
        role = (account_id, role_name) if account_id and role_name else None
        return AliyunSourceCloud(account_id, self._principal(role), self._factory, self._invoker, self._scrub)

    def _principal(self, role: tuple[str, str] | None) -> _Principal:
        return _Principal(self._roles, role)

    def _own_account_id(self) -> str | None:
        """The destination account id, looked up once, for AssumeRole refusal messages."""
        with self._own_lock:
            if self._own_account is None:
                try:
                    self._own_account = self.destination().get_caller_identity().account_id or None
                except CloudError:
                    return None
            return self._own_account


_SDK_METHOD_NAMES = {"DescribeVSwitches": "describe_vswitches"}


def _snake(action: str) -> str:
    """The SDK method for an API action: DescribeInstances → describe_instances."""
    if action in _SDK_METHOD_NAMES:
        return _SDK_METHOD_NAMES[action]
    out = [action[0].lower()]
    for char in action[1:]:
        out.append(f"_{char.lower()}" if char.isupper() else char)
    return "".join(out)
