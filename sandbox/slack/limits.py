"""Rate limits and injected failures, off until asked: per-channel posts, per-method tiers, 429/5xx faults."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.slack.clock import Clock

POST_MESSAGE = "chat.postMessage"

# Slack's documented tiers (requests per minute) for the methods the bot uses.
SLACK_TIERS: dict[str, float] = {
    "auth.test": 100,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "chat.getPermalink": 100,
    "conversations.history": 50,
    "conversations.replies": 50,
    "conversations.info": 50,
    "conversations.list": 20,
    "conversations.join": 50,
    "users.info": 100,
    "users.list": 20,
    "usergroups.list": 20,
    "usergroups.users.list": 20,
    "views.open": 100,
    "views.update": 100,
    "views.push": 100,
    "views.publish": 100,
    "files.getUploadURLExternal": 20,
    "files.completeUploadExternal": 20,
    "files.upload": 20,
}


@dataclass(frozen=True)
class Refusal:
    """How the stand-in answers instead of (or after) running the method."""

    status: int
    error: str
    retry_after: int | None = None
    after_effect: bool = False


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Refill, then the seconds until a token is available (0.0 when one is)."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int
    after_effect: bool


class Limits:
    """Decides, per call, whether Slack would refuse it; callers hold the stand-in's lock."""

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self.enabled = False
        self.post_message_rate = 1.0
        self.post_message_burst = 3
        self.method_limits: dict[str, tuple[float, int]] = {}
        self.rate_429 = 0.0
        self.rate_5xx = 0.0
        self.fault_methods: frozenset[str] | None = None
        self.fault_retry_after = 1
        self._channel_buckets: dict[str, _Bucket] = {}
        self._method_buckets: dict[str, _Bucket] = {}
        self._scripted: dict[str, deque[_Fault]] = {}

    def enable(
        self,
        *,
        post_message_per_second: float,
        post_message_burst: int,
        method_limits: dict[str, tuple[float, int]] | None,
    ) -> None:
        """Turn rate limiting on with fresh buckets."""
        self.enabled = True
        self.post_message_rate = post_message_per_second
        self.post_message_burst = post_message_burst
        if method_limits is not None:
            self.method_limits = dict(method_limits)
        self._channel_buckets.clear()
        self._method_buckets.clear()

    def disable(self) -> None:
        """Turn rate limiting off (injected faults are separate)."""
        self.enabled = False

    def set_method_limit(self, method: str, per_minute: float, burst: int) -> None:
        """Limit one method to `per_minute` with a burst allowance."""
        self.method_limits[method] = (per_minute, burst)
        self._method_buckets.pop(method, None)

    def inject(
        self, *, rate_429: float, rate_5xx: float, methods: Iterable[str] | None, retry_after: int
    ) -> None:
        """Fail a random share of calls with 429 (`ratelimited`) or 5xx."""
        if not (0 <= rate_429 <= 1 and 0 <= rate_5xx <= 1 and rate_429 + rate_5xx <= 1):
            raise ValueError("fault rates are probabilities that sum to at most 1")
        self.rate_429 = rate_429
        self.rate_5xx = rate_5xx
        self.fault_methods = frozenset(methods) if methods is not None else None
        self.fault_retry_after = retry_after

    def fail_next(
        self, method: str, *, status: int, count: int, retry_after: int, after_effect: bool
    ) -> None:
        """Script the next `count` calls of `method` to fail with `status`."""
        queue = self._scripted.setdefault(method, deque())
        queue.extend(_Fault(status, retry_after, after_effect) for _ in range(count))

    def reset(self) -> None:
        """Everything off, buckets and scripts emptied."""
        self.enabled = False
        self.method_limits.clear()
        self.rate_429 = self.rate_5xx = 0.0
        self.fault_methods = None
        self._channel_buckets.clear()
        self._method_buckets.clear()
        self._scripted.clear()

    def check(self, method: str, channel: str | None) -> Refusal | None:
        """Scripted faults first, then random faults, then (when enabled) the buckets."""
        scripted = self._scripted.get(method)
        if scripted:
            fault = scripted.popleft()
            return _refusal(fault.status, fault.retry_after, after_effect=fault.after_effect)
        if self.fault_methods is None or method in self.fault_methods:
            roll = self._rng.random()
            if roll < self.rate_429:
                return _refusal(429, self.fault_retry_after)
            if roll < self.rate_429 + self.rate_5xx:
                return _refusal(503 if self._rng.random() < 0.5 else 500, self.fault_retry_after)
        if not self.enabled:
            return None
        now = self._clock()
        buckets: list[_Bucket] = []
        if method == POST_MESSAGE and channel:
            rate, burst = self.post_message_rate, self.post_message_burst
            buckets.append(self._channel_buckets.setdefault(channel, _Bucket(rate, burst, burst, now)))
        if method in self.method_limits:
            per_minute, burst = self.method_limits[method]
            buckets.append(
                self._method_buckets.setdefault(method, _Bucket(per_minute / 60, burst, burst, now))
            )
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait:
            return _refusal(429, max(1, math.ceil(wait)))
        for bucket in buckets:
            bucket.tokens -= 1
        return None


def _refusal(status: int, retry_after: int, *, after_effect: bool = False) -> Refusal:
    if status == 429:
        return Refusal(429, "ratelimited", retry_after=retry_after, after_effect=after_effect)
    return Refusal(
        status, "service_unavailable" if status == 503 else "fatal_error", after_effect=after_effect
    )
