"""Outbox → Slack: claim due items, render them, post or edit, and record the result exactly once.

Crash safety: every post carries its outbox key in the message metadata. An item whose previous lease
ran out unfinished (its holder died mid-delivery), or whose previous try failed without a definite "not
posted" (a 5xx, a timeout), is first looked up in the channel or thread by that key, so a message that
was posted but not yet marked sent is adopted instead of posted twice. A 429 is definite: it only defers.

The look-up itself may fail. A 429 or 5xx defers the item unposted (it is looked up again next time);
`not_in_channel` (chat:write.public posts where the bot cannot read) joins the channel and looks again;
only when reading is impossible for good (a private channel, a missing scope) is the item posted anyway,
with a warning that a duplicate cannot be ruled out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlmodel import Session

from storage import repository as repo
from storage.db import Database
from storage.enums import OutboxKind, OutboxState
from storage.models import Outbox
from storage.types import utcnow

log = logging.getLogger(__name__)

METADATA_EVENT = "smc_chatops_outbox"

# Errors that will not go away by trying again: the item is parked as dead and logged.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "user_not_in_channel",
        "user_not_found",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
    }
)

TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Slack error codes that say "not now" rather than "never"."""

LOOKUP_PAGES = 5
"""Pages of 200 messages searched for an earlier post (newer than the item) before giving up."""


