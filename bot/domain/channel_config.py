"""Per-channel configuration (`/smc config`): read with defaults, validate, save, audit, announce.

Admins of a channel are its configured admin users, else the workspace's admins and owners. A save
needs at least one approver and a quorum those approvers can reach; the mandatory approval rules of
PRODUCT §5 are not part of the configuration at all, so no value stored here can loosen them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.approval import MAX_EXPIRY_HOURS, MIN_EXPIRY_HOURS, OPTIONAL_METHODS
from bot.domain.audit import AuditAction, AuditService
from bot.domain.directory import Directory, DirectoryUnavailable, UserGroupInfo
from bot.domain.errors import DomainError, NotAllowed
from bot.domain.notifications import Event
from storage import repository as repo
from storage.db import Database
from storage.enums import AuditOutcome, OutboxKind
from storage.models import ChannelConfig

MIN_POLL_SECONDS = 5
MAX_POLL_SECONDS = 3600

_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,3}$")
_ACCOUNT = re.compile(r"^\d{10,20}$")
_ROLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConfigField(StrEnum):
    """Fields of the config modal; the Slack layer maps each to a block id."""

    APPROVER_GROUPS = "approver_groups"
    APPROVER_USERS = "approver_users"
    ADMIN_USERS = "admin_users"
    QUORUM = "quorum"
    SELF_APPROVAL = "self_approval"
    EXPIRY_HOURS = "expiry_hours"
    APPROVAL_METHODS = "approval_methods"
    DEFAULT_REGION = "default_region"
    DEFAULT_SOURCE_ACCOUNT = "default_source_account"
    DEFAULT_ROLE = "default_role_name"
    DEFAULT_NETWORK = "default_network"
    POLL_SECONDS = "poll_seconds"


class DefaultNetwork(StrEnum):
    PUBLIC = "public"
    VPC = "vpc"


@dataclass(frozen=True)
class ConfigChange:
    """What the admin submitted; numbers stay text so the messages can say what to type instead."""

    approver_usergroups: tuple[str, ...] = ()
    approver_users: tuple[str, ...] = ()
    admin_users: tuple[str, ...] = ()
    quorum: str = "1"
    self_approval: bool = False
    expiry_hours: str = "24"
    approval_methods: tuple[str, ...] = ()
    default_region: str = ""
    default_source_account: str = ""
    default_role_name: str = ""
    default_network: str = ""
    poll_seconds: str = ""


class InvalidConfig(DomainError):  # noqa: N818 -- the house style's names
    """The submitted configuration breaks a rule; one message per field, each says what to enter."""

    def __init__(self, errors: Mapping[ConfigField, str]) -> None:
        if not errors:
            raise ValueError("InvalidConfig needs at least one error")
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


@dataclass(frozen=True)
class ConfigForm:
    """What the modal opens with: the current values and the workspace's user groups."""

    config: ChannelConfig
    usergroups: Sequence[UserGroupInfo]
    configured: bool


@dataclass(frozen=True)
class ConfigSaved:
    config: ChannelConfig
    approvers: int
    warnings: tuple[str, ...] = ()
    changed: Mapping[str, Any] = field(default_factory=dict)


