"""What each input element contributes to `view.state.values`, and how a plain value becomes that shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Json = dict[str, Any]

# element type -> (state key, initial-value key, is a list)
_STATE_KEYS: dict[str, tuple[str, str, bool]] = {
    "plain_text_input": ("value", "initial_value", False),
    "number_input": ("value", "initial_value", False),
    "email_text_input": ("value", "initial_value", False),
    "url_text_input": ("value", "initial_value", False),
    "rich_text_input": ("rich_text_value", "initial_value", False),
    "static_select": ("selected_option", "initial_option", False),
    "external_select": ("selected_option", "initial_option", False),
    "radio_buttons": ("selected_option", "initial_option", False),
    "multi_static_select": ("selected_options", "initial_options", True),
    "multi_external_select": ("selected_options", "initial_options", True),
    "checkboxes": ("selected_options", "initial_options", True),
    "datepicker": ("selected_date", "initial_date", False),
    "timepicker": ("selected_time", "initial_time", False),
    "datetimepicker": ("selected_date_time", "initial_date_time", False),
    "users_select": ("selected_user", "initial_user", False),
    "multi_users_select": ("selected_users", "initial_users", True),
    "conversations_select": ("selected_conversation", "initial_conversation", False),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", True),
    "channels_select": ("selected_channel", "initial_channel", False),
    "multi_channels_select": ("selected_channels", "initial_channels", True),
}
_OPTION_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "radio_buttons",
        "multi_static_select",
        "multi_external_select",
        "checkboxes",
        "overflow",
    }
)
_EXTERNAL = frozenset({"external_select", "multi_external_select"})


def is_stateful(element: Json) -> bool:
    """Whether the element appears in `state.values`."""
    return element.get("type") in _STATE_KEYS


def initial_state(element: Json) -> Json:
    """The state entry before the user touches the element: its initial value, or empty."""
    kind = str(element.get("type"))
    key, initial_key, is_list = _STATE_KEYS[kind]
    default: Any = [] if is_list else None
    entry: Json = {"type": kind, key: element.get(initial_key, default)}
    if kind == "timepicker" and element.get("timezone"):
        entry["timezone"] = element["timezone"]
    return entry


def all_options(element: Json) -> list[Json]:
    """The element's static options, flattening option groups."""
    options: list[Json] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def find_option(element: Json, value: object, extra: Sequence[Json] = ()) -> Json:
    """The option a user would pick for `value`, as Slack echoes it (`{text, value}`)."""
    if isinstance(value, Mapping):
        text = value.get("text")
        text_obj = (
            text if isinstance(text, Mapping) else {"type": "plain_text", "text": str(text or value["value"])}
        )
        return {"text": dict(text_obj), "value": str(value["value"])}
    candidates = all_options(element) + list(extra)
    for option in candidates:
        if option.get("value") == value:
            return {"text": option["text"], "value": option["value"]}
    if element.get("type") in _EXTERNAL:
        # Options we have not been shown: Slack would only offer what the options request returned.
        return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}
    known = ", ".join(str(o.get("value")) for o in candidates)
    raise ValueError(f"{value!r} is not an option of {element.get('action_id')!r} (options: {known})")


def state_from_value(element: Json, value: object, known_options: Sequence[Json] = ()) -> Json:
    """Convert a plain Python value into the element's state entry (None clears it)."""
    kind = str(element.get("type"))
    if kind not in _STATE_KEYS:
        raise ValueError(f"{kind} elements hold no state")
    key, _, is_list = _STATE_KEYS[kind]
    entry: Json = {"type": kind}
    if kind == "timepicker" and element.get("timezone"):
        entry["timezone"] = element["timezone"]
    if value is None:
        entry[key] = [] if is_list else None
        return entry
    if kind in _OPTION_TYPES:
        if is_list:
            entry[key] = [find_option(element, v, known_options) for v in _as_list(value)]
        else:
            entry[key] = find_option(element, value, known_options)
    elif is_list:
        entry[key] = [str(v) for v in _as_list(value)]
    elif kind == "datepicker":
        entry[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
    elif kind == "timepicker":
        entry[key] = value.strftime("%H:%M") if isinstance(value, dt.time) else str(value)
    elif kind == "datetimepicker":
        entry[key] = int(value.timestamp()) if isinstance(value, dt.datetime) else int(str(value))
    elif kind == "rich_text_input":
        entry[key] = value if isinstance(value, Mapping) else _rich_text(str(value))
    else:
        entry[key] = str(value)
    return entry


def action_from_state(element: Json, block_id: str, entry: Json, action_ts: str) -> Json:
    """The `actions[0]` item of a block_actions payload for a stateful element."""
    action: Json = {"type": element["type"], "action_id": element["action_id"], "block_id": block_id}
    action.update({k: v for k, v in entry.items() if k != "type"})
    if element.get("placeholder") is not None:
        action["placeholder"] = element["placeholder"]
    action["action_ts"] = action_ts
    return action


def _as_list(value: object) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _rich_text(text: str) -> Json:
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }
