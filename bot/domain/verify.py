"""Verify (issue 7 item 4): launch a pay-as-you-go instance from the migrated image, wait until it runs with
Cloud Assistant online, report, and release it — also when the check fails.

Like Alibaba's `ACS-SMC-CreateAndVerifyInstance`. The `verify` task runs in steps (it returns a timedelta
while it waits) and keeps its progress in its own outbox payload; the check instance has a name derived
from the request and round, so a run that died after RunInstances finds its instance instead of
launching a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.cloud.ports import (
    CloudError,
    CloudGateway,
    DestinationCloud,
    Instance,
    InstanceFilter,
    SecurityGroup,
    VSwitch,
)
from bot.domain import notifications
from bot.domain.audit import SYSTEM_ACTOR, cloud_action
from bot.domain.execution import RequestSnapshot, load_snapshot
from bot.domain.notifications import Event
from bot.worker import TaskResult, WorkContext
from storage import repository as repo
from storage.db import Database
from storage.enums import AuditOutcome, OutboxKind, RequestState, TargetType

log = logging.getLogger(__name__)

VERIFY_TASK = "verify"
POLL_EVERY = timedelta(seconds=15)
RELEASE_RETRY = timedelta(seconds=30)
RELEASE_ATTEMPTS = 5
BOOT_DEADLINE = timedelta(minutes=20)
"""ECS instances are usually Running within a minute or two and Cloud Assistant online a minute later."""

RUNNING = "Running"


def check_instance_name(request_id: str, round_: int) -> str:
    """The check instance's name: found again by a run that died after RunInstances."""
    return f"smc-verify-{request_id}-{round_}"


def verify_key(request_id: str, round_: int) -> str:
    return f"work:{request_id}:{round_}:verify:run"


@dataclass(frozen=True)
class _Target:
    """Where and from what the check instance launches."""

    region_id: str
    image_id: str
    vswitch_id: str
    security_group_id: str
    instance_type: str


class VerifyService:
    """Starts verification after an approved Verify round, and runs the `verify` task."""

    def __init__(
        self, db: Database, cloud: CloudGateway, *, clock: Callable[[], datetime], kick: Callable[[], None]
    ) -> None:
        self._db = db
        self._cloud = cloud
        self._clock = clock
        self._kick = kick

    def begin(self, req: RequestSnapshot) -> TaskResult:
        """The approved Verify round: the request is completed again, and the check is queued (once)."""
        if req.params.target_type is not TargetType.IMAGE or req.job_id is None:
            log.warning("verify for a request without an image job request_id=%s", req.id)
            return None
        with self._db.unit_of_work() as session:
            repo.transition_request(session, req.id, RequestState.APPROVED, RequestState.COMPLETED)
            repo.enqueue(
                session,
                verify_key(req.id, req.round),
                OutboxKind.WORK,
                {"task": VERIFY_TASK, "request_id": req.id, "round": req.round, "phase": "launch"},
                request_id=req.id,
            )
            notifications.refresh_request_summary(session, req.id, req.channel_id)
        self._kick()
        return None

    # ---- the task ----------------------------------------------------------------------------------

    def run(self, payload: Mapping[str, Any], ctx: WorkContext) -> TaskResult:
        """One step of a verification; the phase and what it found live in the payload."""
        state = dict(payload)
        with self._db.unit_of_work() as session:
            req = load_snapshot(session, str(state["request_id"]))
        if req is None:
            return None
        dest = self._cloud.destination(req.credential_ref)
        phase = str(state.get("phase", "launch"))
        if phase == "launch":
            return self._launch(req, dest, state, ctx)
        if phase == "wait":
            return self._wait(req, dest, state, ctx)
        return self._release(req, dest, state, ctx.key)

    def _launch(
        self, req: RequestSnapshot, dest: DestinationCloud, state: dict[str, Any], ctx: WorkContext
    ) -> TaskResult:
        round_ = int(state["round"])
        name = check_instance_name(req.id, round_)
        region = req.params.region_id
        try:
            existing = _by_name(dest, region, name)
            target = self._target(req, dest, state) if existing is None else None
        except CloudError as err:
            return self._finish(req, state, passed=False, reason=_cloud_reason(err), error=err)
        if existing is None and target is None:
            return self._finish(req, state, passed=False, reason=str(state.get("reason")))
        if existing is not None:
            instance_id = existing.id
            log.info("verify instance found again request_id=%s instance_id=%s", req.id, instance_id)
        else:
            assert target is not None
            state.update(
                image_id=target.image_id,
                vswitch_id=target.vswitch_id,
                security_group_id=target.security_group_id,
                instance_type=target.instance_type,
            )
            try:
                ids = dest.run_instances(
                    region,
                    {
                        "ImageId": target.image_id,
                        "InstanceType": target.instance_type,
                        "VSwitchId": target.vswitch_id,
                        "SecurityGroupId": target.security_group_id,
                        "InstanceName": name,
                        "InstanceChargeType": "PostPaid",
                        "Description": f"smc-chatops verification of {req.id}; released after the check",
                        "ClientToken": f"{req.id}-verify-{round_}",
                        "Tag": [{"Key": "smc-chatops", "Value": f"verify:{req.id}"}],
                    },
                )
            except CloudError as err:
                return self._finish(req, state, passed=False, reason=_cloud_reason(err), error=err)
            if not ids:
                return self._finish(req, state, passed=False, reason="RunInstances returned no instance.")
            instance_id = ids[0]
        now = self._clock()
        state.update(phase="wait", instance_id=instance_id, launched_at=now.isoformat())
        with self._db.unit_of_work() as session:
            repo.update_outbox_payload(session, ctx.key, state)
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name=f"verify:{round_}:launched",
                event=Event.VERIFY_REPORT,
                data={"phase": "launched", **_public(state)},
            )
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action=cloud_action("RunInstances"),
                team_id=req.team_id,
                channel_id=req.channel_id,
                request_id=req.id,
                params_hash=req.params_hash,
                detail={
                    "instance_id": instance_id,
                    "image_id": state.get("image_id"),
                    "security_group_id": state.get("security_group_id"),
                    "purpose": "verify",
                },
            )
        self._kick()
        return POLL_EVERY

    def _target(self, req: RequestSnapshot, dest: DestinationCloud, state: dict[str, Any]) -> _Target | None:
        """Image, vSwitch, security group and instance type; None (and `state["reason"]` says why) when one
        is missing."""
        region = req.params.region_id
        image_id = _image_of(dest, req)
        if image_id is None:
            state["reason"] = f"The job of {req.id} has no image yet, so there is nothing to launch."
            return None
        vswitch = _vswitch(dest, region, req.params.vswitch_id)
        if vswitch is None:
            state["reason"] = (
                f"{region} has no vSwitch with a free address for the check instance: create one, "
                "then Verify."
                if req.params.vswitch_id is None
                else f"vSwitch {req.params.vswitch_id} no longer exists in {region}: create one, then Verify."
            )
            return None
        group = _security_group(dest, region, vswitch.vpc_id)
        if group is None:
            state["reason"] = (
                f"VPC {vswitch.vpc_id} has no security group, and ECS launches no instance without one: "
                f"create a security group in VPC {vswitch.vpc_id} ({region}), then Verify again."
            )
            return None
        instance_type = req.params.instance_type or _smallest_type(dest, region)
        if instance_type is None:
            state["reason"] = f"No instance type is offered in {region}."
            return None
        return _Target(region, image_id, vswitch.id, group.id, instance_type)

    def _wait(
        self, req: RequestSnapshot, dest: DestinationCloud, state: dict[str, Any], ctx: WorkContext
    ) -> TaskResult:
        region, instance_id = req.params.region_id, str(state["instance_id"])
        now = self._clock()
        overdue = now - datetime.fromisoformat(str(state["launched_at"])) >= BOOT_DEADLINE
        try:
            found = [i for i in dest.describe_instances(region, [instance_id]) if i.id == instance_id]
            status: str | None = found[0].status if found else None
            online = False
            if status == RUNNING:
                state.setdefault("running_at", now.isoformat())
                statuses = dest.cloud_assistant_status(region, [instance_id])
                online = any(s.instance_id == instance_id and s.online for s in statuses)
        except CloudError as err:
            log.warning("verify check failed, trying again request_id=%s code=%s", req.id, err.code)
            if not overdue:
                return POLL_EVERY
            status, online, gone = state.get("status"), False, False
        else:
            gone = status is None
        if gone:
            state["released"] = True
            return self._finish(req, state, passed=False, reason=f"Instance {instance_id} disappeared.")
        state["status"] = status
        if online:
            state.update(online_at=now.isoformat(), phase="release", passed=True)
            return self._release(req, dest, state, ctx.key)
        if overdue:
            limit = _minutes(BOOT_DEADLINE)
            reason = (
                f"Cloud Assistant on {instance_id} did not come online within {limit}."
                if status == RUNNING
                else f"Instance {instance_id} did not reach Running within {limit} (it is {status})."
            )
            state.update(phase="release", passed=False, reason=reason)
            return self._release(req, dest, state, ctx.key)
        with self._db.unit_of_work() as session:
            repo.update_outbox_payload(session, ctx.key, state)
        return POLL_EVERY

    def _release(
        self, req: RequestSnapshot, dest: DestinationCloud, state: dict[str, Any], key: str
    ) -> TaskResult:
        instance_id = str(state["instance_id"])
        try:
            dest.delete_instance(req.params.region_id, instance_id, force=True)
            state["released"] = True
        except CloudError as err:
            if err.is_not_found:
                state["released"] = True
            else:
                attempts = int(state.get("release_attempts", 0)) + 1
                state.update(release_attempts=attempts, release_error=f"{err.code}: {err.message}")
                if attempts < RELEASE_ATTEMPTS:
                    with self._db.unit_of_work() as session:
                        repo.update_outbox_payload(session, key, {**state, "phase": "release"})
                    return RELEASE_RETRY
                state["released"] = False
        return self._finish(req, state, passed=bool(state.get("passed")), reason=state.get("reason"))

    def _finish(
        self,
        req: RequestSnapshot,
        state: dict[str, Any],
        *,
        passed: bool,
        reason: str | None,
        error: CloudError | None = None,
    ) -> TaskResult:
        """Post the report (after the release, so it can say the instance is gone) and audit it."""
        now = self._clock()
        round_ = int(state["round"])
        data: dict[str, Any] = {
            "phase": "finished",
            **_public(state),
            "passed": passed,
            "reason": reason,
            "released": state.get("released"),
            "release_error": state.get("release_error"),
            "billed_seconds": _seconds_since(state.get("launched_at"), now),
            "running_after_seconds": _seconds_between(state.get("launched_at"), state.get("running_at")),
            "online_after_seconds": _seconds_between(state.get("launched_at"), state.get("online_at")),
        }
        if error is not None:
            data["error_code"] = error.code
        with self._db.unit_of_work() as session:
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name=f"verify:{round_}:finished",
                event=Event.VERIFY_REPORT,
                data=data,
            )
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action="verify.finished",
                outcome=AuditOutcome.OK if passed else AuditOutcome.ERROR,
                team_id=req.team_id,
                channel_id=req.channel_id,
                request_id=req.id,
                params_hash=req.params_hash,
                detail={k: v for k, v in data.items() if v is not None and k != "phase"},
            )
        log.info(
            "verification finished request_id=%s passed=%s released=%s", req.id, passed, state.get("released")
        )
        self._kick()
        return None