class ConfigService:
    """Use cases of `/smc config`; also the read other features use for channel defaults."""

    def __init__(
        self,
        db: Database,
        directory: Callable[[], Directory],
        *,
        audit: AuditService,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
    ) -> None:
        self._db = db
        self._directory = directory
        self._audit = audit
        self._clock = clock
        self._kick = kick

    def get(self, channel_id: str) -> ChannelConfig:
        """The channel's configuration, or the defaults when nobody configured it (not saved)."""
        with self._db.unit_of_work() as session:
            found = repo.get_channel_config(session, channel_id)
            if found is not None:
                return found
        return ChannelConfig(channel_id=channel_id, team_id="")

    def is_admin(self, channel_id: str, user_id: str) -> bool:
        """Configured admin users decide; without any, the workspace's admins and owners do."""
        config = self.get(channel_id)
        if config.admin_users:
            return user_id in config.admin_users
        return self._directory().is_workspace_admin(user_id)

    def open_form(self, *, channel_id: str, team_id: str, user_id: str) -> ConfigForm:
        """The modal's contents; refuses (and audits) anyone who is not an admin of the channel."""
        self._require_admin(channel_id, team_id, user_id, AuditAction.CONFIG_OPENED)
        with self._db.unit_of_work() as session:
            found = repo.get_channel_config(session, channel_id)
        config = found or ChannelConfig(channel_id=channel_id, team_id=team_id)
        try:
            groups = self._directory().usergroups()
        except DirectoryUnavailable:
            groups = ()
        return ConfigForm(config=config, usergroups=groups, configured=found is not None)

    def update(self, *, channel_id: str, team_id: str, actor: str, change: ConfigChange) -> ConfigSaved:
        """Validate and save; raises InvalidConfig (field messages) or NotAllowed. Audited, announced."""
        self._require_admin(channel_id, team_id, actor, AuditAction.CONFIG_CHANGED)
        values, errors = _parse(change, actor)
        pool = self._approver_pool(change)
        quorum = values.get("quorum")
        has_approvers = bool(change.approver_usergroups or change.approver_users)
        if isinstance(quorum, int) and has_approvers and quorum > len(pool):
            errors.setdefault(
                ConfigField.QUORUM,
                f"A quorum of {quorum} can never be reached: only {len(pool)} "
                f"{'person' if len(pool) == 1 else 'people'} can approve. Enter {max(1, len(pool))} "
                "or less, or add approvers.",
            )
        if errors:
            raise InvalidConfig(errors)
        warnings = _warnings(values, len(pool))
        with self._db.unit_of_work() as session:
            current = repo.get_channel_config(session, channel_id)
            before = _snapshot(current) if current is not None else {}
            config = current or ChannelConfig(channel_id=channel_id, team_id=team_id)
            for name, value in values.items():
                setattr(config, name, value)
            config.team_id = team_id
            config.updated_by = actor
            saved = repo.save_channel_config(session, config)
            after = _snapshot(saved)
            changed = {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}
            event = self._audit.record(
                session,
                actor=actor,
                action=AuditAction.CONFIG_CHANGED,
                team_id=team_id,
                channel_id=channel_id,
                detail={"changed": changed},
            )
            repo.enqueue(
                session,
                f"cfg:{channel_id}:{event.id}",
                OutboxKind.SLACK_POST,
                {"event": Event.CONFIG_CHANGED.value, "channel_id": channel_id, "actor": actor},
                channel_id=channel_id,
            )
        self._kick()
        return ConfigSaved(config=saved, approvers=len(pool), warnings=warnings, changed=changed)

    def _require_admin(self, channel_id: str, team_id: str, user_id: str, action: AuditAction) -> None:
        try:
            allowed = self.is_admin(channel_id, user_id)
        except DirectoryUnavailable:
            raise NotAllowed(
                "I could not check with Slack whether you are a workspace admin; try again in a minute."
            ) from None
        if allowed:
            return
        self._audit.record_now(
            actor=user_id,
            action=action,
            outcome=AuditOutcome.REFUSED,
            team_id=team_id,
            channel_id=channel_id,
            detail={"reason": "not_admin"},
        )
        raise NotAllowed(
            "Only this channel's admins can change its configuration (the admins listed in `/smc config`, "
            "or workspace admins and owners when none are listed). Ask one of them."
        )

    def _approver_pool(self, change: ConfigChange) -> frozenset[str]:
        pool: set[str] = set(change.approver_users)
        directory = self._directory()
        for group in change.approver_usergroups:
            try:
                pool |= directory.members_of(group)
            except DirectoryUnavailable:
                continue
        return frozenset(pool)


