"""The one exception Web API handlers raise: Slack's `{"ok": false, "error": …}` answer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Slack error code plus any extra fields Slack puts beside it (`response_metadata`, `errors`)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def to_api(self) -> dict[str, Any]:
        """The JSON body Slack would send."""
        return {"ok": False, "error": self.error, **self.extra}


def invalid_arguments(problems: list[str]) -> ApiError:
    """Slack's answer to a request whose arguments fail validation."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


def invalid_blocks(problems: list[str]) -> ApiError:
    """Slack's answer to a message whose blocks fail validation."""
    return ApiError(
        "invalid_blocks",
        errors=problems,
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )
