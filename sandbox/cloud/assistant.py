"""ECS Cloud Assistant: RunCommand, invocations and agent status, and SMC client activation through it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta
from typing import Any

from sandbox.cloud.api import Context, Handler
from sandbox.cloud.faults import Faults
from sandbox.cloud.ids import IdFactory
from sandbox.cloud.protocol import (
    ApiError,
    Params,
    invalid_param,
    iso,
    newest_first,
    page_by_number,
    page_by_token,
    slice_page,
    uses_token_paging,
)
from sandbox.cloud.replication import refresh_source_state
from sandbox.cloud.resources import source_from_instance
from sandbox.cloud.world import (
    AccessToken,
    Instance,
    Invocation,
    InvokeInstance,
    SourceState,
    World,
)

COMMAND_TYPES = {"RunShellScript": "linux", "RunBatScript": "windows", "RunPowerShellScript": "windows"}
MAX_CONTENT_BYTES = 24 * 1024
_TOKEN_ID = re.compile(r"^at-[0-9a-z]+$")


def agent_online(instance: Instance, now: datetime, faults: Faults) -> bool:
    """Cloud Assistant has a heartbeat: installed, not forced offline, instance running and booted."""
    if not instance.cloud_assistant or faults.agent_offline(instance.instance_id):
        return False
    if instance.status != "Running":
        return False
    return instance.assistant_ready_at is None or now >= instance.assistant_ready_at


def _status_at(item: InvokeInstance, now: datetime) -> str:
    if now < item.start_at:
        return "Pending"
    if item.final_status == "Aborted":
        return "Aborted"
    if now < item.finish_at:
        return "Running"
    return item.final_status


def _overall(statuses: list[str]) -> str:
    if any(status == "Pending" for status in statuses):
        return "Pending"
    if any(status == "Running" for status in statuses):
        return "Running"
    if all(status == "Success" for status in statuses):
        return "Success"
    if all(status in ("Failed", "Aborted") for status in statuses):
        return "Failed"
    return "PartialFailed"


def _legacy_status(overall: str) -> str:
    return {"Pending": "Running", "Running": "Running", "Success": "Finished"}.get(overall, overall)


def _instance_legacy_status(status: str) -> str:
    return {"Pending": "Running", "Success": "Finished", "Aborted": "Failed"}.get(status, status)


def _encode(text: str, encoding: str) -> str:
    if encoding == "PlainText":
        return text
    return base64.b64encode(text.encode()).decode()


class ActivationAttempt:
    """What a RunCommand's parameters say about an SMC activation: token id and/or code."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.token_id = next((value for value in parameters.values() if _TOKEN_ID.match(value)), "")
        self.code = next(
            (value for key, value in parameters.items() if "code" in key.lower() and value),
            "",
        )

    @property
    def present(self) -> bool:
        """The command carries an activation (token id or a `…code…` parameter)."""
        return bool(self.token_id or self.code)

    def resolve(self, world: World) -> AccessToken | None:
        """The access token named by id, or found by its code."""
        if self.token_id:
            return world.access_tokens.get(self.token_id)
        return next((item for item in world.access_tokens.values() if item.code == self.code), None)

    def problem(self, world: World, now: datetime) -> str:
        """Why this activation would be refused; '' when it is valid now."""
        token = self.resolve(world)
        label = self.token_id or "(no AccessTokenId)"
        if token is None or not self.code or token.code != self.code:
            return f"the activation code is invalid for AccessTokenId {label}"
        if token.disabled:
            return f"the activation code {token.token_id} has been disabled"
        if now >= token.expires():
            return f"the activation code {token.token_id} has expired"
        if token.registered_count >= token.count:
            return f"the activation code {token.token_id} has reached its usage limit (Count={token.count})"
        return ""


def _activation_output(instance: Instance, token_id: str, problem: str) -> str:
    if problem:
        return (
            "[SMC] Installing SMC client (go2aliyun_client)... done\n"
            f"[SMC] Registering {instance.hostname or instance.name} with Server Migration Center...\n"
            f"[SMC] Error: {problem}.\n"
            "[SMC] Create a new activation code with CreateAccessToken and run the import again.\n"
        )
    return (
        "[SMC] Installing SMC client (go2aliyun_client)... done\n"
        f"[SMC] Registering {instance.hostname or instance.name} with Server Migration Center "
        f"(AccessTokenId {token_id})...\n"
        "[SMC] Registered. The SMC client keeps running in the background.\n"
    )


