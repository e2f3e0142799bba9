"""The App Home read model: my requests, what waits for my approval, and the workspace's active migrations.

Everything is read from the database when the tab opens (plus the approver directory, cached), so the
page is as current as the poller's last tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.domain.approvals import ApprovalService, WaitingApproval
from bot.domain.listing import ACTIVE_STATES
from bot.domain.requests import RequestService
from bot.domain.views import RequestView

MY_REQUESTS = 10
ACTIVE = 20
WAITING = 10
SCANNED = 200
"""Rows read per list; beyond that the "more" count is a lower bound."""


T = TypeVar("T")


@dataclass(frozen=True)
class Shown(Generic[T]):
    """The first rows of a list and how many were left out."""

    rows: tuple[T, ...]
    more: int


@dataclass(frozen=True)
class HomeView:
    user_id: str
    waiting: Shown[WaitingApproval]
    mine: Shown[RequestView]
    active: Shown[RequestView]


def _first(rows: list[T], shown: int) -> Shown[T]:
    return Shown(tuple(rows[:shown]), max(0, len(rows) - shown))


class HomeService:
    """Builds one person's App Home from the request and approval services."""

    def __init__(self, requests: RequestService, approvals: ApprovalService) -> None:
        self._requests = requests
        self._approvals = approvals

    def home(self, *, team_id: str, user_id: str) -> HomeView:
        """Newest first; only this workspace's requests (one database may serve several)."""
        # Slack user ids are per workspace: what waits for this user is this workspace's.
        waiting = self._approvals.waiting_for(user_id)
        mine = [
            r for r in self._requests.list_requests(requester=user_id, limit=SCANNED) if r.team_id == team_id
        ]
        active = [
            r
            for r in self._requests.list_requests(states=ACTIVE_STATES, limit=SCANNED)
            if r.team_id == team_id
        ]
        return HomeView(
            user_id=user_id,
            waiting=_first(waiting, WAITING),
            mine=_first(mine, MY_REQUESTS),
            active=_first(active, ACTIVE),
        )
