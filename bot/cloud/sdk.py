"""SDK plumbing shared by the adapters: client configuration, retries, and SDK errors → CloudError."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import Tea.exceptions as tea_exceptions
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_openapi_util.client import Client as OpenApiUtilClient
from alibabacloud_smc20190601.client import Client as SmcClient
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util import models as util_models
from alibabacloud_tea_util.client import Client as UtilClient
from darabonba import exceptions as dara_exceptions
from darabonba.policy.retry import RetryOptions

from bot.cloud.ports import CallObserver, CloudError, Credentials, Secret
from bot.cloud.scrub import Scrubber

log = logging.getLogger(__name__)

R = TypeVar("R")

SMC_API_VERSION = "2019-06-01"
"""The API version alibabacloud_smc20190601 speaks (its generated methods' `Params.version`)."""

# Alibaba's throttling codes (SMC_API_NOTES); any error carrying `x-acs-retry-after` is a
# ThrottlingException as well, whatever its code.
THROTTLING_CODES = (
    "Throttling",
    "Throttling.User",
    "Throttling.Resource",
    "Throttling.Api",
    "Throttling.Concurrent",
    "ServiceUnavailable",
)
# A temporary credential the service no longer accepts: re-assume the role once and retry.
TOKEN_REJECTED_CODES = frozenset(
    {
        "InvalidSecurityToken.Expired",
        "InvalidSecurityToken.Malformed",
        "InvalidSecurityToken.MismatchWithAccessKey",
        "SecurityTokenExpired",
        "SecurityToken.Expired",
        "InvalidAccessKeyId.NotFound",
    }
)
_SDK_ERRORS: tuple[type[BaseException], ...] = (
    tea_exceptions.TeaException,
    tea_exceptions.ValidateException,
    tea_exceptions.RetryError,
    dara_exceptions.ValidateException,
    dara_exceptions.RetryError,
    CredentialException,
    OSError,
)
_CLIENT_CACHE_SIZE = 256
_REQUEST_URL = re.compile(r"(Max retries exceeded )?with url: \S*")


@dataclass(frozen=True)
class CloudConfig:
    """How the adapters reach Alibaba Cloud (or the sandbox, when `endpoint` is set)."""

    endpoint: str | None = None  # SMC_BOT_CLOUD_ENDPOINT: one http://host:port for SMC, ECS and STS
    access_key_id: str | None = None  # None: the SDK's default credential chain
    access_key_secret: Secret | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    max_attempts: int = 4  # per call, first try included
    backoff_base_ms: int = 200
    backoff_cap_ms: int = 5_000
    max_retry_after_ms: int = 30_000  # the longest `x-acs-retry-after` we wait for inside one call
    default_region: str = "cn-hangzhou"  # where region-less ECS calls (DescribeRegions) go
    sts_region: str | None = None  # None: the central sts.aliyuncs.com
    role_session_name: str | None = None  # None: smc-chatops-<random>
    role_duration_s: int = 3600
    refresh_margin_s: int = 300
    signature_algorithm: str | None = None  # None: ACS3-HMAC-SHA256; "v2": legacy HMAC-SHA1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CloudConfig:
        """Read SMC_BOT_CLOUD_ENDPOINT and ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET (unset: credential chain)."""
        env = os.environ if environ is None else environ
        secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        values: dict[str, Any] = {
            "endpoint": env.get("SMC_BOT_CLOUD_ENDPOINT") or None,
            "access_key_id": env.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or None,
            "access_key_secret": Secret(secret) if secret else None,
        }
        values.update(overrides)
        return cls(**values)


def split_endpoint(url: str) -> tuple[str, str]:
    """`http://host:port` → ("host:port", "http"); a bare host:port means http."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"SMC_BOT_CLOUD_ENDPOINT must look like http://host:port, got {url!r}")
    return parts.netloc, parts.scheme


def retry_options(config: CloudConfig, *, idempotent: bool) -> RetryOptions:
    """Backoff on throttling always; on 5xx and connection errors only where a repeat is harmless.

    tea-openapi 0.4.6 ignores RuntimeOptions(autoretry=…): Config.retry_options is the only retry path.
    A condition matches the SDK exception's `name` or its `code`; `maxAttempts` counts the first try.
    """
    backoff = {
        "policy": "ExponentialWithEqualJitter",
        "period": config.backoff_base_ms,
        "cap": config.backoff_cap_ms,
    }
    attempts = max(1, config.max_attempts)
    conditions: list[dict[str, Any]] = [
        {
            "maxAttempts": attempts,
            "exception": ["ThrottlingException"],
            "errorCode": list(THROTTLING_CODES),
            "backoff": backoff,
            "maxDelay": config.max_retry_after_ms,
        }
    ]
    if idempotent:
        conditions.append(
            {
                "maxAttempts": attempts,
                "exception": ["ServerException", "RetryError"],
                "backoff": backoff,
                "maxDelay": config.max_retry_after_ms,
            }
        )
    return RetryOptions({"retryable": True, "retryCondition": conditions})


class ClientFactory:
    """SDK clients per (service, credentials, region, retry kind); ECS clients are regional."""

    def __init__(self, config: CloudConfig) -> None:
        self._config = config
        self._endpoint = split_endpoint(config.endpoint) if config.endpoint else None
        self._clients: OrderedDict[tuple[str, str, str, bool], Any] = OrderedDict()
        self._chain: Any = None
        self._lock = threading.Lock()
        self._retry = {
            True: retry_options(config, idempotent=True),
            False: retry_options(config, idempotent=False),
        }

    @property
    def default_region(self) -> str:
        return self._config.default_region

    def smc(self, creds: Credentials | None, *, idempotent: bool = True) -> Any:
        return self._get("smc", creds, "", idempotent)

    def ecs(self, creds: Credentials | None, region: str, *, idempotent: bool = True) -> Any:
        return self._get("ecs", creds, region, idempotent)

    def sts(self, creds: Credentials | None) -> Any:
        return self._get("sts", creds, self._config.sts_region or "", True)

    def _get(self, service: str, creds: Credentials | None, region: str, idempotent: bool) -> Any:
        principal = creds.access_key_id if creds is not None else ""
        key = (service, principal, region, idempotent)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = self._build(service, creds, region, idempotent)
            self._clients[key] = client
            while len(self._clients) > _CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
            return client

    def _build(self, service: str, creds: Credentials | None, region: str, idempotent: bool) -> Any:
        cfg = self._config
        config = Config(
            connect_timeout=int(cfg.connect_timeout_s * 1000),
            read_timeout=int(cfg.read_timeout_s * 1000),
            retry_options=self._retry[idempotent],
            signature_algorithm=cfg.signature_algorithm,
            user_agent="smc-chatops",
        )
        if creds is not None:
            config.access_key_id = creds.access_key_id
            config.access_key_secret = creds.access_key_secret.reveal()
            if creds.security_token is not None:
                config.security_token = creds.security_token.reveal()
        elif cfg.access_key_id and cfg.access_key_secret:
            config.access_key_id = cfg.access_key_id
            config.access_key_secret = cfg.access_key_secret.reveal()
        else:
            config.credential = self._default_chain()
        if self._endpoint is not None:
            config.endpoint, config.protocol = self._endpoint
        if service == "ecs":
            config.region_id = region
            return EcsClient(config)
        if service == "sts":
            if self._endpoint is None:
                if region:
                    config.region_id = region
                else:
                    config.endpoint = "sts.aliyuncs.com"
            return StsClient(config)
        return SmcClient(config)

    def _default_chain(self) -> Any:
        # Built once: the chain caches what it resolved (env, profile, ECS RAM role, OIDC …).
        if self._chain is None:
            self._chain = CredentialClient()
        return self._chain


class Invoker:
    """Runs one SDK call: times it, reports it, and turns any SDK failure into a scrubbed CloudError."""

    def __init__(self, scrub: Scrubber, observer: CallObserver | None = None) -> None:
        self._scrub = scrub
        self._observer = observer

    def call(self, service: str, action: str, fn: Callable[[], Any]) -> dict[str, Any]:
        """The response body as a dict in API field names; `fn` returns an SDK response model, or the
        dict of a client's `call_api` (`call_rpc`)."""
        started = time.monotonic()
        error: CloudError | None = None
        body: dict[str, Any] = {}
        try:
            body = _body_of(fn())
        except _SDK_ERRORS as exc:
            error = to_cloud_error(exc, service, action, self._scrub)
        # Raised outside the except block so no SDK exception (with its request URL and headers)
        # travels along as __context__.
        seconds = time.monotonic() - started
        self._observe(service, action, "ok" if error is None else error.code, seconds)
        if error is not None:
            log.warning(
                "cloud call failed service=%s action=%s code=%s http_status=%s retryable=%s request_id=%s "
                "seconds=%.3f message=%s",
                service,
                action,
                error.code,
                error.http_status,
                error.retryable,
                error.request_id,
                seconds,
                error.message,
            )
            raise error
        log.debug("cloud call service=%s action=%s seconds=%.3f", service, action, seconds)
        return body

    def _observe(self, service: str, action: str, outcome: str, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(service, action, outcome, seconds)
        except Exception:
            log.exception("call observer failed service=%s action=%s", service, action)


def _body_of(response: Any) -> dict[str, Any]:
    if response is None:
        return {}
    if isinstance(response, dict):
        mapped = response.get("body")
    else:
        mapped = response.body.to_map() if response.body is not None else {}
    return mapped if isinstance(mapped, dict) else {}


def call_rpc(client: Any, action: str, version: str, request: Any) -> dict[str, Any]:
    """A generated SDK method without its response model: the request model validated, then the same
    `Params`, `OpenApiRequest` and `RuntimeOptions` to the same client's `call_api`, so signing, retries,
    transport and the error exceptions are the SDK's; the `body` stays the decoded JSON (no response
    model built and mapped back).

    Only for RPC actions whose generated method sends every request field as a query parameter
    (DescribeReplicationJobs: tests/cloud compare both paths on the wire and in the values).
    """
    UtilClient.validate_model(request)
    query = OpenApiUtilClient.query(request.to_map())
    open_request = open_api_models.OpenApiRequest(query=query)
    params = open_api_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    response = client.call_api(params, open_request, util_models.RuntimeOptions())
    return response if isinstance(response, dict) else {}


def to_cloud_error(exc: BaseException, service: str, action: str, scrub: Scrubber) -> CloudError:
    """Classify an SDK exception; only scrubbed text is copied out of it."""
    inner = exc
    if isinstance(exc, dara_exceptions.UnretryableException | tea_exceptions.UnretryableException):
        inner = getattr(exc, "inner_exception", None) or exc

    def make(
        code: str, message: str, *, retryable: bool, status: int | None = None, rid: str | None = None
    ) -> CloudError:
        return CloudError(
            code,
            scrub(message),
            request_id=rid,
            retryable=retryable,
            http_status=status,
            service=service,
            action=action,
        )

    if isinstance(inner, ThrottlingException | ClientException | ServerException):
        data = inner.data if isinstance(inner.data, dict) else {}
        code = _text(data.get("Code") or data.get("code") or inner.code) or "Unknown"
        message = _text(data.get("Message") or data.get("message")) or _text(inner.message) or code
        rid = _text(data.get("RequestId") or data.get("requestId") or inner.request_id)
        status = inner.status_code if isinstance(inner.status_code, int) else None
        retryable = (
            isinstance(inner, ThrottlingException | ServerException)
            or code.startswith("Throttling")
            or code == "ServiceUnavailable"
        )
        if status is None and not isinstance(inner, ThrottlingException | ServerException):
            retryable = False
        return make(code, message, retryable=retryable, status=status, rid=rid)
    if isinstance(inner, CredentialException):
        return make(
            "CredentialsUnavailable",
            "no usable Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            f"ALIBABA_CLOUD_ACCESS_KEY_SECRET or configure the default credential chain ({_text(inner)})",
            retryable=False,
        )
    if isinstance(inner, dara_exceptions.RetryError | tea_exceptions.RetryError | OSError):
        reason = _reason(_text(getattr(inner, "message", None) or inner))
        timed_out = "timed out" in reason.lower() or "timeouterror" in reason.lower()
        return make(
            "Timeout" if timed_out else "ConnectionError",
            f"{service} endpoint {'timed out' if timed_out else 'unreachable'}: {reason}",
            retryable=True,
        )
    if isinstance(inner, tea_exceptions.ValidateException | dara_exceptions.ValidateException):
        return make("InvalidParameter", f"request rejected by the SDK: {_text(inner)}", retryable=False)
    if isinstance(inner, tea_exceptions.TeaException):
        code = _text(inner.code) or "SdkError"
        return make(code, _text(inner.message) or type(inner).__name__, retryable=False)
    return make("SdkError", f"{type(inner).__name__}: {_text(inner)}", retryable=False)


def _text(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "" if text == "None" else text


def _reason(text: str) -> str:
    """What a requests error says went wrong ("Connection refused", "Read timed out"), not the URL."""
    if "Caused by " in text:
        return text[text.index("Caused by ") :][:300]
    return _REQUEST_URL.sub("", text)[:300]
