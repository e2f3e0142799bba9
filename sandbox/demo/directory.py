"""Who and what the ids in a transcript are (people, channels, user groups), and the timezone to show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.slack.server import SlackStandIn
from sandbox.slack.workspace import default_channels, default_usergroups, default_users, usergroup_id

UTC = dt.UTC


@dataclass(frozen=True)
class Person:
    """Someone in the workspace: `name` for message headers, `handle` for @mentions."""

    id: str
    name: str
    handle: str
    is_bot: bool = False


@dataclass(frozen=True)
class Directory:
    """Who and what the ids in a transcript are, and the timezone times are shown in."""

    people: Mapping[str, Person] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    usergroups: Mapping[str, str] = field(default_factory=dict)
    tz: dt.tzinfo = UTC

    @classmethod
    def from_stand_in(cls, stand_in: SlackStandIn, *, tz: dt.tzinfo = UTC) -> Directory:
        """The stand-in's workspace as it is now."""
        with stand_in.state.lock:
            ws = stand_in.state.workspace
            people = {
                u.id: Person(
                    u.id, u.real_name or u.display_name or u.name, u.display_name or u.name, u.is_bot
                )
                for u in ws.users.values()
            }
            channels = {c.id: c.name for c in ws.channels.values()}
            groups = {g.id: g.handle for g in ws.usergroups.values()}
        return cls(people, channels, groups, tz)

    @classmethod
    def sandbox_defaults(cls, *, tz: dt.tzinfo = UTC) -> Directory:
        """The stand-in's default workspace, for a bare timeline."""
        people = {
            u.id: Person(u.id, u.real_name or u.name, u.display_name or u.name, u.is_bot)
            for u in default_users()
        }
        channels = {c.id: c.name for c in default_channels()}
        groups = {usergroup_id(handle): handle for handle in default_usergroups()}
        return cls(people, channels, groups, tz)

    def person(self, user_id: str | None) -> Person:
        """A person by id; unknown ids stand for themselves."""
        uid = user_id or "unknown"
        return self.people.get(uid) or Person(uid, uid, uid)

    @property
    def bot_id(self) -> str:
        """The bot user's id (ephemerals come from it)."""
        return next((p.id for p in self.people.values() if p.is_bot), "bot")

    def user(self, user_id: str) -> str:
        """The @handle (without @)."""
        return self.person(user_id).handle

    def channel(self, channel_id: str) -> str:
        """The channel name (without #)."""
        return self.channels.get(channel_id, channel_id)

    def usergroup(self, group_id: str) -> str:
        """The group handle (without @)."""
        return self.usergroups.get(group_id, group_id)

    def channel_id(self, ref: str) -> str:
        """A channel id from an id, `#name` or name."""
        name = ref.removeprefix("#")
        return next((cid for cid, n in self.channels.items() if n == name), ref)
