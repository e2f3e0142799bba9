"""The newest interaction with a modal wins, however its `views.update` calls finish.

Two quick choices in a modal arrive with the same view hash (the client had not been updated yet) and
their re-renders run on their own threads. Whichever `views.update` lands first changes the hash, so the
other gets `hash_conflict`. When the loser is the newer choice, dropping it would leave the modal showing
the older one and lose what the user just picked. `ViewUpdates` orders them per view by when the user
acted (the payload's `action_ts`, so the order holds whatever order the requests arrive in): an update
older than the one shown is skipped, and a newer one that conflicts with this process's own older update
is sent again over it. A conflict with anything else (another replica, a later edit) is left alone: a
newer update follows from that interaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Conflict:
    """What a `send` returns when Slack refused the update for a stale hash."""


CONFLICT = Conflict()

Send = Callable[[str | None], "str | Conflict | None"]
"""views.update with this hash: the view's new hash, CONFLICT, or None when it failed otherwise."""


@dataclass
class _Shown:
    acted_at: float
    hash: str


class ViewUpdates:
    MAX_VIEWS = 2_000
    """Views remembered; beyond that the idle ones are forgotten (a modal lives for minutes, not days)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._shown: dict[str, _Shown] = {}

    @staticmethod
    def acted_at(action: dict[str, object]) -> float:
        """When the user acted: Slack's `action_ts`, else now (a payload without one)."""
        try:
            return float(str(action.get("action_ts")))
        except ValueError:
            return time.time()

    def update(self, view_id: str, acted_at: float, seen_hash: str | None, send: Send) -> str | None:
        """Send the re-render of an interaction made at `acted_at`; the view's new hash, or None when it was
        skipped (a newer one is shown) or refused."""
        with self._lock(view_id):
            shown = self._shown.get(view_id)
            if shown is not None and shown.acted_at > acted_at:
                return None
            result = send(seen_hash)
            if isinstance(result, Conflict) and shown is not None and shown.hash != seen_hash:
                result = send(shown.hash)
            if isinstance(result, str):
                self._shown[view_id] = _Shown(acted_at, result)
                return result
            return None

    def _lock(self, view_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(view_id)
            if lock is None:
                if len(self._locks) >= self.MAX_VIEWS:
                    self._forget_idle()
                lock = self._locks[view_id] = threading.Lock()
            return lock

    def _forget_idle(self) -> None:
        for view_id, lock in list(self._locks.items()):
            if not lock.locked():
                del self._locks[view_id]
                self._shown.pop(view_id, None)
