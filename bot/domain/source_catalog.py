"""Source-account data for the import modal (regions, instances, role access), answered by a deadline.

Slack gives an options request 3 seconds and no way to return an error, so every lookup here answers in
about two: from a short-lived cache, else from a fetch that finished in time, else "loading" while the
fetch completes in the background for the user's next keystroke. Data comes through the assumed role of
the source account (cross-account) or the bot's own credentials (same-account).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bot.cloud.ports import CloudError, CloudGateway, Instance, InstanceFilter, Region, SourceCloud

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")

MAX_OPTIONS = 100
"""Slack shows at most 100 options per answer."""
INDEX_PAGES = 10
"""Pages of 100 instances kept per region (1,000 instances); beyond that, searches go to ECS."""
SOURCE_POLICY = "policy-smc"
REFUSED_OPTION = "Cannot assume the role: fix it in the source account (see the role field)"
KNOWN_REFUSAL_OPTION = "The source account refused the bot: the role field says what to fix"
PERMISSION_CODES = (
    "Forbidden",
    "NoPermission",
    "NotAuthorized",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
)


@dataclass(frozen=True)
class SourceRef:
    """Whose servers: another account through a RAM role, or the bot's own account (both None)."""

    account_id: str | None = None
    role_name: str | None = None

    @property
    def cross_account(self) -> bool:
        return self.account_id is not None and self.role_name is not None

    @property
    def role_arn(self) -> str:
        return f"acs:ram::{self.account_id}:role/{self.role_name}" if self.cross_account else ""


