"""Who and what exists in the sandbox workspace: users, user groups and channels, with Slack's API shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "smc-sandbox"
TEAM_NAME = "SMC Sandbox"
APP_ID = "A0SMCBOT"
BOT_ID = "B0SMCBOT"
BOT_USER_ID = "U0SMCBOT"
BOT_USER_NAME = "smc-bot"

REQUESTER = "U0REQUESTER"
APPROVER_1 = "U0APPROVER1"
APPROVER_2 = "U0APPROVER2"
ADMIN = "U0ADMIN"
OUTSIDER = "U0OUTSIDER"
APPROVERS_GROUP = "S0SMCAPPROVERS"
APPROVERS_HANDLE = "smc-approvers"
MIGRATIONS_CHANNEL = "C0MIGRATE"
GENERAL_CHANNEL = "C0GENERAL"


@dataclass(frozen=True)
class User:
    """A workspace member; `to_api` is the `users.info` shape."""

    id: str
    name: str
    real_name: str
    display_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Asia/Shanghai"
    tz_label: str = "China Standard Time"
    tz_offset: int = 28_800
    email: str = ""

    def to_api(self, team_id: str) -> Json:
        """Slack's user object."""
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz_label,
            "tz_offset": self.tz_offset,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": self.is_owner,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "email": self.email or f"{self.name}@{TEAM_DOMAIN}.example",
                "team": team_id,
            },
        }


@dataclass(frozen=True)
class UserGroup:
    """A user group (`@handle`); `to_api` is the `usergroups.list` shape."""

    id: str
    handle: str
    name: str
    users: tuple[str, ...]
    description: str = ""
    disabled: bool = False

    def to_api(self, team_id: str, *, include_users: bool) -> Json:
        """Slack's usergroup object."""
        data: Json = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": self.name,
            "description": self.description,
            "handle": self.handle,
            "is_external": False,
            "date_create": 1_700_000_000,
            "date_update": 1_700_000_000,
            "date_delete": 1_700_000_100 if self.disabled else 0,
            "auto_type": None,
            "created_by": ADMIN,
            "user_count": len(self.users),
        }
        if include_users:
            data["users"] = list(self.users)
        return data


@dataclass(frozen=True)
class Channel:
    """A conversation; `members=None` means every workspace user is in it."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    bot_is_member: bool = True
    members: tuple[str, ...] | None = None
    topic: str = ""
    purpose: str = ""
    im_user: str | None = None

    def to_api(self, *, bot_is_member: bool, num_members: int | None = None) -> Json:
        """Slack's conversation object."""
        if self.is_im:
            return {
                "id": self.id,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "created": 1_700_000_000,
                "is_user_deleted": False,
            }
        data: Json = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": bot_is_member,
            "created": 1_700_000_000,
            "creator": ADMIN,
            "topic": {"value": self.topic, "creator": ADMIN, "last_set": 0},
            "purpose": {"value": self.purpose, "creator": ADMIN, "last_set": 0},
        }
        if num_members is not None:
            data["num_members"] = num_members
        return data


@dataclass
class Workspace:
    """The mutable directory; callers hold the stand-in's lock."""

    team_id: str
    users: dict[str, User] = field(default_factory=dict)
    usergroups: dict[str, UserGroup] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    joined: set[str] = field(default_factory=set)

    def add_user(self, user: User) -> None:
        """Add or replace a user."""
        self.users[user.id] = user

    def add_channel(self, channel: Channel) -> None:
        """Add or replace a channel; `bot_is_member` sets whether the bot starts in it."""
        self.channels[channel.id] = channel
        if channel.bot_is_member:
            self.joined.add(channel.id)
        else:
            self.joined.discard(channel.id)

    def set_usergroup(self, handle: str, users: Sequence[str], *, name: str | None = None) -> UserGroup:
        """Create a group or replace its members; the id is derived from the handle."""
        existing = self.group_by_handle(handle)
        group = UserGroup(
            id=existing.id if existing else usergroup_id(handle),
            handle=handle,
            name=name or (existing.name if existing else handle),
            users=tuple(users),
            description=existing.description if existing else "",
        )
        self.usergroups[group.id] = group
        return group

    def group_by_handle(self, handle: str) -> UserGroup | None:
        """The group with this handle, if any."""
        return next((g for g in self.usergroups.values() if g.handle == handle), None)

    def resolve_channel(self, ref: str) -> Channel | None:
        """A channel by id, `#name` or name; a user id resolves to the bot's DM with that user."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        if ref in self.users:
            return self.dm_with(ref)
        return None

    def dm_with(self, user_id: str) -> Channel:
        """The bot's direct-message conversation with a user, created on first use."""
        dm_id = "D" + user_id.removeprefix("U")
        if dm_id not in self.channels:
            self.add_channel(Channel(id=dm_id, name=dm_id, is_im=True, is_private=True, im_user=user_id))
        return self.channels[dm_id]

    def members_of(self, channel: Channel) -> list[str]:
        """User ids in the channel."""
        if channel.is_im:
            return [u for u in (channel.im_user, BOT_USER_ID) if u]
        if channel.members is not None:
            return list(channel.members)
        return [u.id for u in self.users.values() if not u.deleted]


def usergroup_id(handle: str) -> str:
    """A stable Slack-looking id (`S0…`) for a handle."""
    return "S0" + re.sub(r"[^A-Z0-9]", "", handle.upper())


def default_users() -> list[User]:
    """Requester, two approvers, an admin, an outsider, and the bot user."""
    return [
        User(REQUESTER, "riley", "Riley Requester", "riley"),
        User(APPROVER_1, "alex", "Alex Approver", "alex"),
        User(APPROVER_2, "sam", "Sam Approver", "sam", tz="Europe/Berlin", tz_label="CET", tz_offset=3600),
        User(ADMIN, "ada", "Ada Admin", "ada", is_admin=True, is_owner=True),
        User(
            OUTSIDER, "otto", "Otto Outsider", "otto", tz="America/New_York", tz_label="EST", tz_offset=-18000
        ),
        User(BOT_USER_ID, BOT_USER_NAME, "SMC Bot", "SMC Bot", is_bot=True),
    ]


def default_usergroups() -> dict[str, list[str]]:
    """`smc-approvers` with the two approvers."""
    return {APPROVERS_HANDLE: [APPROVER_1, APPROVER_2]}


def default_channels() -> list[Channel]:
    """#migrations (the bot is in it) and #general (it is not)."""
    return [
        Channel(MIGRATIONS_CHANNEL, "migrations", purpose="SMC migrations"),
        Channel(GENERAL_CHANNEL, "general", bot_is_member=False),
    ]


def build_workspace(
    team_id: str,
    users: Sequence[User] | None,
    usergroups: Mapping[str, Sequence[str]] | Sequence[UserGroup] | None,
    channels: Sequence[Channel] | None,
) -> Workspace:
    """The directory from constructor arguments, defaults where omitted."""
    ws = Workspace(team_id=team_id)
    for user in default_users() if users is None else users:
        ws.add_user(user)
    if BOT_USER_ID not in ws.users:
        ws.add_user(User(BOT_USER_ID, BOT_USER_NAME, "SMC Bot", "SMC Bot", is_bot=True))
    groups = default_usergroups() if usergroups is None else usergroups
    if isinstance(groups, Mapping):
        for handle, members in groups.items():
            ws.set_usergroup(handle, members)
    else:
        for group in groups:
            ws.usergroups[group.id] = group
    for channel in default_channels() if channels is None else channels:
        ws.add_channel(channel)
    return ws
