"""The `Directory` port over Slack's Web API, with a short cache (user-group calls are Tier 2, ~20/min)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.directory import DirectoryUnavailable, UserGroupInfo
from storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=60)
"""How long a membership answer is trusted: a removed approver loses their vote within a minute."""

_GONE_GROUP = frozenset({"no_such_subteam", "subteam_disabled", "subteam_not_found"})
_GONE_USER = frozenset({"user_not_found", "user_not_visible"})

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    at: datetime


class SlackDirectory:
    """Live user-group membership and admin flags; a stale answer is used only when Slack cannot answer."""

    def __init__(
        self, client: WebClient, *, ttl: timedelta = DEFAULT_TTL, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, _Entry[frozenset[str]]] = {}
        self._admins: dict[str, _Entry[bool]] = {}
        self._groups: _Entry[tuple[UserGroupInfo, ...]] | None = None

    def members_of(self, usergroup_id: str) -> frozenset[str]:
        return self._cached(self._members, usergroup_id, lambda: self._fetch_members(usergroup_id))

    def is_workspace_admin(self, user_id: str) -> bool:
        return self._cached(self._admins, user_id, lambda: self._fetch_admin(user_id))

    def usergroups(self) -> Sequence[UserGroupInfo]:
        with self._lock:
            cached = self._groups
        if cached is not None and self._fresh(cached):
            return cached.value
        try:
            response = self._client.usergroups_list(include_users=True)
        except (SlackApiError, SlackClientError) as exc:
            if cached is not None:
                return cached.value
            raise DirectoryUnavailable(f"Slack did not list the user groups ({_why(exc)})") from None
        now = self._clock()
        groups = tuple(
            UserGroupInfo(
                id=str(g["id"]),
                handle=str(g.get("handle") or ""),
                name=str(g.get("name") or g.get("handle") or g["id"]),
                members=frozenset(str(u) for u in g.get("users") or ()),
            )
            for g in response.get("usergroups") or []
            if not g.get("date_delete")
        )
        with self._lock:
            self._groups = _Entry(groups, now)
            for group in groups:
                self._members[group.id] = _Entry(group.members, now)
        return groups

    def forget(self) -> None:
        """Drop every cached answer (tests; an admin who just changed a group can wait out the TTL)."""
        with self._lock:
            self._members.clear()
            self._admins.clear()
            self._groups = None

    # --- internals -----------------------------------------------------------------------------------

    def _fresh(self, entry: _Entry[T]) -> bool:
        return self._clock() - entry.at < self._ttl

    def _cached(self, store: dict[str, _Entry[T]], key: str, fetch: Callable[[], T]) -> T:
        with self._lock:
            entry = store.get(key)
        if entry is not None and self._fresh(entry):
            return entry.value
        try:
            value = fetch()
        except DirectoryUnavailable:
            if entry is not None:
                log.warning("slack directory unavailable, using an older answer key=%s", key)
                return entry.value
            raise
        with self._lock:
            store[key] = _Entry(value, self._clock())
        return value

    def _fetch_members(self, usergroup_id: str) -> frozenset[str]:
        try:
            response = self._client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as exc:
            if exc.response.get("error") in _GONE_GROUP:
                return frozenset()
            raise DirectoryUnavailable(f"Slack did not list the group's members ({_why(exc)})") from None
        except SlackClientError as exc:
            raise DirectoryUnavailable(f"Slack did not list the group's members ({_why(exc)})") from None
        return frozenset(str(u) for u in response.get("users") or ())

    def _fetch_admin(self, user_id: str) -> bool:
        try:
            response = self._client.users_info(user=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") in _GONE_USER:
                return False
            raise DirectoryUnavailable(f"Slack did not describe the user ({_why(exc)})") from None
        except SlackClientError as exc:
            raise DirectoryUnavailable(f"Slack did not describe the user ({_why(exc)})") from None
        user = response.get("user") or {}
        if user.get("deleted"):
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    return type(exc).__name__