class Access(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AccessCheck:
    """Whether the bot can act in the source account; `message` names the fix when refused."""

    access: Access
    message: str = ""


class LookupState(StrEnum):
    READY = "ready"
    LOADING = "loading"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Lookup(Generic[T]):
    """An answer for an options request: what matched (at most MAX_OPTIONS shown), or why nothing."""

    state: LookupState
    items: tuple[T, ...] = ()
    total: int = 0
    """How many matched in all; more than `len(items)` means the user should type to narrow."""
    complete: bool = True
    """False when the region holds more instances than were listed: typing searches all of them."""
    message: str = ""


def is_role_refusal(err: CloudError) -> bool:
    """STS refused AssumeRole: the role is missing, does not trust us, or we may not assume roles."""
    return err.service == "sts" and err.action == "AssumeRole" and not err.retryable


def is_permission_error(err: CloudError) -> bool:
    return not err.retryable and err.code.startswith(PERMISSION_CODES)


def matches(instance: Instance, text: str) -> bool:
    """Typeahead: part of the id, the name or the private IP (case-insensitive)."""
    needle = text.strip().lower()
    if not needle:
        return True
    return any(needle in (value or "").lower() for value in (instance.id, instance.name, instance.private_ip))


def _ordered(instances: Iterable[Instance]) -> list[Instance]:
    return sorted(instances, key=lambda i: (i.name.lower(), i.id))


@dataclass
class _Entry(Generic[V]):
    value: V
    expires: float


@dataclass(frozen=True)
class _Index:
    """Every instance of a region (up to INDEX_PAGES pages); `complete` is False when there are more."""

    instances: tuple[Instance, ...]
    complete: bool


@dataclass
class _Caches:
    regions: dict[SourceRef, _Entry[tuple[Region, ...]]] = field(default_factory=dict)
    indexes: dict[tuple[SourceRef, str], _Entry[_Index]] = field(default_factory=dict)
    searches: dict[tuple[SourceRef, str, str], _Entry[tuple[Instance, ...]]] = field(default_factory=dict)
    access: dict[SourceRef, _Entry[AccessCheck]] = field(default_factory=dict)
    directory: OrderedDict[tuple[SourceRef, str], _Entry[Instance]] = field(default_factory=OrderedDict)


class SourceCatalog:
    """Cached, deadline-bound lookups in source accounts; thread-safe, one fetch per key at a time."""

    def __init__(
        self,
        cloud: CloudGateway,
        *,
        deadline_s: float = 1.8,
        instances_ttl_s: float = 60.0,
        regions_ttl_s: float = 600.0,
        access_ok_ttl_s: float = 600.0,
        access_refused_ttl_s: float = 30.0,
        directory_ttl_s: float = 1800.0,
        directory_size: int = 10_000,
        index_pages: int = INDEX_PAGES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cloud = cloud
        self.deadline_s = deadline_s
        self._instances_ttl = instances_ttl_s
        self._regions_ttl = regions_ttl_s
        self._access_ok_ttl = access_ok_ttl_s
        self._access_refused_ttl = access_refused_ttl_s
        self._directory_ttl = directory_ttl_s
        self._directory_size = directory_size
        self._index_pages = index_pages
        self._clock = clock
        self._lock = threading.Lock()
        self._caches = _Caches()
        self._in_flight: dict[Hashable, Future[Any]] = {}

    # ---- access ------------------------------------------------------------------------------------

    def access(self, ref: SourceRef) -> AccessCheck:
        """What is known without asking the cloud: OK, REFUSED (with the fix) or UNKNOWN."""
        if not ref.cross_account:
            return AccessCheck(Access.OK)
        with self._lock:
            return self._fresh(self._caches.access, ref) or AccessCheck(Access.UNKNOWN)

    def check_access(self, ref: SourceRef, timeout_s: float | None = None) -> AccessCheck:
        """Assume the role now unless the answer is cached; UNKNOWN when the cloud did not answer."""
        known = self.access(ref)
        if known.access is not Access.UNKNOWN:
            return known
        future = self._start(("access", ref), lambda: self._probe(ref))
        try:
            result: AccessCheck = future.result(timeout_s)
        except FutureTimeout:
            return AccessCheck(Access.UNKNOWN, "The source account has not answered yet; try again.")
        return result

    def _probe(self, ref: SourceRef) -> AccessCheck:
        try:
            self._cloud.source(ref.account_id, ref.role_name).get_caller_identity()
        except CloudError as err:
            if is_role_refusal(err):
                return self._record_refusal(ref, err.message)
            return AccessCheck(Access.UNKNOWN, f"Could not check the role ({err.code}); try again.")
        self._record_access(ref)
        return AccessCheck(Access.OK)

    def _record_access(self, ref: SourceRef) -> None:
        if ref.cross_account:
            with self._lock:
                self._caches.access[ref] = _Entry(AccessCheck(Access.OK), self._clock() + self._access_ok_ttl)

    def _record_refusal(self, ref: SourceRef, message: str) -> AccessCheck:
        check = AccessCheck(Access.REFUSED, message)
        with self._lock:
            self._caches.access[ref] = _Entry(check, self._clock() + self._access_refused_ttl)
        log.info("source access refused account=%s role=%s", ref.account_id, ref.role_name)
        return check

    def _policy_refusal(self, ref: SourceRef, err: CloudError, action: str) -> AccessCheck:
        if not ref.cross_account:
            return AccessCheck(
                Access.REFUSED,
                f"The bot's own account refused {action} ({err.code}): its RAM user needs "
                "AliyunECSReadOnlyAccess and AliyunECSAssistantFullAccess.",
            )
        return self._record_refusal(
            ref,
            f"The bot assumed {ref.role_arn}, but ECS refused {action} ({err.code}). In the source account "
            f"{ref.account_id}, attach the custom policy '{SOURCE_POLICY}' (DescribeInstances, "
            f"DescribeCloudAssistantStatus, RunCommand, DescribeInvocations …) to the role '{ref.role_name}' "
            "— see the console procedure, Step 1: Grant source account permissions.",
        )

    def _through(
        self, ref: SourceRef, action: str, call: Callable[[SourceCloud], V], *, granted: bool = True
    ) -> V:
        """Run `call` on the source account's ECS, recording what it says about access.

        `granted`: the action is in policy-smc, so a permission error means the policy is missing.
        """
        try:
            value = call(self._cloud.source(ref.account_id, ref.role_name))
        except CloudError as err:
            if is_role_refusal(err):
                self._record_refusal(ref, err.message)
            elif is_permission_error(err) and granted:
                self._policy_refusal(ref, err, action)
            elif is_permission_error(err):
                self._record_access(ref)  # STS let us in; only this one action is not granted
            raise
        self._record_access(ref)
        return value

    # ---- regions -----------------------------------------------------------------------------------

    def regions(self, ref: SourceRef, text: str = "") -> Lookup[Region]:
        """Regions whose id or name contains `text`."""
        with self._lock:
            cached = self._fresh(self._caches.regions, ref)
        if cached is None and self.access(ref).access is Access.REFUSED:
            return Lookup(LookupState.UNAVAILABLE, message=KNOWN_REFUSAL_OPTION)
        if cached is None:
            outcome = self._await(("regions", ref), lambda: self._fetch_regions(ref))
            if not isinstance(outcome, tuple):
                return outcome
            cached = outcome
        needle = text.strip().lower()
        found = [r for r in cached if needle in r.id.lower() or needle in r.name.lower()]
        return Lookup(LookupState.READY, tuple(found[:MAX_OPTIONS]), len(found))

    def _fetch_regions(self, ref: SourceRef) -> tuple[Region, ...]:
        try:
            regions = self._through(ref, "DescribeRegions", lambda ecs: ecs.list_regions(), granted=False)
        except CloudError as err:
            if not ref.cross_account or is_role_refusal(err) or not is_permission_error(err):
                raise
            # policy-smc does not grant DescribeRegions; the region list is the same for every account.
            regions = self._cloud.source(None, None).list_regions()
        value = tuple(sorted(regions, key=lambda r: r.id))
        with self._lock:
            self._caches.regions[ref] = _Entry(value, self._clock() + self._regions_ttl)
        return value

    # ---- instances ---------------------------------------------------------------------------------

    def instances(self, ref: SourceRef, region: str, text: str = "") -> Lookup[Instance]:
        """Instances of `region` whose id, name or private IP contains `text`, name order."""
        with self._lock:
            index = self._fresh(self._caches.indexes, (ref, region))
        if index is None and self.access(ref).access is Access.REFUSED:
            # Known refused (briefly cached): no AssumeRole per keystroke until it expires.
            return Lookup(LookupState.UNAVAILABLE, message=KNOWN_REFUSAL_OPTION)
        if index is None:
            outcome = self._await(("index", ref, region), lambda: self._fetch_index(ref, region))
            if not isinstance(outcome, _Index):
                return outcome
            index = outcome
        if index.complete or not text.strip():
            found = _ordered(i for i in index.instances if matches(i, text))
            return Lookup(LookupState.READY, tuple(found[:MAX_OPTIONS]), len(found), complete=index.complete)
        return self._search(ref, region, text.strip())

    def _fetch_index(self, ref: SourceRef, region: str) -> _Index:
        def list_all(ecs: SourceCloud) -> _Index:
            found: list[Instance] = []
            token: str | None = None
            for _ in range(self._index_pages):
                page = ecs.list_instances(region, next_token=token)
                found.extend(page.items)
                token = page.next_token
                if not page.has_more:
                    return _Index(tuple(found), complete=True)
            return _Index(tuple(found), complete=False)

        index = self._through(ref, "DescribeInstances", list_all)
        now = self._clock()
        with self._lock:
            self._caches.indexes[(ref, region)] = _Entry(index, now + self._instances_ttl)
            self._remember(ref, index.instances, now)
        return index

    def _search(self, ref: SourceRef, region: str, text: str) -> Lookup[Instance]:
        """A region too large to index: ask ECS for this text (id, exact private IP, or name part)."""
        key = (ref, region, text.lower())
        with self._lock:
            cached = self._fresh(self._caches.searches, key)
        if cached is None:

            def fetch() -> tuple[Instance, ...]:
                page = self._through(
                    ref,
                    "DescribeInstances",
                    lambda ecs: ecs.list_instances(region, InstanceFilter.from_search_text(text)),
                )
                value = tuple(page.items)
                now = self._clock()
                with self._lock:
                    self._caches.searches[key] = _Entry(value, now + self._instances_ttl)
                    self._remember(ref, value, now)
                return value

            outcome = self._await(("search", *key), fetch)
            if not isinstance(outcome, tuple):
                return outcome
            cached = outcome
        found = _ordered(cached)
        return Lookup(LookupState.READY, tuple(found[:MAX_OPTIONS]), len(found))

    def known_instances(self, ref: SourceRef, instance_ids: Sequence[str]) -> dict[str, Instance]:
        """Instances seen recently in option lists, by id; nothing is fetched."""
        now = self._clock()
        with self._lock:
            known = {}
            for instance_id in instance_ids:
                entry = self._caches.directory.get((ref, instance_id))
                if entry is not None and entry.expires > now:
                    known[instance_id] = entry.value
            return known

    def describe(
        self, ref: SourceRef, region: str, instance_ids: Sequence[str], timeout_s: float | None = None
    ) -> dict[str, Instance]:
        """The given instances of `region` that exist, from the directory or ECS (CloudError on failure)."""
        known = {k: v for k, v in self.known_instances(ref, instance_ids).items() if v.region == region}
        missing = tuple(sorted({i for i in instance_ids if i not in known}))
        if not missing:
            return known

        def fetch() -> tuple[Instance, ...]:
            found = tuple(
                self._through(ref, "DescribeInstances", lambda ecs: ecs.describe_instances(region, missing))
            )
            with self._lock:
                self._remember(ref, found, self._clock())
            return found

        future = self._start(("describe", ref, region, missing), fetch)
        found: tuple[Instance, ...] = future.result(timeout_s)
        return {**known, **{i.id: i for i in found if i.region == region}}

    def _remember(self, ref: SourceRef, instances: Iterable[Instance], now: float) -> None:
        directory = self._caches.directory
        for instance in instances:
            key = (ref, instance.id)
            directory[key] = _Entry(instance, now + self._directory_ttl)
            directory.move_to_end(key)
        while len(directory) > self._directory_size:
            directory.popitem(last=False)

    # ---- background fetches ------------------------------------------------------------------------

    def _await(self, key: Hashable, fetch: Callable[[], V]) -> V | Lookup[Any]:
        """The fetch's value if it finishes by the deadline, else a LOADING or UNAVAILABLE lookup."""
        future = self._start(key, fetch)
        try:
            value: V = future.result(self.deadline_s)
        except FutureTimeout:
            return Lookup(LookupState.LOADING, message="Loading… type again in a moment")
        except CloudError as err:
            return Lookup(LookupState.UNAVAILABLE, message=self._explain(err))
        return value

    def _explain(self, err: CloudError) -> str:
        if is_role_refusal(err):
            return REFUSED_OPTION
        if is_permission_error(err):
            return f"Not allowed ({err.code}): attach {SOURCE_POLICY} to the role"
        if err.is_throttling or err.retryable:
            return f"The cloud is busy ({err.code}): type again in a moment"
        return f"Could not load ({err.code})"

    def _start(self, key: Hashable, fetch: Callable[[], V]) -> Future[V]:
        """Join the fetch in flight for `key`, or start one on a daemon thread (it outlives the request)."""
        with self._lock:
            existing = self._in_flight.get(key)
            if existing is not None:
                return existing
            future: Future[V] = Future()
            self._in_flight[key] = future

        def run() -> None:
            try:
                result = fetch()
            except BaseException as exc:
                if not isinstance(exc, CloudError):
                    log.exception("source lookup failed key=%s", key)
                with self._lock:
                    self._in_flight.pop(key, None)
                future.set_exception(exc)
                return
            with self._lock:
                self._in_flight.pop(key, None)
            future.set_result(result)

        threading.Thread(target=run, name="source-catalog", daemon=True).start()
        return future

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait for background fetches to finish (tests, shutdown); False if some are still running."""
        end = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = list(self._in_flight.values())
            if not pending:
                return True
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            for future in pending:
                try:
                    future.exception(max(0.0, remaining))
                except FutureTimeout:
                    return False

    def _fresh(self, cache: Mapping[Any, _Entry[V]], key: Any) -> V | None:
        entry = cache.get(key)
        if entry is None or entry.expires <= self._clock():
            return None
        return entry.value
