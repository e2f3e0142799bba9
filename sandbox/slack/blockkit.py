"""Block Kit limits checked the way Slack's Web API does, with its `[ERROR] … [json-pointer:…]` messages."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3_000
MAX_CALLBACK_ID = 255
MAX_ID = 255
MAX_VIEW_STACK = 3

BLOCK_TYPES = frozenset(
    {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "input",
        "header",
        "rich_text",
        "video",
        "file",
        "markdown",
        "table",
        "context_actions",
    }
)
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "static_select",
        "external_select",
        "multi_static_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "radio_buttons",
        "checkboxes",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "file_input",
    }
)
INTERACTIVE_ELEMENTS = INPUT_ELEMENTS | {"button", "overflow", "workflow_button"}
_OPTION_LIMITS = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")


class _Checker:
    """Collects problems under a json-pointer prefix."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    def max_len(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def text(
        self, obj: object, pointer: str, *, limit: int, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.add("missing required field: text", pointer)
            return
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.add(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("missing required field: text", f"{pointer}/text")
        elif not text:
            self.add("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_len(text, limit, f"{pointer}/text")

    def blocks(self, blocks: object, pointer: str, *, limit: int) -> None:
        if not isinstance(blocks, list):
            self.add("must be an array", pointer)
            return
        if len(blocks) > limit:
            self.add(f"no more than {limit} items allowed", pointer)
        seen: set[str] = set()
        for i, block in enumerate(blocks):
            self.block(block, f"{pointer}/{i}", seen)

    def block(self, block: object, pointer: str, seen: set[str]) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", pointer)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(f"unsupported type: {kind}", f"{pointer}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.add("must be a non-empty string", f"{pointer}/block_id")
            else:
                self.max_len(block_id, MAX_ID, f"{pointer}/block_id")
                if block_id in seen:
                    self.add(f"duplicate block_id: {block_id}", f"{pointer}/block_id")
                seen.add(block_id)
        if kind == "section":
            self.section(block, pointer)
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", limit=150, plain_only=True)
        elif kind == "context":
            self.elements(block.get("elements"), f"{pointer}/elements", limit=10, interactive=False)
        elif kind == "actions":
            self.elements(block.get("elements"), f"{pointer}/elements", limit=25, interactive=True)
        elif kind == "input":
            self.input(block, pointer)
        elif kind == "image":
            if "image_url" not in block and "slack_file" not in block:
                self.add("missing required field: image_url", f"{pointer}/image_url")
            if not isinstance(block.get("alt_text"), str):
                self.add("missing required field: alt_text", f"{pointer}/alt_text")
            self.max_len(block.get("alt_text"), 2000, f"{pointer}/alt_text")
        elif kind == "markdown":
            if not isinstance(block.get("text"), str):
                self.add("missing required field: text", f"{pointer}/text")
            self.max_len(block.get("text"), 12_000, f"{pointer}/text")

    def section(self, block: Json, pointer: str) -> None:
        fields = block.get("fields")
        if block.get("text") is None and fields is None:
            self.add("must provide either text or fields", pointer)
        if block.get("text") is not None:
            self.text(block["text"], f"{pointer}/text", limit=3000)
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                self.add("must be a non-empty array", f"{pointer}/fields")
            else:
                if len(fields) > 10:
                    self.add("no more than 10 items allowed", f"{pointer}/fields")
                for i, item in enumerate(fields):
                    self.text(item, f"{pointer}/fields/{i}", limit=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory")

    def input(self, block: Json, pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
        if block.get("hint") is not None:
            self.text(block["hint"], f"{pointer}/hint", limit=2000, plain_only=True)
        element = block.get("element")
        if not isinstance(element, dict):
            self.add("missing required field: element", f"{pointer}/element")
            return
        if element.get("type") not in INPUT_ELEMENTS:
            self.add(f"unsupported type for an input block: {element.get('type')}", f"{pointer}/element/type")
        self.element(element, f"{pointer}/element")

    def elements(self, elements: object, pointer: str, *, limit: int, interactive: bool) -> None:
        if not isinstance(elements, list) or not elements:
            self.add("must be a non-empty array", pointer)
            return
        if len(elements) > limit:
            self.add(f"no more than {limit} items allowed", pointer)
        action_ids: set[str] = set()
        for i, element in enumerate(elements):
            if interactive:
                self.element(element, f"{pointer}/{i}")
                if isinstance(element, dict) and isinstance(element.get("action_id"), str):
                    if element["action_id"] in action_ids:
                        self.add(f"duplicate action_id: {element['action_id']}", f"{pointer}/{i}/action_id")
                    action_ids.add(element["action_id"])
            elif isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                self.text(element, f"{pointer}/{i}", limit=3000)

    def element(self, element: object, pointer: str) -> None:
        if not isinstance(element, dict):
            self.add("must be an object", pointer)
            return
        kind = element.get("type")
        if not isinstance(kind, str):
            self.add("missing required field: type", f"{pointer}/type")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id:
                self.add("must be a non-empty string", f"{pointer}/action_id")
            self.max_len(action_id, MAX_ID, f"{pointer}/action_id")
        if element.get("placeholder") is not None:
            self.text(element["placeholder"], f"{pointer}/placeholder", limit=150, plain_only=True)
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", limit=75, plain_only=True)
            self.max_len(element.get("value"), 2000, f"{pointer}/value")
            self.max_len(element.get("url"), 3000, f"{pointer}/url")
            if element.get("style") not in (None, "primary", "danger"):
                self.add("must be one of primary, danger", f"{pointer}/style")
        elif kind in ("static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow"):
            self.options(element, pointer, kind)
        elif kind in ("plain_text_input", "rich_text_input"):
            for key in ("min_length", "max_length"):
                value = element.get(key)
                if isinstance(value, int) and not 0 <= value <= 3000:
                    self.add("must be between 0 and 3000", f"{pointer}/{key}")
        elif kind == "number_input":
            if not isinstance(element.get("is_decimal_allowed"), bool):
                self.add("missing required field: is_decimal_allowed", f"{pointer}/is_decimal_allowed")
        elif kind == "datepicker":
            initial = element.get("initial_date")
            if initial is not None and not (isinstance(initial, str) and _DATE.match(initial)):
                self.add("must be in the format YYYY-MM-DD", f"{pointer}/initial_date")
        elif kind == "timepicker":
            initial = element.get("initial_time")
            if initial is not None and not (isinstance(initial, str) and _TIME.match(initial)):
                self.add("must be in the format HH:mm", f"{pointer}/initial_time")

    def options(self, element: Json, pointer: str, kind: str) -> None:
        options = element.get("options")
        groups = element.get("option_groups")
        if options is None and groups is None:
            self.add("must provide either options or option_groups", pointer)
            return
        limit = _OPTION_LIMITS.get(kind, 100)
        values: set[str] = set()
        if options is not None:
            self.option_list(options, f"{pointer}/options", limit, values, plain_only=kind != "checkboxes")
        if groups is not None:
            if not isinstance(groups, list) or len(groups) > 100:
                self.add("no more than 100 items allowed", f"{pointer}/option_groups")
            else:
                for i, group in enumerate(groups):
                    gptr = f"{pointer}/option_groups/{i}"
                    if not isinstance(group, dict):
                        self.add("must be an object", gptr)
                        continue
                    self.text(group.get("label"), f"{gptr}/label", limit=75, plain_only=True)
                    self.option_list(group.get("options"), f"{gptr}/options", 100, values, plain_only=True)
        for key in ("initial_option",):
            initial = element.get(key)
            if isinstance(initial, dict) and initial.get("value") not in values:
                self.add("must match one of the options", f"{pointer}/{key}")
        initials = element.get("initial_options")
        if isinstance(initials, list):
            for i, initial in enumerate(initials):
                if isinstance(initial, dict) and initial.get("value") not in values:
                    self.add("must match one of the options", f"{pointer}/initial_options/{i}")

    def option_list(
        self, options: object, pointer: str, limit: int, values: set[str], *, plain_only: bool
    ) -> None:
        if not isinstance(options, list) or not options:
            self.add("must be a non-empty array", pointer)
            return
        if len(options) > limit:
            self.add(f"no more than {limit} items allowed", pointer)
        for i, option in enumerate(options):
            if not isinstance(option, dict):
                self.add("must be an object", f"{pointer}/{i}")
                continue
            self.text(option.get("text"), f"{pointer}/{i}/text", limit=75, plain_only=plain_only)
            value = option.get("value")
            if not isinstance(value, str):
                self.add("missing required field: value", f"{pointer}/{i}/value")
            else:
                self.max_len(value, 150, f"{pointer}/{i}/value")
                values.add(value)


def message_block_problems(blocks: object) -> list[str]:
    """Problems Slack reports as `invalid_blocks` for a message's `blocks`."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", limit=MAX_MESSAGE_BLOCKS)
    return checker.problems


def view_problems(view: object, *, allowed_types: tuple[str, ...]) -> list[str]:
    """Problems Slack reports as `invalid_arguments` for a view (modal or App Home)."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.add("must be an object", "/view")
        return checker.problems
    kind = view.get("type")
    if kind not in allowed_types:
        checker.add(f"must be one of {', '.join(allowed_types)}", "/view/type")
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", limit=MAX_VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(view[key], f"/view/{key}", limit=MAX_VIEW_TITLE, plain_only=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            checker.add("missing required field: submit (a view with input blocks needs one)", "/view/submit")
    elif view.get("submit") is not None and kind == "home":
        checker.add("home views cannot have a submit button", "/view/submit")
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_CALLBACK_ID),
        ("external_id", MAX_ID),
    ):
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            checker.add("must be a string", f"/view/{key}")
        checker.max_len(value, limit, f"/view/{key}")
    checker.blocks(view.get("blocks"), "/view/blocks", limit=MAX_VIEW_BLOCKS)
    return checker.problems


def with_generated_ids(blocks: list[Json], rng: random.Random) -> list[Json]:
    """Copy of `blocks` where blocks and interactive elements lacking ids get random ones, as Slack does."""
    alphabet = string.ascii_letters + string.digits
    out: list[Json] = []
    for block in blocks:
        copy = dict(block)
        if "block_id" not in copy:
            copy["block_id"] = "".join(rng.choice(alphabet) for _ in range(5))
        for key in ("element", "accessory"):
            if isinstance(copy.get(key), dict):
                copy[key] = _with_action_id(copy[key], rng, alphabet)
        if isinstance(copy.get("elements"), list) and copy.get("type") == "actions":
            copy["elements"] = [_with_action_id(e, rng, alphabet) for e in copy["elements"]]
        out.append(copy)
    return out


def _with_action_id(element: Any, rng: random.Random, alphabet: str) -> Any:
    if (
        isinstance(element, dict)
        and element.get("type") in INTERACTIVE_ELEMENTS
        and "action_id" not in element
    ):
        return {**element, "action_id": "".join(rng.choice(alphabet) for _ in range(5))}
    return element


def iter_elements(blocks: list[Json]) -> Iterator[tuple[Json, Json]]:
    """Every (block, interactive element) pair, in display order."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if block.get("type") == "input":
            candidates.append(block.get("element"))
        elif block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        if block.get("accessory") is not None:
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("type") in INTERACTIVE_ELEMENTS:
                yield block, element
