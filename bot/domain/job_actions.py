"""Buttons on a running migration (PRODUCT §3.5): pause, resume, retry, modify, cut over, cancel; the
gated ones (Migrate, Migrate anyway, Start, Verify) that open an approval round; Retry execution; Withdraw.

Before acting the job is described again, so a button that went stale (the job moved on) gets a clear
answer instead of SMC's error. Who may act: the requester, the channel's approvers and its admins.
Every click is audited, refusals included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.cloud.ports import CloudError, CloudGateway, DestinationCloud, ReplicationJob
from bot.cloud.ports import JobStatus as CloudJobStatus
from bot.domain import notifications
from bot.domain.approval import Policy
from bot.domain.directory import Directory, DirectoryUnavailable
from bot.domain.errors import Conflict, DomainError, NotAllowed, NotFound
from bot.domain.execution import (
    STATE_ERRORS,
    Approvals,
    RequestSnapshot,
    error_details,
    load_snapshot,
    post_cloud_error,
    requeue,
    retry_can_help,
)
from bot.domain.params import KBPS_PER_MBPS
from bot.domain.smc_request import replication_parameters
from bot.domain.validation import (
    COMPRESSION_LEVEL,
    MAX_RESERVED_IMAGES,
    SPEED_LIMIT_MBPS,
    SYNC_INTERVAL_HOURS,
)
from bot.domain.workflow import GATED_ACTIONS, WITHDRAWABLE, UserAction, job_action_allowed
from storage import repository as repo
from storage.db import Database
from storage.enums import AuditOutcome, BusinessStatus, JobStatus, RequestState, TargetType
from storage.models import ChannelConfig

log = logging.getLogger(__name__)

S = RequestState

LABELS: Mapping[UserAction, str] = {
    UserAction.MIGRATE: "Migrate",
    UserAction.MIGRATE_ANYWAY: "Migrate anyway",
    UserAction.START: "Start",
    UserAction.PAUSE: "Pause",
    UserAction.RESUME: "Resume",
    UserAction.RETRY: "Retry",
    UserAction.MODIFY: "Modify",
    UserAction.CUT_OVER: "Cut over",
    UserAction.CANCEL_JOB: "Cancel and clean up",
    UserAction.RETRY_EXECUTION: "Retry execution",
    UserAction.WITHDRAW: "Withdraw",
    UserAction.VERIFY: "Verify",
}

GATED_STATES: Mapping[UserAction, RequestState] = {
    UserAction.MIGRATE: S.TESTED,
    UserAction.MIGRATE_ANYWAY: S.DRILL_BLOCKED,
    UserAction.START: S.JOB_CREATED,
    UserAction.VERIFY: S.COMPLETED,
}
"""The request state each gated button belongs to."""

DIRECT_ACTIONS = frozenset(
    {UserAction.PAUSE, UserAction.RESUME, UserAction.RETRY, UserAction.CUT_OVER, UserAction.CANCEL_JOB}
)

STATE_WORDS: Mapping[RequestState, str] = {
    S.AWAITING_APPROVAL: "waiting for approval",
    S.APPROVED: "approved and about to run",
    S.REJECTED: "rejected",
    S.EXPIRED: "expired",
    S.CANCELLED: "withdrawn",
    S.DRILLING: "running its migration test",
    S.TESTED: "tested",
    S.DRILL_BLOCKED: "blocked by its migration test",
    S.EXECUTING: "creating its SMC job",
    S.JOB_CREATED: "created but not started",
    S.IN_PROGRESS: "migrating",
    S.COMPLETED: "finished",
    S.FAILED: "failed",
    S.JOB_DELETED: "cancelled (its job was deleted)",
}


@dataclass(frozen=True)
class Outcome:
    """What a click did, in words for the clicker (an ephemeral); `ok` False changed nothing."""

    ok: bool
    message: str


class ModifyField(StrEnum):
    """What the Modify modal can change; values are stable keys the Slack layer maps to block ids."""

    NAME = "name"
    DESCRIPTION = "description"
    SPEED_LIMIT = "speed_limit_mbps"
    COMPRESSION = "compression_level"
    CHECKSUM = "checksum"
    FREQUENCY = "sync_interval_hours"
    MAX_IMAGES = "max_reserved_images"


TRANSFER_FIELDS = frozenset({ModifyField.SPEED_LIMIT, ModifyField.COMPRESSION, ModifyField.CHECKSUM})
SCHEDULE_FIELDS = frozenset({ModifyField.FREQUENCY, ModifyField.MAX_IMAGES})


@dataclass(frozen=True)
class JobSettings:
    """The job's current modifiable values, as SMC describes them."""

    name: str = ""
    description: str = ""
    speed_limit_mbps: int = 0
    compression_level: int = 7
    checksum: bool = False
    frequency: int | None = None
    max_images: int | None = None

    @classmethod
    def of(cls, job: ReplicationJob) -> JobSettings:
        try:
            values = json.loads(job.replication_parameters) if job.replication_parameters else {}
        except ValueError:
            values = {}
        return cls(
            name=job.name,
            description=job.description,
            speed_limit_mbps=int(values.get("bandwidth_limit", 0) or 0) // KBPS_PER_MBPS,
            compression_level=int(values.get("compress_level", 7)),
            checksum=bool(values.get("checksum", False)),
            frequency=job.frequency,
            max_images=job.max_images,
        )