def _by_name(dest: DestinationCloud, region: str, name: str) -> Instance | None:
    page = dest.list_instances(region, InstanceFilter(name=name))
    return next((i for i in page.items if i.name == name), None)


def _image_of(dest: DestinationCloud, req: RequestSnapshot) -> str | None:
    """The job's image: the newest cycle's for an incremental job, else the one image."""
    assert req.job_id is not None
    jobs = dest.describe_replication_jobs(req.params.region_id, [req.job_id])
    job = next((j for j in jobs if j.id == req.job_id), None)
    if job is None:
        return None
    images = [run.image_id for run in job.runs if run.image_id]
    return images[-1] if images else job.image_id


def _vswitch(dest: DestinationCloud, region: str, chosen: str | None) -> VSwitch | None:
    """The request's vSwitch, else the region's one with the most free addresses."""
    switches = dest.list_vswitches(region)
    if chosen is not None:
        return next((s for s in switches if s.id == chosen), None)
    free = [s for s in switches if s.available_ips > 0]
    return max(free, key=lambda s: (s.available_ips, s.id)) if free else None


def _security_group(dest: DestinationCloud, region: str, vpc_id: str) -> SecurityGroup | None:
    """The VPC's default security group by name (`default…`, or ECS's "System created…"), else its first."""
    groups = dest.list_security_groups(region, vpc_id=vpc_id)
    for group in groups:
        if group.name.casefold().startswith("default") or group.description.startswith("System created"):
            return group
    return groups[0] if groups else None


def _smallest_type(dest: DestinationCloud, region: str) -> str | None:
    types = dest.list_instance_types(region)
    if not types:
        return None
    return min(types, key=lambda t: (t.cpu_cores or 0, t.memory_gib or 0.0, t.id)).id


def _public(state: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("instance_id", "image_id", "instance_type", "vswitch_id", "security_group_id", "round")
    return {k: state.get(k) for k in keys}


def _cloud_reason(err: CloudError) -> str:
    return f"{err.action or 'The cloud'} failed: {err.code}: {err.message}"


def _seconds_since(start: object, now: datetime) -> int | None:
    if not isinstance(start, str):
        return None
    return max(0, int((now - datetime.fromisoformat(start)).total_seconds()))


def _seconds_between(start: object, end: object) -> int | None:
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    return max(0, int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()))


def _minutes(value: timedelta) -> str:
    return f"{int(value.total_seconds() // 60)} minutes"
