"""The workspace directory the approval rules need (user groups, admins), as a port the bot implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserGroupInfo:
    """One Slack user group: `handle` is what people type after @, `members` its user ids right now."""

    id: str
    handle: str
    name: str
    members: frozenset[str]


class DirectoryUnavailable(Exception):  # noqa: N818 -- reads as what happened
    """The directory could not answer (Slack down, scope missing); the message says what to do."""


class Directory(Protocol):
    """Live membership, cached briefly by the implementation (Slack's Tier 2 limits on user groups)."""

    def members_of(self, usergroup_id: str) -> frozenset[str]:
        """User ids in the group now; an unknown or disabled group has none."""

    def is_workspace_admin(self, user_id: str) -> bool:
        """Workspace admin or owner."""

    def usergroups(self) -> Sequence[UserGroupInfo]:
        """Every enabled user group of the workspace, for the config modal."""


class UnwiredDirectory:
    """The default until the composition root attaches the Slack directory: refuses loudly, never guesses."""

    def members_of(self, usergroup_id: str) -> frozenset[str]:
        raise DirectoryUnavailable("the Slack directory is not wired into this process")

    def is_workspace_admin(self, user_id: str) -> bool:
        raise DirectoryUnavailable("the Slack directory is not wired into this process")

    def usergroups(self) -> Sequence[UserGroupInfo]:
        raise DirectoryUnavailable("the Slack directory is not wired into this process")
