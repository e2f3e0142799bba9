"""Client-side pacing of Slack methods with per-workspace limits (chat.update is Tier 3: ~50 a minute).

chat.postMessage is paced per channel by delivery itself (1 a second per channel). The poller spreads
summary edits over time in the outbox (`notifications.refresh_request_summaries`), so this pacer is the
backstop that keeps bursts (several features editing at once) under Slack's limit instead of earning 429s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web.slack_response import SlackResponse

TIER_3_INTERVAL = 1.25
"""Seconds between two calls of a Tier 3 method: 48 a minute, under Slack's 50."""

DEFAULT_INTERVALS: Mapping[str, float] = MappingProxyType(
    {
        "chat.update": TIER_3_INTERVAL,
        "conversations.history": TIER_3_INTERVAL,
        "conversations.replies": TIER_3_INTERVAL,
    }
)


class MethodPacer:
    """Spaces the calls of each method at least `interval` seconds apart, across threads."""

    def __init__(self, intervals: Mapping[str, float]) -> None:
        self._intervals = {method: seconds for method, seconds in intervals.items() if seconds > 0}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, method: str) -> float:
        """Reserve the method's next slot and sleep until it; returns the seconds waited."""
        interval = self._intervals.get(method)
        if interval is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(method, 0.0))
            self._next[method] = slot + interval
        if slot > now:
            time.sleep(slot - now)
        return max(slot - now, 0.0)


class PacedWebClient(WebClient):
    """A WebClient whose rate-limited methods wait for their turn instead of earning a 429."""

    def __init__(self, *, pacer: MethodPacer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        self.pacer.wait(api_method)
        return super().api_call(
            api_method,
            http_verb=http_verb,
            files=files,
            data=data,
            params=params,
            json=json,
            headers=headers,
            auth=auth,
        )


def paced(client: WebClient, intervals: Mapping[str, float] = DEFAULT_INTERVALS) -> WebClient:
    """The same client configuration with `intervals` (seconds per method) enforced; as-is when all are 0."""
    if not any(seconds > 0 for seconds in intervals.values()):
        return client
    return PacedWebClient(
        pacer=MethodPacer(intervals),
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers={k: v for k, v in client.headers.items() if k.lower() != "user-agent"},
        team_id=client.default_params.get("team_id"),
        logger=client.logger,
        retry_handlers=list(client.retry_handlers),
    )
