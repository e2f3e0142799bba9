"""Alibaba RPC wire conventions: flattened query parameters, typed reads, errors, times and paging."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

# Parameters the legacy (HMAC-SHA1) signature puts in the query next to the business parameters.
PROTOCOL_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "AccessKeyId",
        "Signature",
        "SecurityToken",
        "BearerToken",
    }
)


@dataclass(slots=True)
class ApiError(Exception):
    """An error the service answers with `{RequestId, Code, Message}` and an HTTP status."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def missing_param(name: str) -> ApiError:
    """400 MissingParameter for a required parameter that was not sent."""
    return ApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


def invalid_param(name: str, detail: str = "", *, code: str | None = None, status: int = 400) -> ApiError:
    """400 InvalidParameter.<name> (or an API-specific code) for a malformed or out-of-range value."""
    message = f'The specified parameter "{name}" is not valid.'
    if detail:
        message = f"{message} {detail}"
    return ApiError(status, code or f"InvalidParameter.{name}", message)


def not_found(code: str, message: str, *, status: int = 404) -> ApiError:
    """404-style error for an id that does not exist for the caller."""
    return ApiError(status, code, message)


_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S.%fZ")


def iso(moment: datetime) -> str:
    """`yyyy-MM-ddTHH:mm:ssZ`, as SMC, STS and most of ECS print times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_minutes(moment: datetime) -> str:
    """`yyyy-MM-ddTHH:mmZ`, as ECS prints instance times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def parse_time(text: str) -> datetime | None:
    """Parse an ISO-8601 UTC time in one of Alibaba's spellings; None when malformed."""
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _to_plain(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(key.isdigit() for key in node):
            return [_to_plain(node[key]) for key in sorted(node, key=int)]
        return {key: _to_plain(value) for key, value in node.items()}
    return node


class Params:
    """Read-only view of a request's business parameters with typed, validating getters."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw = {key: value for key, value in raw.items() if key not in PROTOCOL_PARAMS}

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def as_dict(self) -> dict[str, str]:
        """A copy of the flattened parameters."""
        return dict(self._raw)

    def text(self, name: str, *, required: bool = False, max_length: int | None = None) -> str | None:
        """A string parameter; an empty string counts as not sent."""
        value = self._raw.get(name)
        if value is None or value == "":
            if required:
                raise missing_param(name)
            return None
        if max_length is not None and len(value) > max_length:
            raise invalid_param(name, f"It must be at most {max_length} characters.")
        return value

    def require_text(self, name: str, *, max_length: int | None = None) -> str:
        """A required string parameter."""
        value = self.text(name, required=True, max_length=max_length)
        assert value is not None
        return value

    def integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        code: str | None = None,
    ) -> int | None:
        """An integer parameter checked against an inclusive range; None when not sent."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise invalid_param(name, "It must be an integer.", code=code) from None
        if minimum is not None and number < minimum:
            raise invalid_param(name, f"It must be at least {minimum}.", code=code)
        if maximum is not None and number > maximum:
            raise invalid_param(name, f"It must be at most {maximum}.", code=code)
        return number

    def int_or(
        self,
        name: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        code: str | None = None,
    ) -> int:
        """An integer parameter with a default."""
        value = self.integer(name, minimum=minimum, maximum=maximum, code=code)
        return default if value is None else value

    def boolean(self, name: str) -> bool | None:
        """A boolean sent as `True`/`False` (any case); None when not sent."""
        value = self.text(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise invalid_param(name, "It must be true or false.")

    def bool_or(self, name: str, default: bool) -> bool:
        """A boolean parameter with a default."""
        value = self.boolean(name)
        return default if value is None else value

    def repeat(self, name: str, *, max_items: int | None = None, code: str | None = None) -> list[str]:
        """A repeat-list parameter `Name.1`, `Name.2`, … in index order, empty values dropped."""
        pattern = re.compile(rf"^{re.escape(name)}\.(\d+)$")
        indexed: list[tuple[int, str]] = []
        for key, value in self._raw.items():
            match = pattern.match(key)
            if match and value != "":
                indexed.append((int(match.group(1)), value))
        indexed.sort()
        values = [value for _, value in indexed]
        if max_items is not None and len(values) > max_items:
            raise invalid_param(name, f"At most {max_items} values are allowed.", code=code)
        return values

    def tree(self, name: str) -> Any:
        """A flattened structure (`DataDisk.1.Part.2.Device`, `Disks.System.Size`) rebuilt as lists/dicts."""
        root: dict[str, Any] = {}
        prefix = f"{name}."
        for key, value in self._raw.items():
            if not key.startswith(prefix):
                continue
            node = root
            parts = key[len(prefix) :].split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise invalid_param(name, f'"{key}" conflicts with another parameter.')
                node = child
            node[parts[-1]] = value
        return _to_plain(root)

    def objects(self, name: str, *, max_items: int | None = None, code: str | None = None) -> list[Any]:
        """A repeat list of objects (`Tag.1.Key`, `Tag.1.Value`, …) in index order."""
        tree = self.tree(name)
        if tree == {}:
            return []
        if not isinstance(tree, list):
            raise invalid_param(name, "It must be a list (Name.N.Field).", code=code)
        if max_items is not None and len(tree) > max_items:
            raise invalid_param(name, f"At most {max_items} items are allowed.", code=code)
        return tree

    def json_list(self, name: str, *, max_items: int, code: str) -> list[str] | None:
        """A JSON-array-string parameter (`InstanceIds='["i-1","i-2"]'`); None when not sent."""
        value = self.text(name)
        if value is None:
            return None
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            raise invalid_param(name, "It must be a JSON array of strings.", code=code) from None
        if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
            raise invalid_param(name, "It must be a JSON array of strings.", code=code)
        if len(decoded) > max_items:
            raise invalid_param(name, f"At most {max_items} values are allowed.", code=code)
        return list(decoded)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing and what the response should say about it."""

    start: int
    size: int
    number: int
    next_token: str


def page_by_number(params: Params, *, default_size: int, max_size: int, code: str | None = None) -> Page:
    """PageNumber/PageSize paging (PageNumber from 1)."""
    number = params.int_or("PageNumber", 1, minimum=1, code=None)
    size = params.int_or("PageSize", default_size, minimum=1, maximum=max_size, code=code)
    return Page(start=(number - 1) * size, size=size, number=number, next_token="")


def encode_token(offset: int) -> str:
    """An opaque NextToken for a listing offset."""
    return f"{offset:08x}{(offset * 2654435761) % 2**32:08x}"


def decode_token(token: str, *, code: str) -> int:
    """The offset a NextToken stands for; a tampered token is refused."""
    try:
        offset = int(token[:8], 16)
        check = int(token[8:], 16)
    except ValueError:
        raise invalid_param("NextToken", code=code) from None
    if len(token) != 16 or check != (offset * 2654435761) % 2**32:
        raise invalid_param("NextToken", code=code)
    return offset


def page_by_token(
    params: Params,
    *,
    default_size: int,
    max_size: int,
    token_code: str = "InvalidParameter.NextToken",  # noqa: S107 - an error code, not a secret
    size_code: str = "InvalidParameter.MaxResults",
) -> Page:
    """MaxResults/NextToken paging."""
    token = params.text("NextToken")
    size = params.int_or("MaxResults", default_size, minimum=1, maximum=max_size, code=size_code)
    start = decode_token(token, code=token_code) if token else 0
    return Page(start=start, size=size, number=1, next_token=token or "")


def uses_token_paging(params: Params) -> bool:
    """Whether the caller pages with MaxResults/NextToken rather than PageNumber/PageSize."""
    return params.text("NextToken") is not None or params.text("MaxResults") is not None


def slice_page(items: list[T], page: Page) -> tuple[list[T], str]:
    """The items of one page and the NextToken for the rest ('' when done)."""
    chunk = items[page.start : page.start + page.size]
    end = page.start + len(chunk)
    return chunk, (encode_token(end) if end < len(items) else "")


def newest_first(items: Iterable[T], created: Callable[[T], datetime]) -> list[T]:
    """Newest first; among equal times the later-added item comes first."""
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (created(pair[1]), pair[0]), reverse=True)
    return [item for _, item in indexed]


def wildcard_match(pattern: str, value: str) -> bool:
    """ECS name filters: `*` matches any run of characters; otherwise exact."""
    if "*" not in pattern:
        return pattern == value
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, value) is not None
