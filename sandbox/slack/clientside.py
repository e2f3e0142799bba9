"""What Slack's client does around a request: find what is clickable, check inputs, read options answers."""

from __future__ import annotations

from typing import Any

from sandbox.slack import elements
from sandbox.slack.views import StoredView

Json = dict[str, Any]


def action_label(action: Json) -> str:
    """What the user did, in words a transcript can show."""
    if isinstance(action.get("text"), dict):
        return str(action["text"].get("text", ""))
    option = action.get("selected_option")
    if isinstance(option, dict):
        return str(option.get("text", {}).get("text", option.get("value", "")))
    for key in ("selected_options", "selected_users", "selected_conversations", "selected_channels"):
        if isinstance(action.get(key), list):
            return ", ".join(str(o.get("value") if isinstance(o, dict) else o) for o in action[key])
    for key in (
        "value",
        "selected_date",
        "selected_time",
        "selected_date_time",
        "selected_user",
        "selected_conversation",
        "selected_channel",
    ):
        if action.get(key) is not None:
            return str(action[key])
    return str(action.get("action_id", ""))


def pick(
    candidates: list[tuple[Json, Json]], action_id: str, block_id: str | None, value: object, *, where: str
) -> tuple[Json, Json]:
    """The element the user would click: by action id, narrowed by block id or a button's value."""
    found = [
        (b, e)
        for b, e in candidates
        if e.get("action_id") == action_id and (block_id is None or b.get("block_id") == block_id)
    ]
    if len(found) > 1 and value is not None:
        by_value = [(b, e) for b, e in found if e.get("type") == "button" and e.get("value") == value]
        found = by_value or found
    if not found:
        shown = ", ".join(f"{b.get('block_id')}/{e.get('action_id')}" for b, e in candidates) or "nothing"
        raise LookupError(f"{where} has no element {block_id or '*'}/{action_id} (it shows: {shown})")
    if len(found) > 1:
        raise LookupError(f"{where} has {len(found)} elements {action_id}; name the block_id")
    block, element = found[0]
    if element.get("type") == "button" and value is not None and element.get("value") != value:
        raise ValueError(f"button {action_id} carries value {element.get('value')!r}, not {value!r}")
    return block, element


def option_problems(data: Json) -> list[str]:
    """What Slack would reject in an options answer: too many options, texts or values too long."""
    problems = []
    options = data.get("options")
    if isinstance(options, list) and len(options) > 100:
        problems.append("more than 100 options")
    groups = data.get("option_groups")
    if isinstance(groups, list) and len(groups) > 100:
        problems.append("more than 100 option groups")
    shown = list(options or []) + [o for g in groups or [] for o in (g.get("options") or [])]
    for option in shown:
        text = option.get("text", {}).get("text", "") if isinstance(option.get("text"), dict) else ""
        if not text or len(text) > 75:
            problems.append(f"option text must be 1-75 characters: {text[:80]!r}")
        if not isinstance(option.get("value"), str) or len(option["value"]) > 150:
            problems.append(
                f"option value must be a string of at most 150 characters: {option.get('value')!r}"
            )
    return problems


def client_side_errors(view: StoredView) -> dict[str, str]:
    """What Slack's client refuses before sending: empty required inputs, lengths, number bounds."""
    errors: dict[str, str] = {}
    values = view.state_values()
    for block in view.blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict) or not elements.is_stateful(element):
            continue
        block_id = str(block["block_id"])
        entry = values.get(block_id, {}).get(str(element.get("action_id")), {})
        filled = [v for k, v in entry.items() if k not in ("type", "timezone") and v not in (None, [], "")]
        if not filled:
            if not block.get("optional"):
                errors[block_id] = "Please complete this required field."
            continue
        value = entry.get("value")
        if isinstance(value, str):
            errors.update(text_errors(block_id, element, value))
    return errors


def text_errors(block_id: str, element: Json, value: str) -> dict[str, str]:
    """The client's own check of typed text: lengths of text inputs, form and bounds of number inputs."""
    kind = element.get("type")
    if kind == "plain_text_input":
        if isinstance(element.get("min_length"), int) and len(value) < element["min_length"]:
            return {block_id: f"Please enter at least {element['min_length']} characters."}
        if isinstance(element.get("max_length"), int) and len(value) > element["max_length"]:
            return {block_id: f"Please enter no more than {element['max_length']} characters."}
    if kind == "number_input":
        try:
            number = float(value)
        except ValueError:
            return {block_id: "Please enter a number."}
        if not element.get("is_decimal_allowed") and not number.is_integer():
            return {block_id: "Please enter a whole number."}
        low, high = _number(element.get("min_value")), _number(element.get("max_value"))
        if low is not None and number < low:
            return {block_id: f"Please enter a number of at least {element['min_value']}."}
        if high is not None and number > high:
            return {block_id: f"Please enter a number no greater than {element['max_value']}."}
    return {}


def _number(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None
