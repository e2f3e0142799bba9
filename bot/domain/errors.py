"""Expected failures of use cases; every message is written for the end user and says what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.params import Field, field_key


@dataclass(frozen=True)
class FieldError:
    """One problem with one (indexed) field; `message` tells the user what to enter instead."""

    field: Field
    message: str
    index: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        field_key(self.field, *self.index)  # refuses an index that does not fit the field

    @property
    def key(self) -> str:
        """Stable key such as `data_disk_size.2`; the Slack layer maps it to a block id."""
        return field_key(self.field, *self.index)


def messages_by_key(errors: Sequence[FieldError]) -> dict[str, str]:
    """Field key -> message, several messages on one key joined, in first-seen order."""
    joined: dict[str, list[str]] = {}
    for error in errors:
        joined.setdefault(error.key, []).append(error.message)
    return {key: " ".join(texts) for key, texts in joined.items()}


class DomainError(Exception):
    """Base of the expected failures; handlers turn them into field errors or ephemerals."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParams(DomainError):  # noqa: N818 -- the house style's names
    """The parameters break one or more rules; nothing reached the cloud."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("InvalidParams needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__(" ".join(e.message for e in self.errors))

    def by_key(self) -> dict[str, str]:
        """One message per field key, the shape `response_action: errors` wants."""
        return messages_by_key(self.errors)


class NotAllowed(DomainError):  # noqa: N818 -- the house style's names
    """The user may not do this (policy, role, state)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Conflict(DomainError):  # noqa: N818 -- the house style's names
    """Someone or something got there first (another job, a changed request, a decided vote)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(DomainError):  # noqa: N818 -- the house style's names
    """The named thing does not exist (any more)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} was not found.")
        self.what = what
