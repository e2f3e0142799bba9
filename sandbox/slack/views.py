"""Modal stacks and App Home views per user: ids, hashes, preserved input, and the stack limit."""

from __future__ import annotations

import copy
import random
import string
from dataclasses import dataclass, field
from typing import Any

from sandbox.slack import elements
from sandbox.slack.blockkit import MAX_VIEW_STACK, iter_elements, with_generated_ids
from sandbox.slack.errors import ApiError
from sandbox.slack.records import ViewSnapshot

Json = dict[str, Any]


@dataclass
class StoredView:
    """A live view; `entered` holds what the user typed or picked, keyed block_id -> action_id."""

    id: str
    team_id: str
    app_id: str
    bot_id: str
    user: str
    definition: Json
    hash: str
    root_view_id: str
    previous_view_id: str | None
    entered: dict[str, dict[str, Json]] = field(default_factory=dict)
    is_open: bool = True
    versions: int = 1

    @property
    def type(self) -> str:
        """`modal` or `home`."""
        return str(self.definition.get("type", ""))

    @property
    def blocks(self) -> list[Json]:
        """The blocks as stored (with Slack-generated ids filled in)."""
        blocks = self.definition.get("blocks") or []
        return list(blocks)

    @property
    def external_id(self) -> str:
        """The caller's id for the view, or ''."""
        return str(self.definition.get("external_id") or "")

    def find(self, action_id: str, block_id: str | None = None) -> tuple[Json, Json]:
        """The (block, element) for an action id; raises LookupError when the view has no such element."""
        matches = [
            (b, e)
            for b, e in iter_elements(self.blocks)
            if e.get("action_id") == action_id and (block_id is None or b.get("block_id") == block_id)
        ]
        if not matches:
            raise LookupError(f"view {self.id} has no element {block_id or '*'}/{action_id}")
        return matches[0]

    def state_values(self) -> dict[str, dict[str, Json]]:
        """`view.state.values` as Slack sends it: initial values overlaid by what the user entered."""
        values: dict[str, dict[str, Json]] = {}
        for block, element in iter_elements(self.blocks):
            if not elements.is_stateful(element):
                continue
            block_id, action_id = str(block["block_id"]), str(element["action_id"])
            entry = self.entered.get(block_id, {}).get(action_id) or elements.initial_state(element)
            values.setdefault(block_id, {})[action_id] = copy.deepcopy(entry)
        return values

    def to_api(self) -> Json:
        """Slack's view object."""
        d = self.definition
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "title": d.get("title"),
            "submit": d.get("submit"),
            "close": d.get("close"),
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": d.get("private_metadata", ""),
            "callback_id": d.get("callback_id", ""),
            "state": {"values": self.state_values()},
            "hash": self.hash,
            "clear_on_close": bool(d.get("clear_on_close", False)),
            "notify_on_close": bool(d.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "external_id": self.external_id,
            "bot_id": self.bot_id,
        }

    def snapshot(self) -> ViewSnapshot:
        """A read-only copy."""
        title = self.definition.get("title")
        return ViewSnapshot(
            id=self.id,
            user=self.user,
            type=self.type,
            callback_id=str(self.definition.get("callback_id") or ""),
            external_id=self.external_id,
            title=str(title.get("text", "")) if isinstance(title, dict) else "",
            blocks=copy.deepcopy(self.blocks),
            private_metadata=str(self.definition.get("private_metadata") or ""),
            hash=self.hash,
            state_values=self.state_values(),
            root_view_id=self.root_view_id,
            previous_view_id=self.previous_view_id,
            is_open=self.is_open,
            notify_on_close=bool(self.definition.get("notify_on_close", False)),
            definition=copy.deepcopy(self.definition),
            versions=self.versions,
        )


class ViewStore:
    """All views; callers hold the stand-in's lock."""

    def __init__(self, rng: random.Random, *, team_id: str, app_id: str, bot_id: str) -> None:
        self._rng = rng
        self._team_id = team_id
        self._app_id = app_id
        self._bot_id = bot_id
        self.views: dict[str, StoredView] = {}
        self.stacks: dict[str, list[str]] = {}
        self.homes: dict[str, str] = {}

    def get(self, view_id: str) -> StoredView:
        """A view by id; `not_found` when unknown."""
        view = self.views.get(view_id)
        if view is None:
            raise ApiError("not_found")
        return view

    def top(self, user: str) -> StoredView | None:
        """The modal the user is looking at, if any."""
        stack = self.stacks.get(user) or []
        return self.views[stack[-1]] if stack else None

    def resolve(self, *, view_id: str | None, external_id: str | None) -> StoredView:
        """The open view named by id or external id (`views.update`)."""
        if view_id:
            view = self.views.get(view_id)
        else:
            view = next(
                (
                    v
                    for v in self.views.values()
                    if external_id and v.external_id == external_id and v.is_open
                ),
                None,
            )
        if view is None or not view.is_open:
            raise ApiError("not_found")
        return view

    def open(self, user: str, definition: Json, now: float) -> StoredView:
        """Open a new modal stack for the user (any stack they had is closed)."""
        self._check_external_id(definition)
        for view_id in self.stacks.get(user, []):
            self.views[view_id].is_open = False
        view = self._new(user, definition, now, root=None, previous=None)
        self.stacks[user] = [view.id]
        return view

    def push(self, user: str, definition: Json, now: float) -> StoredView:
        """Push onto the user's open stack; Slack allows three views."""
        stack = self.stacks.get(user) or []
        if not stack:
            raise ApiError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise ApiError("push_limit_reached")
        self._check_external_id(definition)
        top = self.views[stack[-1]]
        view = self._new(user, definition, now, root=top.root_view_id, previous=top.id)
        stack.append(view.id)
        return view

    def update(
        self, view: StoredView, definition: Json, now: float, *, expected_hash: str | None
    ) -> StoredView:
        """Replace a view's content in place; a stale hash is `hash_conflict`, input entries survive."""
        if expected_hash is not None and expected_hash != view.hash:
            raise ApiError("hash_conflict")
        new_definition = self._prepared(definition)
        kept: dict[str, dict[str, Json]] = {}
        for block, element in iter_elements(new_definition.get("blocks") or []):
            block_id, action_id = str(block["block_id"]), str(element["action_id"])
            old = view.entered.get(block_id, {}).get(action_id)
            if old is not None and old.get("type") == element.get("type"):
                kept.setdefault(block_id, {})[action_id] = old
        view.definition = new_definition
        view.entered = kept
        view.hash = self._hash(now)
        view.versions += 1
        return view

    def publish(self, user: str, definition: Json, now: float, *, expected_hash: str | None) -> StoredView:
        """Create or replace the user's App Home."""
        home_id = self.homes.get(user)
        if home_id is None:
            view = self._new(user, definition, now, root=None, previous=None)
            self.homes[user] = view.id
            return view
        return self.update(self.views[home_id], definition, now, expected_hash=expected_hash)

    def close(self, view: StoredView, *, clear: bool = False) -> list[StoredView]:
        """Close a view and everything above it (all of the stack when `clear`); returns what closed."""
        stack = self.stacks.get(view.user) or []
        if view.id not in stack:
            return []
        cut = 0 if clear else stack.index(view.id)
        closed = [self.views[v] for v in stack[cut:]]
        for v in closed:
            v.is_open = False
        del stack[cut:]
        return closed

    def set_entry(self, view: StoredView, block_id: str, action_id: str, entry: Json) -> None:
        """Record what the user entered in one element."""
        view.entered.setdefault(block_id, {})[action_id] = entry

    def _new(
        self, user: str, definition: Json, now: float, *, root: str | None, previous: str | None
    ) -> StoredView:
        view_id = "V" + "".join(self._rng.choice(string.ascii_uppercase + string.digits) for _ in range(10))
        view = StoredView(
            id=view_id,
            team_id=self._team_id,
            app_id=self._app_id,
            bot_id=self._bot_id,
            user=user,
            definition=self._prepared(definition),
            hash=self._hash(now),
            root_view_id=root or view_id,
            previous_view_id=previous,
        )
        self.views[view_id] = view
        return view

    def _prepared(self, definition: Json) -> Json:
        prepared = copy.deepcopy(definition)
        prepared["blocks"] = with_generated_ids(list(prepared.get("blocks") or []), self._rng)
        return prepared

    def _hash(self, now: float) -> str:
        return f"{int(now)}.{self._rng.getrandbits(32):08x}"

    def _check_external_id(self, definition: Json) -> None:
        ext = definition.get("external_id")
        if ext and any(v.external_id == ext and v.is_open for v in self.views.values()):
            raise ApiError("duplicate_external_id")