def _parse(change: ConfigChange, actor: str) -> tuple[dict[str, Any], dict[ConfigField, str]]:
    """Field values for ChannelConfig, and a message per field that breaks a rule."""
    errors: dict[ConfigField, str] = {}
    values: dict[str, Any] = {
        "approver_usergroups": list(dict.fromkeys(change.approver_usergroups)),
        "approver_users": list(dict.fromkeys(change.approver_users)),
        "admin_users": list(dict.fromkeys(change.admin_users)),
        "self_approval": change.self_approval,
    }
    if not change.approver_usergroups and not change.approver_users:
        errors[ConfigField.APPROVER_GROUPS] = (
            "Choose at least one approver user group, or list approver users below."
        )
    if change.admin_users and actor not in change.admin_users:
        errors[ConfigField.ADMIN_USERS] = (
            "Include yourself, or you could no longer change this configuration; leave it empty to let "
            "workspace admins and owners manage it."
        )
    quorum = _whole(change.quorum)
    if quorum is None or quorum < 1:
        errors[ConfigField.QUORUM] = "Enter a whole number of approvals of at least 1, e.g. 1 or 2."
    else:
        values["quorum"] = quorum
    expiry = _whole(change.expiry_hours)
    if expiry is None or not MIN_EXPIRY_HOURS <= expiry <= MAX_EXPIRY_HOURS:
        errors[ConfigField.EXPIRY_HOURS] = (
            f"Enter whole hours from {MIN_EXPIRY_HOURS} to {MAX_EXPIRY_HOURS} (one week), e.g. 24."
        )
    else:
        values["expiry_hours"] = expiry
    optional = {m.value for m in OPTIONAL_METHODS}
    unknown = [m for m in change.approval_methods if m not in optional]
    if unknown:
        errors[ConfigField.APPROVAL_METHODS] = (
            "Only Test Only and Create Only can be added to the approval gate."
        )
    values["approval_methods"] = [m.value for m in OPTIONAL_METHODS if m.value in change.approval_methods]
    region = change.default_region.strip()
    if region and not _REGION.match(region):
        errors[ConfigField.DEFAULT_REGION] = (
            "Type a region id such as cn-hangzhou or ap-southeast-1, or leave it empty."
        )
    values["default_region"] = region or None
    account = change.default_source_account.strip()
    if account and not _ACCOUNT.match(account):
        errors[ConfigField.DEFAULT_SOURCE_ACCOUNT] = (
            "Type the source Alibaba Cloud account ID, digits only (e.g. 1234567890123456), or leave it "
            "empty."
        )
    values["default_source_account"] = account or None
    role = change.default_role_name.strip()
    if role and not _ROLE.match(role):
        errors[ConfigField.DEFAULT_ROLE] = (
            "Type a RAM role name of up to 64 letters, digits, '.', '-' or '_', such as ram-role-smc."
        )
    values["default_role_name"] = role or None
    network = change.default_network.strip()
    if network and network not in {n.value for n in DefaultNetwork}:
        errors[ConfigField.DEFAULT_NETWORK] = "Choose Public or VPC, or leave it empty."
    values["default_network"] = network or None
    poll = change.poll_seconds.strip()
    if poll:
        seconds = _whole(poll)
        if seconds is None or not MIN_POLL_SECONDS <= seconds <= MAX_POLL_SECONDS:
            errors[ConfigField.POLL_SECONDS] = (
                f"Enter whole seconds from {MIN_POLL_SECONDS} to {MAX_POLL_SECONDS}, e.g. 30, or leave it "
                "empty for the bot's default."
            )
        else:
            values["poll_seconds"] = seconds
    else:
        values["poll_seconds"] = None
    return values, errors


def _warnings(values: Mapping[str, Any], pool: int) -> tuple[str, ...]:
    quorum = int(values["quorum"])
    if not values["self_approval"] and quorum >= pool and pool > 0:
        return (
            f"When one of the {pool} approvers asks for a migration, only {pool - 1} others can approve it, "
            f"so their requests can never reach a quorum of {quorum}. Lower the quorum, add approvers or "
            "allow self-approval.",
        )
    return ()


def _whole(text: str) -> int | None:
    text = text.strip()
    if not text.lstrip("-").isdigit():
        return None
    return int(text)


_SNAPSHOT_FIELDS = (
    "approver_usergroups",
    "approver_users",
    "admin_users",
    "quorum",
    "self_approval",
    "expiry_hours",
    "approval_methods",
    "default_region",
    "default_source_account",
    "default_role_name",
    "default_network",
    "poll_seconds",
)


def _snapshot(config: ChannelConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in _SNAPSHOT_FIELDS}