def never_ran(job: ReplicationJob) -> bool:
    """SMC freezes most attributes once a job first starts."""
    return job.status is CloudJobStatus.READY and job.start_time is None and not job.runs


def modifiable(job: ReplicationJob) -> tuple[frozenset[ModifyField], str]:
    """SMC's ModifyReplicationJobAttribute rules: what may change now, and why the rest may not."""
    incremental = job.run_once is False
    allowed = {ModifyField.NAME, ModifyField.DESCRIPTION}
    before = never_ran(job)
    if before:
        allowed |= TRANSFER_FIELDS
    if incremental and (before or job.status is CloudJobStatus.WAITING):
        allowed |= SCHEDULE_FIELDS
    status = job.status.value
    if before:
        reason = ""
    elif incremental and job.status is CloudJobStatus.WAITING:
        reason = (
            "Speed limit, compression and checksum can only change before the job first runs; this job has "
            "already run."
        )
    else:
        reason = (
            f"The job is {status} and has run: SMC accepts only a new name and description now. Speed limit, "
            "compression and checksum can only change before the first run"
            + (
                ", the sync interval and kept images also while it waits between syncs."
                if incremental
                else "."
            )
        )
    return frozenset(allowed), reason


@dataclass(frozen=True)
class ModifyForm:
    """The Modify modal's content: what may change now (and why not the rest), with current values."""

    request_id: str
    job_id: str
    status: str
    incremental: bool
    editable: frozenset[ModifyField]
    locked_reason: str
    current: JobSettings


@dataclass(frozen=True)
class ModifyChanges:
    """Submitted values as typed (text, so errors can repeat them); `None` means the field was not shown."""

    values: Mapping[ModifyField, str | bool | None] = field(default_factory=dict)


