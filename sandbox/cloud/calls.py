"""The log of API calls the simulator received, with secrets removed, for tests and the admin API."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

REDACTED = "***"
_KEEP = frozenset({"ClientToken", "NextToken", "AccessTokenId"})
_SECRET_WORDS = ("secret", "password", "token", "code")


def redact_params(params: Mapping[str, str]) -> dict[str, str]:
    """Business parameters with anything secret-looking replaced (RunCommand `Parameters` keep their keys)."""
    clean: dict[str, str] = {}
    for key, value in params.items():
        if key == "Parameters":
            clean[key] = _redact_json_object(value)
        elif key not in _KEEP and any(word in key.lower() for word in _SECRET_WORDS):
            clean[key] = REDACTED
        else:
            clean[key] = value
    return clean


def _redact_json_object(value: str) -> str:
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return REDACTED
    if not isinstance(decoded, dict):
        return REDACTED
    return json.dumps({str(key): REDACTED for key in decoded})


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One received API call and how it was answered."""

    action: str
    version: str
    product: str
    account_uid: str
    access_key_id: str
    signature: str
    params: dict[str, str]
    status: int
    code: str
    request_id: str
    time: str
    sim_time: str

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form for the admin API."""
        return {
            "action": self.action,
            "version": self.version,
            "product": self.product,
            "account": self.account_uid,
            "access_key_id": self.access_key_id,
            "signature": self.signature,
            "params": dict(self.params),
            "status": self.status,
            "code": self.code,
            "request_id": self.request_id,
            "time": self.time,
            "sim_time": self.sim_time,
        }


class CallLog:
    """Bounded, thread-safe list of received calls (oldest dropped first)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._calls: deque[RecordedCall] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def record(self, call: RecordedCall) -> None:
        """Append one call."""
        with self._lock:
            self._calls.append(call)

    def calls(self, action: str | None = None) -> list[RecordedCall]:
        """Calls in arrival order, optionally only one action."""
        with self._lock:
            return [call for call in self._calls if action is None or call.action == action]

    def reset(self) -> None:
        """Forget every call."""
        with self._lock:
            self._calls.clear()
