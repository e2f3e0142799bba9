"""STS AssumeRole and the per-(account, role) cache of temporary credentials."""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alibabacloud_sts20150401 import models as sts_models

from bot.cloud import parse
from bot.cloud.ports import CloudError, Credentials, Secret
from bot.cloud.scrub import Scrubber
from bot.cloud.sdk import ClientFactory, Invoker

log = logging.getLogger(__name__)

SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
MIN_DURATION_S = 900
SOURCE_POLICY_NAME = "policy-smc"
SETUP_DOC = "the console procedure, Step 1: Grant source account permissions"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def role_arn(account_id: str, role_name: str) -> str:
    return f"acs:ram::{account_id}:role/{role_name}"


def default_session_name() -> str:
    """`smc-chatops-<8 hex>`: one per process, so ActionTrail shows which bot replica acted."""
    return f"smc-chatops-{secrets.token_hex(4)}"


def check_session_name(name: str) -> str:
    if not SESSION_NAME.match(name):
        raise ValueError(f"RoleSessionName must be 2-64 characters of [A-Za-z0-9.@_-], got {name!r}")
    return name


class StsRoleAssumer:
    """AssumeRole with the bot's own credentials; a refusal explains what to fix in the role's account."""

    def __init__(
        self,
        factory: ClientFactory,
        invoker: Invoker,
        scrub: Scrubber,
        *,
        session_name: str | None = None,
        duration_s: int = 3600,
        caller_account: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._invoker = invoker
        self._scrub = scrub
        self._session_name = check_session_name(session_name or default_session_name())
        self._duration_s = max(MIN_DURATION_S, duration_s)
        self._caller_account = caller_account

    def __call__(self, account_id: str, role_name: str) -> Credentials:
        arn = role_arn(account_id, role_name)
        request = sts_models.AssumeRoleRequest(
            role_arn=arn, role_session_name=self._session_name, duration_seconds=self._duration_s
        )
        try:
            body = self._invoker.call(
                "sts", "AssumeRole", lambda: self._factory.sts(None).assume_role(request)
            )
        except CloudError as err:
            if err.retryable:
                raise
            raise self._refusal(err, account_id, role_name) from None
        creds = body.get("Credentials") or {}
        key_id, key_secret, token = (
            parse.text(creds, k) for k in ("AccessKeyId", "AccessKeySecret", "SecurityToken")
        )
        if not (key_id and key_secret and token):
            raise CloudError(
                "InvalidResponse",
                f"AssumeRole into {arn} returned no credentials",
                service="sts",
                action="AssumeRole",
            )
        self._scrub.register(key_secret, token)
        expiration = parse.timestamp(creds, "Expiration")
        log.info("assumed role account=%s role=%s expires=%s", account_id, role_name, expiration)
        return Credentials(
            access_key_id=key_id,
            access_key_secret=Secret(key_secret),
            security_token=Secret(token),
            expiration=expiration,
        )

    def _refusal(self, err: CloudError, account_id: str, role_name: str) -> CloudError:
        destination = self._caller_account() or "the bot's (destination) account"
        message = (
            f"Cannot assume the RAM role {role_arn(account_id, role_name)} ({err.code}: {err.message}). "
            f"In the source account {account_id}: the RAM role '{role_name}' must exist and trust the "
            f"Alibaba Cloud account {destination} (Trusted entity: Alibaba Cloud account → Other account), "
            f"and the custom policy '{SOURCE_POLICY_NAME}' (DescribeInstances, DescribeCloudAssistantStatus, "
            f"RunCommand, DescribeInvocations …) must be attached to it — see {SETUP_DOC}. "
            f"In the destination account, the bot's RAM user needs AliyunSTSAssumeRoleAccess."
        )
        return CloudError(
            err.code,
            self._scrub(message),
            request_id=err.request_id,
            retryable=False,
            http_status=err.http_status,
            service="sts",
            action="AssumeRole",
        )


class RoleCredentialCache:
    """Temporary credentials per (account, role), re-assumed shortly before they expire.

    Thread-safe; one AssumeRole per key at a time. The deadline is `Expiration` when it is plausible
    on our clock, else now + `max_lifetime` (the service's clock may differ from ours — the sandbox's
    can run fast or start in the past). `invalidate` drops credentials the service rejected, so the
    next `get` assumes again.
    """

    def __init__(
        self,
        assume: Callable[[str, str], Credentials],
        *,
        refresh_margin: timedelta = timedelta(minutes=5),
        max_lifetime: timedelta = timedelta(hours=1),
        clock: Clock = utc_now,
    ) -> None:
        self._assume = assume
        self._margin = refresh_margin
        self._max_lifetime = max_lifetime
        self._clock = clock
        self._cached: dict[tuple[str, str], tuple[Credentials, datetime]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, account_id: str, role_name: str) -> Credentials:
        key = (account_id, role_name)
        creds = self._fresh(key)
        if creds is not None:
            return creds
        with self._lock_for(key):
            creds = self._fresh(key)
            if creds is not None:
                return creds
            creds = self._assume(account_id, role_name)
            deadline = self._deadline(creds)
            with self._guard:
                self._cached[key] = (creds, deadline)
            return creds

    def invalidate(self, account_id: str, role_name: str, stale: Credentials | None = None) -> None:
        """Forget the cached credentials (only if they are still `stale`, when given)."""
        key = (account_id, role_name)
        with self._guard:
            entry = self._cached.get(key)
            if entry is not None and (stale is None or entry[0].access_key_id == stale.access_key_id):
                del self._cached[key]
                log.info("dropped temporary credentials account=%s role=%s", account_id, role_name)

    def _deadline(self, creds: Credentials) -> datetime:
        now = self._clock()
        fallback = now + self._max_lifetime
        expiration = creds.expiration
        if expiration is None or not now < expiration <= fallback + self._margin:
            if expiration is not None:
                log.info(
                    "STS expiration not plausible on our clock, using the requested lifetime expires=%s",
                    expiration,
                )
            return fallback
        return expiration

    def _fresh(self, key: tuple[str, str]) -> Credentials | None:
        with self._guard:
            entry = self._cached.get(key)
        if entry is None:
            return None
        creds, deadline = entry
        if self._clock() >= deadline - self._margin:
            return None
        return creds

    def _lock_for(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())