class InvalidModify(DomainError):  # noqa: N818 -- the house style's names
    """Submitted values break a range; one message per field, each says what to enter."""

    def __init__(self, errors: Mapping[ModifyField, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


_RANGES: Mapping[ModifyField, tuple[int, int, str]] = {
    ModifyField.SPEED_LIMIT: (*SPEED_LIMIT_MBPS, "Mbit/s (0 = unlimited)"),
    ModifyField.COMPRESSION: (*COMPRESSION_LEVEL, "(0 = none, 10 = most)"),
    ModifyField.FREQUENCY: (*SYNC_INTERVAL_HOURS, "hours"),
    ModifyField.MAX_IMAGES: (*MAX_RESERVED_IMAGES, "images"),
}


def parse_changes(changes: ModifyChanges) -> dict[ModifyField, str | int | bool]:
    """Typed values of the submitted fields; raises InvalidModify naming each bad field (no cloud call)."""
    parsed: dict[ModifyField, str | int | bool] = {}
    errors: dict[ModifyField, str] = {}
    for name, raw in changes.values.items():
        if raw is None:
            continue
        if name is ModifyField.CHECKSUM:
            parsed[name] = bool(raw)
        elif name in _RANGES:
            low, high, unit = _RANGES[name]
            text = str(raw).strip()
            if not text.isdigit() or not low <= int(text) <= high:
                errors[name] = f"Enter a whole number from {low} to {high} {unit}."
            else:
                parsed[name] = int(text)
        elif name is ModifyField.NAME:
            text = str(raw).strip()
            if text and (not text[0].isalpha() or not 2 <= len(text) <= 128):
                errors[name] = "Enter 2 to 128 characters starting with a letter, or leave it as it is."
            elif text:
                parsed[name] = text
        else:
            text = str(raw).strip()
            if len(text) > 256:
                errors[name] = "Enter at most 256 characters."
            else:
                parsed[name] = text
    if errors:
        raise InvalidModify(errors)
    return parsed


def _attributes(
    wanted: Mapping[ModifyField, str | int | bool], current: JobSettings
) -> tuple[dict[str, Any], list[str]]:
    """ModifyReplicationJobAttribute fields for what differs from now, and the changes in words."""
    attributes: dict[str, Any] = {}
    said: list[str] = []
    if ModifyField.NAME in wanted and wanted[ModifyField.NAME] != current.name:
        attributes["Name"] = wanted[ModifyField.NAME]
        said.append(f"name → {wanted[ModifyField.NAME]}")
    if ModifyField.DESCRIPTION in wanted and wanted[ModifyField.DESCRIPTION] != current.description:
        attributes["Description"] = wanted[ModifyField.DESCRIPTION]
        said.append("description changed")
    speed = int(wanted.get(ModifyField.SPEED_LIMIT, current.speed_limit_mbps))
    level = int(wanted.get(ModifyField.COMPRESSION, current.compression_level))
    checksum = bool(wanted.get(ModifyField.CHECKSUM, current.checksum))
    if (speed, level, checksum) != (current.speed_limit_mbps, current.compression_level, current.checksum):
        attributes["ReplicationParameters"] = replication_parameters(speed, level, checksum)
        if speed != current.speed_limit_mbps:
            said.append(f"speed limit {_mbps(current.speed_limit_mbps)} → {_mbps(speed)}")
        if level != current.compression_level:
            said.append(f"compression {current.compression_level} → {level}")
        if checksum != current.checksum:
            said.append(f"checksum {'on' if checksum else 'off'}")
    if ModifyField.FREQUENCY in wanted and wanted[ModifyField.FREQUENCY] != current.frequency:
        attributes["Frequency"] = wanted[ModifyField.FREQUENCY]
        said.append(f"sync every {wanted[ModifyField.FREQUENCY]} h")
    if ModifyField.MAX_IMAGES in wanted and wanted[ModifyField.MAX_IMAGES] != current.max_images:
        attributes["MaxNumberOfImageToKeep"] = wanted[ModifyField.MAX_IMAGES]
        said.append(f"keep {wanted[ModifyField.MAX_IMAGES]} images")
    return attributes, said


def _mbps(value: int) -> str:
    return "unlimited" if value == 0 else f"{value} Mbit/s"


def _fields_of(attributes: Mapping[str, Any]) -> set[ModifyField]:
    names = {
        "Name": {ModifyField.NAME},
        "Description": {ModifyField.DESCRIPTION},
        "ReplicationParameters": set(TRANSFER_FIELDS),
        "Frequency": {ModifyField.FREQUENCY},
        "MaxNumberOfImageToKeep": {ModifyField.MAX_IMAGES},
    }
    found: set[ModifyField] = set()
    for key in attributes:
        found |= names.get(key, set())
    return found


def job_words(status: str, business: str | None) -> str:
    """`Running (Syncing)`, `Finished`: a job's state as the stale-button answer says it."""
    return f"{status} ({business})" if business else status


class JobActionService:
    """The use cases behind the summary's and the thread's buttons; one call per click, after the ack."""

    def __init__(
        self,
        db: Database,
        cloud: CloudGateway,
        approvals: Callable[[], Approvals],
        directory: Callable[[], Directory],
        *,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
    ) -> None:
        self._db = db
        self._cloud = cloud
        self._approvals = approvals
        self._directory = directory
        self._clock = clock
        self._kick = kick

    # ---- gated buttons -----------------------------------------------------------------------------

    def request_approval(self, request_id: str, action: UserAction, *, actor: str) -> Outcome:
        """Migrate / Migrate anyway / Start / Verify: open an approval round (policy may approve at once)."""
        label = LABELS[action]
        req, config = self._read(request_id)
        if req is None:
            return Outcome(False, f"Request {request_id} does not exist (any more).")
        refused = self._refuse_outsider(req, config, actor, action)
        if refused is not None:
            return refused
        expected = GATED_STATES[action]
        if req.state is not expected:
            return self._stale_request(req, actor, action)
        if action is UserAction.VERIFY and req.params.target_type is not TargetType.IMAGE:
            return self._refuse(
                req,
                actor,
                action,
                "Verify launches an instance from an image; this migration's destination is an existing "
                "instance.",
            )
        if action in (UserAction.START, UserAction.VERIFY):
            job = self._describe(req)
            if isinstance(job, Outcome):
                return job
            wanted = JobStatus.READY if action is UserAction.START else JobStatus.FINISHED
            if job.status.value != wanted.value:
                self._observe(req, job)
                return self._stale_job(req, actor, action, job)
        try:
            with self._db.unit_of_work() as session:
                self._approvals().open_round(session, req.id, GATED_ACTIONS[action], actor=actor)
                after = repo.get_request(session, req.id)
                waiting = after is not None and after.state is S.AWAITING_APPROVAL
                self._audit(
                    session,
                    req,
                    actor,
                    action,
                    outcome=AuditOutcome.OK,
                    detail={"awaiting_approval": waiting},
                )
        except DomainError as err:
            return self._refuse(req, actor, action, err.message)
        self._kick()
        if waiting:
            return Outcome(
                True, f"{label}: I asked this channel's approvers (see the approval card in the thread)."
            )
        return Outcome(True, f"{label}: no approval is needed, so it runs now; watch the thread.")

    # ---- direct job buttons -------------------------------------------------------------------------

    def perform(self, request_id: str, action: UserAction, *, actor: str) -> Outcome:
        """Pause / Resume / Retry / Cut over / Cancel and clean up, if SMC accepts it in the job's state."""
        if action not in DIRECT_ACTIONS:
            raise ValueError(f"{action.value} is not a direct job action")
        label = LABELS[action]
        req, config = self._read(request_id)
        if req is None:
            return Outcome(False, f"Request {request_id} does not exist (any more).")
        refused = self._refuse_outsider(req, config, actor, action)
        if refused is not None:
            return refused
        if req.job_id is None or req.state in (S.JOB_DELETED, S.CANCELLED):
            return self._stale_request(req, actor, action)
        job = self._describe(req)
        if isinstance(job, Outcome):
            return job
        if not self._allowed(action, job):
            self._observe(req, job)
            return self._stale_job(req, actor, action, job)
        dest = self._dest(req)
        try:
            self._call(dest, action, job.id)
        except CloudError as err:
            moved = self._describe(req) if err.code in STATE_ERRORS else None
            if isinstance(moved, ReplicationJob) and not self._allowed(action, moved):
                self._observe(req, moved)  # the job moved on between the describe and the call
                return self._stale_job(req, actor, action, moved)
            return self._cloud_failed(req, actor, action, err)
        after = self._describe(req)
        current = after if isinstance(after, ReplicationJob) else job
        with self._db.unit_of_work() as session:
            self._store_job(session, current)
            if action is UserAction.CANCEL_JOB:
                repo.transition_request(
                    session, req.id, (S.IN_PROGRESS, S.JOB_CREATED, S.FAILED, S.APPROVED), S.JOB_DELETED
                )
            self._thread_note(session, req, actor, action, current, detail=None)
            self._audit(session, req, actor, action, outcome=AuditOutcome.OK, detail={"job_id": job.id})
        self._kick()
        done = {
            UserAction.PAUSE: f"Paused {job.id}.",
            UserAction.RESUME: f"Resumed {job.id}.",
            UserAction.RETRY: f"Retrying {job.id}: it resumes where it stopped.",
            UserAction.CUT_OVER: f"Cutting over {job.id}: one last sync, then it finishes.",
            UserAction.CANCEL_JOB: f"Deleted {job.id}; SMC releases its intermediate instance or disk.",
        }
        return Outcome(True, done.get(action, f"{label}: done."))

    # ---- modify --------------------------------------------------------------------------------------

    def modify_form(self, request_id: str, *, actor: str) -> ModifyForm:
        """The Modify modal for the job as it is now; raises NotFound, NotAllowed or Conflict (stale)."""
        req, config = self._read(request_id)
        if req is None:
            raise NotFound(f"Request {request_id}")
        refused = self._refuse_outsider(req, config, actor, UserAction.MODIFY)
        if refused is not None:
            raise NotAllowed(refused.message)
        if req.job_id is None:
            raise Conflict(self._stale_request(req, actor, UserAction.MODIFY).message)
        job = self._describe(req)
        if isinstance(job, Outcome):
            raise Conflict(job.message)
        if not self._allowed(UserAction.MODIFY, job):
            self._observe(req, job)
            raise Conflict(self._stale_job(req, actor, UserAction.MODIFY, job).message)
        editable, reason = modifiable(job)
        return ModifyForm(
            request_id=req.id,
            job_id=job.id,
            status=job_words(job.status.value, job.business_status.value if job.business_status else None),
            incremental=job.run_once is False,
            editable=editable,
            locked_reason=reason,
            current=JobSettings.of(job),
        )

    def modify(self, request_id: str, changes: ModifyChanges, *, actor: str) -> Outcome:
        """Apply what changed, if SMC still accepts those fields (the job may have started meanwhile)."""
        wanted = parse_changes(changes)
        req, config = self._read(request_id)
        if req is None:
            return Outcome(False, f"Request {request_id} does not exist (any more).")
        refused = self._refuse_outsider(req, config, actor, UserAction.MODIFY)
        if refused is not None:
            return refused
        job = self._describe(req)
        if isinstance(job, Outcome):
            return job
        attributes, said = _attributes(wanted, JobSettings.of(job))
        if not attributes:
            return Outcome(True, "Nothing changed.")
        editable, reason = modifiable(job)
        frozen = _fields_of(attributes) - editable
        if frozen or not self._allowed(UserAction.MODIFY, job):
            self._observe(req, job)
            names = ", ".join(sorted(f.value.replace("_", " ") for f in frozen)) or "these fields"
            return self._refuse(
                req, actor, UserAction.MODIFY, f"SMC no longer accepts {names} for {job.id}: {reason}".strip()
            )
        try:
            self._dest(req).modify_replication_job(job.id, attributes)
        except CloudError as err:
            return self._cloud_failed(req, actor, UserAction.MODIFY, err)
        with self._db.unit_of_work() as session:
            self._thread_note(session, req, actor, UserAction.MODIFY, job, detail="; ".join(said))
            self._audit(
                session,
                req,
                actor,
                UserAction.MODIFY,
                outcome=AuditOutcome.OK,
                detail={"job_id": job.id, **attributes},
            )
        self._kick()
        return Outcome(True, f"Modified {job.id}: {'; '.join(said)}.")

    # ---- request buttons -----------------------------------------------------------------------------

    def retry_execution(self, request_id: str, *, actor: str) -> Outcome:
        """Run the failed execution step again (the ClientToken keeps a repeated create to one job)."""
        req, config = self._read(request_id)
        if req is None:
            return Outcome(False, f"Request {request_id} does not exist (any more).")
        refused = self._refuse_outsider(req, config, actor, UserAction.RETRY_EXECUTION)
        if refused is not None:
            return refused
        try:
            with self._db.unit_of_work() as session:
                fresh = load_snapshot(session, req.id)
                assert fresh is not None
                message = requeue(session, fresh, self._approvals(), actor=actor)
                self._audit(
                    session, req, actor, UserAction.RETRY_EXECUTION, outcome=AuditOutcome.OK, detail={}
                )
        except Conflict:
            return self._stale_request(req, actor, UserAction.RETRY_EXECUTION)
        self._kick()
        return Outcome(True, message)

    def withdraw(self, request_id: str, *, actor: str) -> Outcome:
        """The requester (or an admin) closes a request that has no job."""
        req, config = self._read(request_id)
        if req is None:
            return Outcome(False, f"Request {request_id} does not exist (any more).")
        if actor != req.requester and not self._is_admin(config, actor):
            return self._refuse(
                req,
                actor,
                UserAction.WITHDRAW,
                f"Only <@{req.requester}>, who asked for {req.id}, or a channel admin can withdraw it.",
            )
        if req.state not in WITHDRAWABLE or req.job_id is not None:
            return self._stale_request(req, actor, UserAction.WITHDRAW)
        with self._db.unit_of_work() as session:
            if not repo.transition_request(session, req.id, req.state, S.CANCELLED):
                return self._stale_request(req, actor, UserAction.WITHDRAW)
            self._approvals().refresh_card(session, req.id)
            notifications.refresh_request_summary(session, req.id, req.channel_id)
            self._thread_note(session, req, actor, UserAction.WITHDRAW, None, detail=None)
            self._audit(
                session,
                req,
                actor,
                UserAction.WITHDRAW,
                outcome=AuditOutcome.OK,
                detail={"from": req.state.value},
            )
        self._kick()
        return Outcome(True, f"Withdrew {req.id}; nothing will run.")

    # ---- who may act ---------------------------------------------------------------------------------

    def may_act(self, config: ChannelConfig | None, requester: str, actor: str) -> bool:
        """The requester, the channel's approvers (users and live group members) and its admins."""
        if actor == requester or self._is_admin(config, actor):
            return True
        policy = Policy.from_config(config)
        if actor in policy.approver_users:
            return True
        for group in policy.approver_usergroups:
            try:
                if actor in self._directory().members_of(group):
                    return True
            except DirectoryUnavailable:
                log.warning("directory unavailable while checking group=%s", group)
        return False

    def _is_admin(self, config: ChannelConfig | None, actor: str) -> bool:
        """Configured admin users decide; without any, the workspace's admins and owners."""
        if config is not None and config.admin_users:
            return actor in config.admin_users
        try:
            return self._directory().is_workspace_admin(actor)
        except DirectoryUnavailable:
            return False

    def _refuse_outsider(
        self, req: RequestSnapshot, config: ChannelConfig | None, actor: str, action: UserAction
    ) -> Outcome | None:
        if self.may_act(config, req.requester, actor):
            return None
        return self._refuse(
            req,
            actor,
            action,
            f"Only <@{req.requester}> (who asked for {req.id}), this channel's approvers and its admins can "
            f"use {LABELS[action]} here, so your click changed nothing.",
            reason="not_allowed",
        )

    # ---- helpers -------------------------------------------------------------------------------------

    def _read(self, request_id: str) -> tuple[RequestSnapshot | None, ChannelConfig | None]:
        with self._db.unit_of_work() as session:
            req = load_snapshot(session, request_id)
            config = repo.get_channel_config(session, req.channel_id) if req is not None else None
        return req, config

    def _dest(self, req: RequestSnapshot) -> DestinationCloud:
        return self._cloud.destination(req.credential_ref)

    def _describe(self, req: RequestSnapshot) -> ReplicationJob | Outcome:
        assert req.job_id is not None
        try:
            found = self._dest(req).describe_replication_jobs(req.params.region_id, [req.job_id])
        except CloudError as err:
            return Outcome(
                False, f"I could not read {req.job_id} from SMC just now ({err.code}); try again in a minute."
            )
        job = next((j for j in found if j.id == req.job_id), None)
        if job is None:
            return Outcome(False, f"SMC no longer knows {req.job_id}: it was deleted or expired.")
        return job

    @staticmethod
    def _allowed(action: UserAction, job: ReplicationJob) -> bool:
        status = _status(job)
        if status is None:
            return False
        return job_action_allowed(action, status, _business(job), incremental=job.run_once is False)

    @staticmethod
    def _call(dest: DestinationCloud, action: UserAction, job_id: str) -> None:
        if action is UserAction.PAUSE:
            dest.stop_replication_job(job_id)
        elif action in (UserAction.RESUME, UserAction.RETRY):
            dest.start_replication_job(job_id)
        elif action is UserAction.CUT_OVER:
            dest.cut_over_replication_job(job_id, sync_data=True)
        elif action is UserAction.CANCEL_JOB:
            dest.delete_replication_job(job_id)

    def _observe(self, req: RequestSnapshot, job: ReplicationJob) -> None:
        """Store what the describe showed and re-render the summary, so the stale buttons go away."""
        with self._db.unit_of_work() as session:
            self._store_job(session, job)
            notifications.refresh_request_summary(session, req.id, req.channel_id)
        self._kick()

    def _store_job(self, session: Any, job: ReplicationJob) -> None:
        values: dict[str, Any] = {
            "next_poll_at": self._clock(),
            "progress": job.progress,
            "business_status": _business(job),
        }
        status = _status(job)
        if status is not None:
            values["status"] = status
        repo.update_job(session, job.id, **values)

    def _stale_request(self, req: RequestSnapshot, actor: str, action: UserAction) -> Outcome:
        message = f"{req.id} is now {STATE_WORDS[req.state]}, so {LABELS[action]} is no longer possible."
        return self._refuse(req, actor, action, message, reason="stale")

    def _stale_job(
        self, req: RequestSnapshot, actor: str, action: UserAction, job: ReplicationJob
    ) -> Outcome:
        business = _business(job)
        words = job_words(job.status.value, business.value if business is not None else None)
        message = (
            f"This job is now {words}, so {LABELS[action]} is no longer possible. The summary shows what "
            "you can do now."
        )
        return self._refuse(
            req, actor, action, message, reason="stale", detail={"job_status": job.status.value}
        )

    def _refuse(
        self,
        req: RequestSnapshot,
        actor: str,
        action: UserAction,
        message: str,
        *,
        reason: str = "refused",
        detail: Mapping[str, Any] | None = None,
    ) -> Outcome:
        with self._db.unit_of_work() as session:
            self._audit(
                session,
                req,
                actor,
                action,
                outcome=AuditOutcome.REFUSED,
                detail={"reason": reason, **(detail or {})},
            )
        log.info(
            "click refused request_id=%s actor=%s action=%s reason=%s", req.id, actor, action.value, reason
        )
        return Outcome(False, message)

    def _cloud_failed(self, req: RequestSnapshot, actor: str, action: UserAction, err: CloudError) -> Outcome:
        """SMC refused the call: say so in the thread (code, meaning, fix), with Retry where it can help."""
        details = {**error_details(err, f"job_{action.value}"), "job_id": req.job_id, "actor": actor}
        with self._db.unit_of_work() as session:
            post_cloud_error(session, req, details, retry=action.value if retry_can_help(err.code) else None)
            self._audit(
                session,
                req,
                actor,
                action,
                outcome=AuditOutcome.ERROR,
                detail={"code": err.code, "job_id": req.job_id},
            )
        self._kick()
        return Outcome(
            False, f"SMC refused {LABELS[action]} ({err.code}); the thread says why and what to do."
        )

    def _thread_note(
        self,
        session: Any,
        req: RequestSnapshot,
        actor: str,
        action: UserAction,
        job: ReplicationJob | None,
        *,
        detail: str | None,
    ) -> None:
        notifications.request_reply(
            session,
            req.id,
            req.channel_id,
            name=f"action:{action.value}:{repo.new_id('a')}",
            event=notifications.Event.JOB_ACTION,
            data={
                "action": action.value,
                "actor": actor,
                "job_id": job.id if job is not None else None,
                "status": job.status.value if job is not None else None,
                "detail": detail,
            },
        )
        notifications.refresh_request_summary(session, req.id, req.channel_id)

    @staticmethod
    def _audit(
        session: Any,
        req: RequestSnapshot,
        actor: str,
        action: UserAction,
        *,
        outcome: AuditOutcome,
        detail: Mapping[str, Any],
    ) -> None:
        repo.append_audit(
            session,
            actor=actor,
            action=f"button.{action.value}",
            outcome=outcome,
            team_id=req.team_id,
            channel_id=req.channel_id,
            request_id=req.id,
            params_hash=req.params_hash,
            detail=dict(detail),
        )


def _business(job: ReplicationJob) -> BusinessStatus | None:
    """The job's sub-status in storage's terms (None when absent or one SMC added later)."""
    if job.business_status is None:
        return None
    try:
        return BusinessStatus(job.business_status.value)
    except ValueError:
        return None


def _status(job: ReplicationJob) -> JobStatus | None:
    try:
        return JobStatus(job.status.value)
    except ValueError:
        return None
