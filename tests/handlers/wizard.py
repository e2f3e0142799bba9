"""A user going through the Start migration wizard over signed HTTP (test helper, not a test)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from handlers.forms import key_of
from handlers.ids import ActionId
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, BotResponse, ViewSnapshot
from tests.harness import BotUnderTest

FIELD = ActionId.MIGRATE_FIELD.value


class WizardUser:
    """Opens `/smc migrate`, picks, types, submits; every call waits for the bot's after-ack work."""

    def __init__(self, bot: BotUnderTest, user: str = REQUESTER, channel: str = MIGRATIONS_CHANNEL) -> None:
        self.bot = bot
        self.user = user
        self.channel = channel
        self.view_id = ""

    def open(self, text: str = "migrate") -> BotResponse:
        result = self.bot.driver.slash_command(self.user, self.channel, text=text)
        self.bot.wait_for_background()
        opened = self.bot.slack.open_view(self.user)
        assert opened is not None, "the bot opened no modal"
        self.view_id = opened.id
        return result

    @property
    def view(self) -> ViewSnapshot:
        return self.bot.slack.view(self.view_id)

    def fields(self) -> list[str]:
        """Field keys of the input blocks shown now, in order."""
        return [key_of(str(b["block_id"])) for b in self.view.blocks if b.get("type") == "input"]

    def block(self, key: str) -> str:
        found = [str(b["block_id"]) for b in self.view.blocks if key_of(str(b.get("block_id", ""))) == key]
        assert found, f"the view shows no block for {key} (it shows {self.fields()})"
        return found[0]

    def text(self) -> str:
        """Every text of the view, for asserting on what the user reads."""
        return json.dumps(self.view.blocks, ensure_ascii=False)

    def options(self, key: str, query: str = "") -> BotResponse:
        return self.bot.driver.options(self.user, self.view_id, FIELD, block_id=self.block(key), value=query)

    def choose(self, key: str, value: object, *, query: str | None = None) -> BotResponse:
        """Pick in a dispatching element (an external select is opened first, as a user would)."""
        element = self._element(key)
        if element.get("type") == "external_select":
            shown = self.options(key, query or "")
            assert not shown.problems, shown.problems
        result = self.bot.driver.block_action(
            self.user, FIELD, value, view_id=self.view_id, block_id=self.block(key)
        )
        self.bot.wait_for_background()
        return result

    def back(self) -> BotResponse:
        result = self.bot.driver.block_action(self.user, ActionId.MIGRATE_BACK.value, view_id=self.view_id)
        self.bot.wait_for_background()
        return result

    def fill(self, values: Mapping[str, object]) -> None:
        self.bot.driver.fill(self.user, self.view_id, self._form(values))

    def submit(self, values: Mapping[str, object] | None = None) -> BotResponse:
        result = self.bot.driver.submit_view(self.user, self.view_id, self._form(values or {}))
        self.bot.wait_for_background()
        return result

    def _form(self, values: Mapping[str, object]) -> dict[str, dict[str, object]]:
        return {self.block(key): {FIELD: value} for key, value in values.items()}

    def _element(self, key: str) -> dict[str, Any]:
        block = next(b for b in self.view.blocks if b.get("block_id") == self.block(key))
        element: dict[str, Any] = block["element"]
        return element


def errors_by_key(result: BotResponse) -> dict[str, str]:
    """`response_action: errors` of a submission, keyed by field key instead of block id."""
    data = result.data
    assert isinstance(data, dict) and data.get("response_action") == "errors", data
    return {key_of(block): message for block, message in data["errors"].items()}
