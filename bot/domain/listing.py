"""`/smc list` and `/smc status`: which requests to show, and what an id the user typed refers to.

The read models are C1's (`bot.domain.views.RequestView`, built by `RequestService`) and the import
batch view (`bot.domain.imports.ImportBatchView`); this module only chooses and looks up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.errors import DomainError, NotFound
from bot.domain.imports import ImportBatchView, ImportService
from bot.domain.requests import JOB_ID_PREFIX, REQUEST_ID_PREFIX, RequestService
from bot.domain.views import RequestView
from bot.domain.workflow import CLOSED
from storage.enums import RequestState

SHOWN = 40
"""Rows per answer: one section each keeps a message well under Slack's 50 blocks."""
SCANNED = 200
"""Rows read to count what is not shown ("and N more"); beyond that the count is a lower bound."""

ACTIVE_STATES: frozenset[RequestState] = frozenset(RequestState) - CLOSED - {RequestState.COMPLETED}
"""Waiting for someone, running, or failed and still open."""

IMPORT_PREFIX = "imp-"
_REF = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


class ListScope(StrEnum):
    MINE = "mine"
    ACTIVE = "active"
    ALL = "all"


DEFAULT_SCOPE = ListScope.ACTIVE
"""What a channel most often wants to know: what is going on now, whoever asked for it."""

SCOPE_WORDS: dict[ListScope, str] = {
    ListScope.MINE: "your requests",
    ListScope.ACTIVE: "active requests",
    ListScope.ALL: "all requests",
}


class InvalidArgument(DomainError):  # noqa: N818 -- the house style's names
    """A command argument the bot cannot read; the message says what to type."""


def parse_scope(text: str) -> ListScope:
    word = text.strip().lower()
    if not word:
        return DEFAULT_SCOPE
    try:
        return ListScope(word)
    except ValueError:
        raise InvalidArgument(
            f"`{word[:30]}` is not a list: type `/smc list mine`, `/smc list active` (the default) "
            "or `/smc list all`."
        ) from None


def normalise_ref(text: str) -> str:
    """What the user typed as an id, without the backticks or spaces Slack formatting adds."""
    return text.strip().strip("`*_ <>").lower()


@dataclass(frozen=True)
class RequestListing:
    """One page of requests, newest first, and how many more there are."""

    scope: ListScope
    rows: tuple[RequestView, ...]
    more: int
    more_is_lower_bound: bool


class ListingService:
    """Looks requests and import batches up for the list and status commands."""

    def __init__(self, requests: RequestService, imports: ImportService) -> None:
        self._requests = requests
        self._imports = imports

    def listing(
        self, *, channel_id: str, user_id: str, scope: ListScope, shown: int = SHOWN
    ) -> RequestListing:
        """Requests of this channel in `scope`, newest first."""
        rows = self._requests.list_requests(
            channel_id=channel_id,
            requester=user_id if scope is ListScope.MINE else None,
            states=ACTIVE_STATES if scope is ListScope.ACTIVE else None,
            limit=SCANNED,
        )
        return RequestListing(
            scope=scope,
            rows=tuple(rows[:shown]),
            more=max(0, len(rows) - shown),
            more_is_lower_bound=len(rows) >= SCANNED,
        )

    def status(self, *, team_id: str, text: str) -> RequestView | ImportBatchView:
        """The request (by `r-…` or its SMC job `j-…`) or import batch (`imp-…`) of this workspace."""
        ref = normalise_ref(text)
        if not ref:
            raise InvalidArgument(
                "Name the request: `/smc status r-7k2q9m4x` or `/smc status j-bp1…` (its SMC job). "
                "`/smc list` shows the ids."
            )
        what = f"`{text.strip()[:40]}`"
        if not _REF.fullmatch(ref):
            raise NotFound(what)
        if ref.startswith(IMPORT_PREFIX):
            batch = self._imports.summary(ref)
            if batch is None or batch.team_id != team_id:
                raise NotFound(what)
            return batch
        if not ref.startswith((f"{REQUEST_ID_PREFIX}-", JOB_ID_PREFIX)):
            raise NotFound(what)
        try:
            view = self._requests.status(ref)
        except NotFound:
            raise NotFound(what) from None
        if view.team_id != team_id:
            raise NotFound(what)
        return view