def run_command(ctx: Context, params: Params) -> dict[str, Any]:
    """RunCommand: run a script on up to 100 instances; SMC activation parameters register sources."""
    region_id = ctx.require_region(params.text("RegionId"))
    command_type = params.require_text("Type")
    if command_type not in COMMAND_TYPES:
        raise ApiError(404, "InvalidCmdType.NotFound", "The specified command type does not exist.")
    content = params.require_text("CommandContent")
    encoding = params.text("ContentEncoding") or "PlainText"
    if encoding not in ("PlainText", "Base64"):
        raise invalid_param("ContentEncoding")
    if encoding == "Base64":
        try:
            content = base64.b64decode(content, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(
                400, "CmdContent.DecodeError", "The CommandContent can not be base64 decoded."
            ) from None
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise ApiError(
            403, "CmdContent.ExceedLimit", "The length of the command content exceeds the upper limit."
        )
    instance_ids = params.repeat("InstanceId")
    if not instance_ids:
        raise ApiError(400, "MissingParam.InstanceId", "The parameter instanceId is missing or empty.")
    if len(instance_ids) > 100:
        raise ApiError(403, "InstanceIds.ExceedLimit", "The number of instance IDs exceeds the upper limit.")
    parameters = _parameters(params)
    enable = params.bool_or("EnableParameter", False)
    if parameters and not enable:
        raise ApiError(
            400,
            "Parameter.Disabled",
            "Parameters should not be passed when CreateCommand.EnableParameter is false.",
        )
    instances: list[Instance] = []
    for instance_id in instance_ids:
        instance = ctx.world.instances.get(instance_id)
        if (
            instance is None
            or instance.account_uid != ctx.caller.account_uid
            or instance.region_id != region_id
        ):
            raise ApiError(404, "InvalidInstance.NotFound", "The specified instance does not exist.")
        if COMMAND_TYPES[command_type] != instance.os.os_type:
            raise ApiError(
                400, "InvalidInstance.NotMatch", "The specified instance type does not match the command."
            )
        instances.append(instance)
    attempt = ActivationAttempt(parameters)
    timings = ctx.world.timings
    start_at = ctx.now + timedelta(seconds=timings.invocation_pending)
    finish_at = start_at + timedelta(seconds=timings.invocation_running)
    items = [_plan(ctx, instance, attempt, start_at, finish_at) for instance in instances]
    invocation = Invocation(
        invoke_id=ctx.ids.new("t", region_id),
        command_id=ctx.ids.new("c", region_id),
        account_uid=ctx.caller.account_uid,
        region_id=region_id,
        command_type=command_type,
        content=content,
        parameters=parameters,
        created=ctx.now,
        instances=items,
        name=params.text("Name") or "",
        description=params.text("Description") or "",
        timeout=params.int_or("Timeout", 60, minimum=10, maximum=86400),
        username=params.text("Username") or "",
        working_dir=params.text("WorkingDir") or "",
        token_id=attempt.token_id,
    )
    ctx.world.invocations[invocation.invoke_id] = invocation
    for instance in instances:
        instance.invocation_count += 1
        instance.last_invoked = ctx.now
    return {"CommandId": invocation.command_id, "InvokeId": invocation.invoke_id}


def _parameters(params: Params) -> dict[str, str]:
    raw = params.text("Parameters")
    if raw is None:
        return {}
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError:
        raise ApiError(
            400, "InvalidParameter.Parameters", "The specified parameter Parameters is not valid."
        ) from None
    if not isinstance(decoded, dict):
        raise ApiError(400, "InvalidParameter.Parameters", "The specified parameter Parameters is not valid.")
    return {
        str(key): value if isinstance(value, str) else json.dumps(value) for key, value in decoded.items()
    }


def _plan(
    ctx: Context, instance: Instance, attempt: ActivationAttempt, start_at: datetime, finish_at: datetime
) -> InvokeInstance:
    item = InvokeInstance(
        instance_id=instance.instance_id, created=ctx.now, start_at=start_at, finish_at=finish_at
    )
    if instance.status != "Running":
        item.final_status, item.finish_at = "Aborted", start_at
        item.error_code, item.error_info = (
            "InstanceNotRunning",
            "the instance is not running when create task",
        )
        item.exit_code = -1
        return item
    if not agent_online(instance, ctx.now, ctx.faults):
        item.final_status, item.finish_at = "Aborted", start_at
        item.error_code, item.error_info = (
            "ClientNotRunning",
            "the aliyun service is not running on the instance",
        )
        item.exit_code = -1
        return item
    scripted = ctx.faults.command_failure(instance.instance_id)
    if scripted is not None:
        item.final_status, item.exit_code, item.output = "Failed", scripted.exit_code, scripted.output
        item.error_code, item.error_info = scripted.error_code, scripted.error_info
        return item
    if not attempt.present:
        item.output = f"command finished on {instance.hostname or instance.name}\n"
        return item
    problem = attempt.problem(ctx.world, ctx.now)
    item.output = _activation_output(instance, attempt.token_id, problem)
    if problem:
        item.final_status, item.exit_code = "Failed", 1
        item.error_code, item.error_info = "ExitCodeNonzero", "the command execution exit code is not zero"
        return item
    item.registers_source = True
    item.register_at = finish_at + timedelta(seconds=ctx.world.timings.source_register_delay)
    return item


def advance_invocations(world: World, ids: IdFactory, now: datetime) -> None:
    """Register source servers whose activation finished (in the activation code's account)."""
    for invocation in world.invocations.values():
        attempt_token = invocation.token_id
        for item in invocation.instances:
            if (
                not item.registers_source
                or item.registered
                or item.register_at is None
                or now < item.register_at
            ):
                continue
            item.registered = True
            instance = world.instances.get(item.instance_id)
            attempt = ActivationAttempt(invocation.parameters)
            token = attempt.resolve(world) if attempt_token or attempt.code else None
            if instance is None or token is None or attempt.problem(world, item.register_at):
                continue
            _register(world, ids, token, instance, item.register_at)


def _register(world: World, ids: IdFactory, token: AccessToken, instance: Instance, when: datetime) -> None:
    existing = next(
        (
            source
            for source in world.source_servers.values()
            if source.account_uid == token.account_uid
            and source.instance_id == instance.instance_id
            and source.state != SourceState.DELETING
        ),
        None,
    )
    if existing is not None:
        if existing.state == SourceState.UNAVAILABLE:
            existing.state = SourceState.AVAILABLE
            existing.error_code = ""
            existing.status_info = ""
        refresh_source_state(world, existing.source_id)
        return
    source_from_instance(world, ids, account_uid=token.account_uid, instance=instance, now=when)
    token.registered_count += 1


def describe_invocations(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeInvocations: newest first, statuses as of now, Output (Base64 by default) on request."""
    region_id = ctx.require_region(params.text("RegionId"))
    invoke_id = params.text("InvokeId")
    instance_id = params.text("InstanceId")
    command_type = params.text("CommandType")
    invoke_status = params.text("InvokeStatus")
    encoding = params.text("ContentEncoding") or "Base64"
    include_output = params.bool_or("IncludeOutput", False)
    token_mode = uses_token_paging(params)
    if token_mode:
        page = page_by_token(params, default_size=10, max_size=50)
    else:
        page = page_by_number(params, default_size=10, max_size=50, code="InvalidParam.PageSize")
    rows: list[dict[str, Any]] = []
    for invocation in newest_first(ctx.world.invocations.values(), lambda item: item.created):
        if invocation.account_uid != ctx.caller.account_uid or invocation.region_id != region_id:
            continue
        if invoke_id and invocation.invoke_id != invoke_id:
            continue
        if command_type and invocation.command_type != command_type:
            continue
        items = [item for item in invocation.instances if not instance_id or item.instance_id == instance_id]
        if not items:
            continue
        statuses = [_status_at(item, ctx.now) for item in items]
        overall = _overall(statuses)
        if invoke_status and _legacy_status(overall) != invoke_status and overall != invoke_status:
            continue
        rows.append(
            _invocation_view(
                invocation,
                items,
                statuses=statuses,
                overall=overall,
                now=ctx.now,
                encoding=encoding,
                include_output=include_output,
            )
        )
    chunk, next_token = slice_page(rows, page)
    return {
        "TotalCount": len(rows),
        "PageNumber": page.number,
        "PageSize": page.size,
        "NextToken": next_token if token_mode else "",
        "Invocations": {"Invocation": chunk},
    }


def _invocation_view(
    invocation: Invocation,
    items: list[InvokeInstance],
    *,
    statuses: list[str],
    overall: str,
    now: datetime,
    encoding: str,
    include_output: bool,
) -> dict[str, Any]:
    instances = []
    for item, status in zip(items, statuses, strict=True):
        finished = status not in ("Pending", "Running")
        view: dict[str, Any] = {
            "InstanceId": item.instance_id,
            "CreationTime": iso(item.created),
            "UpdateTime": iso(min(now, item.finish_at) if finished else now),
            "StartTime": iso(item.start_at) if now >= item.start_at and status != "Aborted" else "",
            "FinishTime": iso(item.finish_at) if finished else "",
            "StopTime": "",
            "InvocationStatus": status,
            "InstanceInvokeStatus": _instance_legacy_status(status),
            "Repeats": 1 if finished and status != "Aborted" else 0,
            "ExitCode": item.exit_code if finished else 0,
            "ErrorCode": item.error_code if finished else "",
            "ErrorInfo": item.error_info if finished else "",
            "Dropped": 0,
            "Timed": False,
        }
        if include_output:
            view["Output"] = _encode(item.output if finished else "", encoding)
        instances.append(view)
    return {
        "InvokeId": invocation.invoke_id,
        "CommandId": invocation.command_id,
        "CommandName": invocation.name,
        "CommandDescription": invocation.description,
        "CommandType": invocation.command_type,
        "CommandContent": _encode(invocation.content, encoding),
        "Parameters": json.dumps(invocation.parameters),
        "CreationTime": iso(invocation.created),
        "InvocationStatus": overall,
        "InvokeStatus": _legacy_status(overall),
        "RepeatMode": "Once",
        "Frequency": "",
        "Timed": False,
        "Timeout": invocation.timeout,
        "Username": invocation.username or "root",
        "WorkingDir": invocation.working_dir,
        "ContainerId": "",
        "ContainerName": "",
        "TerminationMode": "Process",
        "InvokeInstances": {"InvokeInstance": instances},
        "Tags": {"Tag": []},
    }


def describe_invocation_results(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeInvocationResults: one row per (invocation, instance)."""
    region_id = ctx.require_region(params.text("RegionId"))
    invoke_id = params.text("InvokeId")
    instance_id = params.text("InstanceId")
    command_id = params.text("CommandId")
    record_status = params.text("InvokeRecordStatus")
    encoding = params.text("ContentEncoding") or "Base64"
    token_mode = uses_token_paging(params)
    if token_mode:
        page = page_by_token(params, default_size=10, max_size=50)
    else:
        page = page_by_number(params, default_size=10, max_size=50, code="InvalidParam.PageSize")
    rows: list[dict[str, Any]] = []
    for invocation in newest_first(ctx.world.invocations.values(), lambda item: item.created):
        if invocation.account_uid != ctx.caller.account_uid or invocation.region_id != region_id:
            continue
        if (invoke_id and invocation.invoke_id != invoke_id) or (
            command_id and invocation.command_id != command_id
        ):
            continue
        for item in invocation.instances:
            if instance_id and item.instance_id != instance_id:
                continue
            status = _status_at(item, ctx.now)
            finished = status not in ("Pending", "Running")
            legacy = "Running" if not finished else ("Finished" if status == "Success" else "Failed")
            if record_status and legacy != record_status:
                continue
            rows.append(
                {
                    "InvokeId": invocation.invoke_id,
                    "CommandId": invocation.command_id,
                    "InstanceId": item.instance_id,
                    "InvocationStatus": status,
                    "InvokeRecordStatus": legacy,
                    "Output": _encode(item.output if finished else "", encoding),
                    "ExitCode": item.exit_code if finished else 0,
                    "ErrorCode": item.error_code if finished else "",
                    "ErrorInfo": item.error_info if finished else "",
                    "StartTime": iso(item.start_at) if ctx.now >= item.start_at else "",
                    "FinishedTime": iso(item.finish_at) if finished else "",
                    "StopTime": "",
                    "Repeats": 1 if finished else 0,
                    "Dropped": 0,
                    "Username": invocation.username or "root",
                    "ContainerId": "",
                    "ContainerName": "",
                    "TerminationMode": "Process",
                    "Tags": {"Tag": []},
                }
            )
    chunk, next_token = slice_page(rows, page)
    return {
        "Invocation": {
            "TotalCount": len(rows),
            "PageNumber": page.number,
            "PageSize": page.size,
            "NextToken": next_token if token_mode else "",
            "InvocationResults": {"InvocationResult": chunk},
        }
    }


def describe_cloud_assistant_status(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeCloudAssistantStatus: `CloudAssistantStatus` is the string "true"/"false"."""
    region_id = ctx.require_region(params.text("RegionId"))
    instance_ids = params.repeat("InstanceId")
    if len(instance_ids) > 100:
        raise ApiError(403, "InstanceIds.ExceedLimit", "The number of instance IDs exceeds the upper limit.")
    os_type = params.text("OSType")
    token_mode = uses_token_paging(params)
    if token_mode:
        page = page_by_token(params, default_size=10, max_size=50)
    else:
        page = page_by_number(params, default_size=10, max_size=50, code="InvalidParam.PageSize")
    mine = {
        instance.instance_id: instance
        for instance in ctx.world.account_instances(ctx.caller.account_uid, region_id)
    }
    if instance_ids:
        missing = [instance_id for instance_id in instance_ids if instance_id not in mine]
        if missing:
            raise ApiError(404, "InvalidInstance.NotFound", "The specified instance does not exist.")
        selected = [mine[instance_id] for instance_id in instance_ids]
    else:
        selected = sorted(mine.values(), key=lambda item: item.instance_id)
    if os_type:
        selected = [item for item in selected if item.os.os_type == os_type.lower()]
    rows = [_assistant_view(ctx, instance) for instance in selected]
    if instance_ids:
        chunk, next_token = rows, ""
    else:
        chunk, next_token = slice_page(rows, page)
    return {
        "TotalCount": len(rows),
        "PageNumber": page.number,
        "PageSize": page.size,
        "NextToken": next_token if token_mode else "",
        "InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": chunk},
    }


def _assistant_view(ctx: Context, instance: Instance) -> dict[str, Any]:
    online = agent_online(instance, ctx.now, ctx.faults)
    active = sum(
        1
        for invocation in ctx.world.invocations.values()
        for item in invocation.instances
        if item.instance_id == instance.instance_id and _status_at(item, ctx.now) in ("Pending", "Running")
    )
    if online:
        heartbeat = iso(ctx.now - timedelta(seconds=20))
    elif instance.cloud_assistant:
        heartbeat = iso(max(instance.created, ctx.now - timedelta(minutes=15)))
    else:
        heartbeat = ""
    return {
        "InstanceId": instance.instance_id,
        "CloudAssistantStatus": "true" if online else "false",
        "CloudAssistantVersion": instance.cloud_assistant_version if instance.cloud_assistant else "",
        "LastHeartbeatTime": heartbeat,
        "OSType": "Windows" if instance.os.is_windows else "Linux",
        "ActiveTaskCount": active,
        "InvocationCount": instance.invocation_count,
        "LastInvokedTime": iso(instance.last_invoked) if instance.last_invoked else "",
        "SupportSessionManager": online,
    }


ACTIONS: dict[str, Handler] = {
    "RunCommand": run_command,
    "DescribeInvocations": describe_invocations,
    "DescribeInvocationResults": describe_invocation_results,
    "DescribeCloudAssistantStatus": describe_cloud_assistant_status,
}