@dataclass(frozen=True)
class SlackMessage:
    """What to send: `text` is the notification/accessibility fallback and is always present."""

    text: str
    blocks: Sequence[dict[str, Any]] | None = None
    broadcast: bool = False
    filename: str | None = None
    file_content: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A snapshot of one outbox row with the Slack coordinates it needs, detached from any session."""

    id: int
    key: str
    kind: OutboxKind
    request_id: str | None
    channel_id: str | None
    user_id: str | None
    payload: Mapping[str, Any]
    attempts: int
    abandoned: bool
    thread_ts: str | None
    target_ts: str | None
    created_at: datetime


class Renderer(Protocol):
    def __call__(self, item: OutboxItem) -> SlackMessage | None:
        """The message for an item, or None when there is nothing to send any more."""


AfterPost = Callable[[Session, OutboxItem, str], None]
Observer = Callable[[str, str], None]


@dataclass
class DeliveryStats:
    sent: int = 0
    deferred: int = 0
    dead: int = 0
    rate_limited: int = 0
    adopted: int = 0
    unverified: int = 0
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class _LookupDeferred(Exception):  # noqa: N818 -- reads as what happened
    """Slack could not answer the look-up for an earlier post now; the item waits, unposted."""

    def __init__(self, error: str, retry_after: float | None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after


class _Pacer:
    """At most one chat.postMessage per second per channel from this process (Slack's posting limit)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(channel, 0.0))
            self._next[channel] = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class Delivery:
    """Delivers Slack outbox items; one instance per process, safe to run in several replicas."""

    def __init__(
        self,
        db: Database,
        client: WebClient,
        render: Renderer,
        *,
        owner: str,
        after_post: AfterPost | None = None,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(seconds=90),
        max_attempts: int = 10,
        batch_seconds: float = 20.0,
        post_interval: float = 1.05,
        workers: int = 4,
        turn: Callable[[float], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        """`turn(since)` is held around each send: in `smc-bot serve`, a turn behind the Slack requests in
        flight (bot.inflight), counted from when the batch was claimed."""
        self._turn = turn
        self._db = db
        self._client = client
        self._render = render
        self._owner = owner
        self._after_post = after_post
        self._observer = observer
        self._clock = clock
        self._lease = lease
        self._max_attempts = max_attempts
        self._batch_seconds = batch_seconds
        self._pacer = _Pacer(post_interval)
        self._workers = workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()

    # --- running ------------------------------------------------------------------------------

    def kick(self) -> None:
        """Deliver soon: called after a unit of work that enqueued something."""
        self._wake.set()

    def start(self, idle_seconds: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    stats = self.run_once()
                except Exception:
                    log.exception("delivery batch failed owner=%s", self._owner)
                    stats = DeliveryStats()
                if stats.sent or stats.adopted:
                    continue
                self._wake.wait(idle_seconds)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="outbox-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current batch, then stop; unfinished leases simply expire for another replica."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self, limit: int = 200) -> DeliveryStats:
        """Claim one batch and deliver it; channels in parallel, each channel in order."""
        with self._busy:
            stats = DeliveryStats()
            items = self._claim(limit)
            if not items:
                return stats
            by_channel: dict[str, list[OutboxItem]] = defaultdict(list)
            for item in items:
                by_channel[item.channel_id or ""].append(item)
            claimed = time.monotonic()
            deadline = claimed + self._batch_seconds
            with ThreadPoolExecutor(max_workers=min(self._workers, len(by_channel))) as pool:
                for channel_items in by_channel.values():
                    pool.submit(self._deliver_channel, channel_items, claimed, deadline, stats)
            return stats

    # --- claiming -----------------------------------------------------------------------------

    def _claim(self, limit: int) -> list[OutboxItem]:
        now = self._clock()
        with self._db.unit_of_work() as session:
            rows = repo.claim_outbox(
                session, owner=self._owner, now=now, lease=self._lease, kinds=repo.SLACK_KINDS, limit=limit
            )
            keys = {row.thread_key or row.target_key for row, _ in rows}
            parents = {key: repo.get_outbox(session, key) for key in keys if key is not None}
            return [self._snapshot(row, abandoned, parents) for row, abandoned in rows]

    @staticmethod
    def _snapshot(row: Outbox, abandoned: bool, parents: Mapping[str, Outbox | None]) -> OutboxItem:
        def ts_of(key: str | None) -> str | None:
            parent = parents.get(key) if key else None
            return parent.result_ts if parent is not None else None

        assert row.id is not None
        return OutboxItem(
            id=row.id,
            key=row.key,
            kind=row.kind,
            request_id=row.request_id,
            channel_id=row.channel_id,
            user_id=row.user_id,
            payload=dict(row.payload),
            attempts=row.attempts,
            abandoned=abandoned,
            thread_ts=ts_of(row.thread_key),
            target_ts=ts_of(row.target_key) if row.kind is OutboxKind.SLACK_UPDATE else None,
            created_at=row.created_at,
        )

    # --- delivering ---------------------------------------------------------------------------

    def _deliver_channel(
        self, items: list[OutboxItem], claimed: float, deadline: float, stats: DeliveryStats
    ) -> None:
        for index, item in enumerate(items):
            if time.monotonic() > deadline or self._stop.is_set():
                for rest in items[index:]:
                    self._defer(rest, self._clock(), None, stats, failed=False)
                return
            try:
                if item.kind is OutboxKind.SLACK_POST:
                    self._pacer.wait(item.channel_id or "")  # sleeps outside the turn
                with self._turn(claimed):
                    sent = self._deliver(item, stats)
                if not sent:
                    # Rate limited: everything after it in this channel waits too, in order.
                    for rest in items[index + 1 :]:
                        self._defer(rest, self._clock(), None, stats, failed=False)
                    return
            except Exception as exc:
                log.exception("delivery failed key=%s", item.key)
                self._retry_later(item, f"{type(exc).__name__}", stats)

    def _deliver(self, item: OutboxItem, stats: DeliveryStats) -> bool:
        """Send one item; False when Slack said to slow down (the item is deferred)."""
        message = self._render(item)
        if message is None:
            self._finish(item, None, OutboxState.SENT, None)
            return True
        try:
            ts = self._send(item, message, stats)
        except _LookupDeferred as exc:
            return self._lookup_later(item, exc, stats)
        except SlackApiError as exc:
            return self._handle_api_error(item, exc, stats)
        except SlackClientError as exc:
            self._retry_later(item, type(exc).__name__, stats)
            return True
        self._finish(item, ts, OutboxState.SENT, None)
        stats.sent += 1
        return True

    def _send(self, item: OutboxItem, message: SlackMessage, stats: DeliveryStats) -> str | None:
        channel = item.channel_id or ""
        if item.kind is OutboxKind.SLACK_POST:
            if item.abandoned or item.attempts > 0:
                # A holder died mid-post, or an earlier try failed without a definite "not posted".
                found = self._find_posted(item, stats)
                if found is not None:
                    stats.adopted += 1
                    log.info("adopted message posted before a crash key=%s ts=%s", item.key, found)
                    return found
            response = self._call(
                "chat.postMessage",
                stats,
                lambda: self._client.chat_postMessage(
                    channel=channel,
                    text=message.text,
                    blocks=list(message.blocks) if message.blocks is not None else None,
                    thread_ts=item.thread_ts,
                    reply_broadcast=True if message.broadcast and item.thread_ts else None,
                    metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_key": item.key}},
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
            return str(response["ts"])
        if item.kind is OutboxKind.SLACK_UPDATE:
            self._call(
                "chat.update",
                stats,
                lambda: self._client.chat_update(
                    channel=channel,
                    ts=item.target_ts or "",
                    text=message.text,
                    blocks=list(message.blocks) if message.blocks is not None else [],
                ),
            )
            return None
        if item.kind is OutboxKind.SLACK_EPHEMERAL:
            self._call(
                "chat.postEphemeral",
                stats,
                lambda: self._client.chat_postEphemeral(
                    channel=channel,
                    user=item.user_id or "",
                    text=message.text,
                    blocks=list(message.blocks) if message.blocks is not None else None,
                    thread_ts=item.thread_ts,
                ),
            )
            return None
        if item.kind is OutboxKind.SLACK_FILE:
            self._call(
                "files.upload",
                stats,
                lambda: self._client.files_upload_v2(
                    channel=channel,
                    content=message.file_content or "",
                    filename=message.filename or "export.txt",
                    title=message.filename,
                    initial_comment=message.text,
                    thread_ts=item.thread_ts,
                ),
            )
            return None
        raise ValueError(f"not a Slack outbox kind: {item.kind}")

    def _call(self, method: str, stats: DeliveryStats, call: Callable[[], Any]) -> Any:
        stats.calls[method] += 1
        try:
            result = call()
        except SlackApiError as exc:
            self._observe(method, "ratelimited" if exc.response.status_code == 429 else "error")
            raise
        except SlackClientError:
            self._observe(method, "error")
            raise
        self._observe(method, "ok")
        return result

    def _observe(self, method: str, outcome: str) -> None:
        if self._observer is not None:
            self._observer(method, outcome)

    def _find_posted(self, item: OutboxItem, stats: DeliveryStats) -> str | None:
        """Look for a message this key already produced (posted, then the process died before marking).

        None means "not posted" (or, logged as a warning, "cannot be known"); raises _LookupDeferred
        when Slack cannot answer now, so the caller defers instead of risking a second post.
        """
        channel = item.channel_id or ""
        try:
            return self._search(item, stats)
        except SlackApiError as exc:
            error = self._lookup_error(exc)
        if error == "not_in_channel":
            # chat:write.public lets the bot post where it is not a member, but not read there: join first.
            try:
                self._call(
                    "conversations.join", stats, lambda: self._client.conversations_join(channel=channel)
                )
                log.info("joined a channel to look for an earlier post key=%s channel=%s", item.key, channel)
                return self._search(item, stats)
            except SlackApiError as exc:
                error = self._lookup_error(exc)
        log.warning(
            "cannot read channel=%s to look for an earlier post (error=%s): posting key=%s anyway, "
            "a duplicate cannot be ruled out",
            channel,
            error,
            item.key,
        )
        stats.unverified += 1
        return None

    def _search(self, item: OutboxItem, stats: DeliveryStats) -> str | None:
        """The ts of the message carrying this item's key in its thread or channel, page by page."""
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            response = self._page(item, cursor, stats)
            for message in response.get("messages", []):
                metadata = message.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("outbox_key") == item.key:
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
        log.warning(
            "an earlier post may hide beyond %s pages: posting key=%s channel=%s anyway",
            LOOKUP_PAGES,
            item.key,
            item.channel_id,
        )
        stats.unverified += 1
        return None

    def _page(self, item: OutboxItem, cursor: str | None, stats: DeliveryStats) -> Any:
        channel = item.channel_id or ""
        oldest = f"{item.created_at.timestamp() - 5:.6f}"
        if item.thread_ts:
            thread_ts = item.thread_ts
            return self._call(
                "conversations.replies",
                stats,
                lambda: self._client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                ),
            )
        return self._call(
            "conversations.history",
            stats,
            lambda: self._client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
            ),
        )

    @staticmethod
    def _lookup_error(exc: SlackApiError) -> str:
        """The error code of a failed look-up; raises _LookupDeferred when it is only "not now"."""
        error = str(exc.response.get("error", "unknown_error"))
        status = exc.response.status_code
        if status == 429 or error == "ratelimited":
            raise _LookupDeferred("ratelimited", float(exc.response.headers.get("Retry-After", "1") or 1))
        if status >= 500 or error in TRANSIENT_ERRORS:
            raise _LookupDeferred(error, None)
        return error

    # --- outcomes -----------------------------------------------------------------------------

    def _handle_api_error(self, item: OutboxItem, exc: SlackApiError, stats: DeliveryStats) -> bool:
        error = str(exc.response.get("error", "unknown_error"))
        if exc.response.status_code == 429 or error == "ratelimited":
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            stats.rate_limited += 1
            log.info("slack rate limited key=%s retry_after=%s", item.key, retry_after)
            self._defer(
                item, self._clock() + timedelta(seconds=retry_after), "ratelimited", stats, failed=False
            )
            return False
        if error in PERMANENT_ERRORS:
            log.error("slack refused delivery key=%s kind=%s error=%s", item.key, item.kind.value, error)
            self._finish(item, None, OutboxState.DEAD, error)
            stats.dead += 1
            return True
        self._retry_later(item, error, stats)
        return True

    def _lookup_later(self, item: OutboxItem, exc: _LookupDeferred, stats: DeliveryStats) -> bool:
        """Nothing was posted; the item keeps a counted attempt, so its next try looks up again first."""
        log.info("look-up for an earlier post failed, deferring key=%s error=%s", item.key, exc.error)
        if exc.retry_after is None:
            self._retry_later(item, f"lookup:{exc.error}", stats)
            return True
        stats.rate_limited += 1
        # A 429 costs no attempt of the budget, but an item with none yet gets one: it must look up again.
        until = self._clock() + timedelta(seconds=exc.retry_after)
        self._defer(item, until, "lookup:ratelimited", stats, failed=item.attempts == 0)
        return False

    def _retry_later(self, item: OutboxItem, error: str, stats: DeliveryStats) -> None:
        if item.attempts + 1 >= self._max_attempts:
            log.error("giving up delivery key=%s attempts=%s error=%s", item.key, item.attempts, error)
            self._finish(item, None, OutboxState.DEAD, error)
            stats.dead += 1
            return
        backoff = min(300.0, 2.0 ** (item.attempts + 1))
        self._defer(item, self._clock() + timedelta(seconds=backoff), error, stats, failed=True)

    def _defer(
        self, item: OutboxItem, until: datetime, error: str | None, stats: DeliveryStats, *, failed: bool
    ) -> None:
        with self._db.unit_of_work() as session:
            repo.defer_outbox(session, item.id, self._owner, until=until, error=error, failed=failed)
        stats.deferred += 1

    def _finish(self, item: OutboxItem, ts: str | None, state: OutboxState, error: str | None) -> None:
        with self._db.unit_of_work() as session:
            landed = repo.finish_outbox(session, item.id, self._owner, result_ts=ts, state=state, error=error)
            if landed and ts is not None and self._after_post is not None:
                self._after_post(session, item, ts)
        if not landed:
            log.warning("lost the lease before recording delivery key=%s", item.key)
