"""Request authentication as Alibaba does it: ACS3-HMAC-SHA256 and legacy HMAC-SHA1 signatures, STS tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

from sandbox.cloud.protocol import ApiError, missing_param, parse_time
from sandbox.cloud.world import StsSession, World

ACS3 = "ACS3-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
# Headers the default signature must cover; the SDK signs every header it sets, so these always are.
REQUIRED_SIGNED_HEADERS = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce")

_ERRORS: dict[str, tuple[int, str]] = {
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "SignatureDoesNotMatch": (400, "Specified signature does not match our calculation."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "MissingSecurityToken": (400, "SecurityToken is mandatory for this action."),
    "InvalidSecurityToken.Expired": (400, "Specified SecurityToken is expired."),
    "InvalidSecurityToken.MismatchWithAccessKey": (
        400,
        "Specified SecurityToken mismatch with the AccessKey.",
    ),
    "InvalidSecurityToken.Malformed": (400, "Specified SecurityToken is malformed."),
}


def auth_error(code: str, detail: str = "") -> ApiError:
    """An authentication failure with Alibaba's status and message for `code`."""
    status, message = _ERRORS[code]
    return ApiError(status, code, f"{message} {detail}".strip())


@dataclass(frozen=True, slots=True)
class Caller:
    """Who signed a request: an account's own AccessKey, or an STS session acting in the role's account."""

    account_uid: str
    access_key_id: str
    session: StsSession | None = None


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP request that signatures cover."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of a header (names are lower-case)."""
        values = self.headers.get(name)
        return values[0] if values else None


class NonceCache:
    """Signature nonces seen in the last 15 minutes; a repeat is a replay."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str, now: datetime) -> bool:
        """Record `nonce`; False when it was already used inside the window."""
        with self._lock:
            horizon = now - 2 * MAX_CLOCK_SKEW
            if len(self._seen) > 10_000:
                self._seen = {key: when for key, when in self._seen.items() if when > horizon}
            previous = self._seen.get(nonce)
            if previous is not None and previous > horizon:
                return False
            self._seen[nonce] = now
            return True


def canonical_query(query: Mapping[str, str]) -> str:
    """Sorted `key=value` pairs with values percent-encoded (`~` safe), joined by `&`."""
    return "&".join(f"{key}={quote(query[key], safe='~')}" for key in sorted(query))


def acs3_signature(request: SignedRequest, signed_headers: list[str], payload_hash: str, secret: str) -> str:
    """Hex HMAC-SHA256 over the ACS3 string to sign, exactly as tea-openapi computes it."""
    canonical_headers = ""
    for name in signed_headers:
        values = request.headers.get(name, [])
        canonical_headers += f"{name}:{','.join(sorted(value.strip() for value in values))}\n"
    canonical_request = "\n".join(
        (
            request.method,
            request.path or "/",
            canonical_query(request.query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        )
    )
    string_to_sign = f"{ACS3}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def rpc_signature(params: Mapping[str, str], method: str, secret: str) -> str:
    """Base64 HMAC-SHA1 of the legacy RPC string to sign (`POST&%2F&…`), key = secret + `&`."""
    canonical = "&".join(f"{quote(key, safe='~')}={quote(params[key], safe='~')}" for key in sorted(params))
    string_to_sign = f"{method}&%2F&{quote_plus(canonical, safe='~')}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Authenticator:
    """Verifies signatures and credentials against the world's AccessKeys and STS sessions."""

    def __init__(self) -> None:
        self.nonces = NonceCache()

    def authenticate(
        self, request: SignedRequest, world: World, *, real_now: datetime, sim_now: datetime
    ) -> Caller:
        """The verified caller, or an ApiError with Alibaba's code."""
        authorization = request.header("authorization")
        if authorization:
            return self._acs3(request, authorization, world, real_now, sim_now)
        if "Signature" in request.query:
            return self._rpc(request, world, real_now, sim_now)
        raise missing_param("AccessKeyId")

    def _acs3(
        self, request: SignedRequest, authorization: str, world: World, real_now: datetime, sim_now: datetime
    ) -> Caller:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ACS3:
            raise auth_error("IncompleteSignature", f"Unsupported signature algorithm {algorithm}.")
        fields: dict[str, str] = {}
        for item in rest.split(","):
            key, _, value = item.strip().partition("=")
            fields[key] = value
        key_id = fields.get("Credential", "")
        signature = fields.get("Signature", "")
        signed_headers = [name for name in fields.get("SignedHeaders", "").split(";") if name]
        if not key_id or not signature or not signed_headers:
            raise auth_error("IncompleteSignature", "Credential, SignedHeaders and Signature are required.")
        for name in (*REQUIRED_SIGNED_HEADERS, "x-acs-content-sha256"):
            if name not in signed_headers or request.header(name) is None:
                raise auth_error("IncompleteSignature", f"Header {name} must be present and signed.")
        token = request.header("x-acs-security-token")
        if token is not None and "x-acs-security-token" not in signed_headers:
            raise auth_error("IncompleteSignature", "Header x-acs-security-token must be signed.")
        secret, caller = self._credential(world, key_id, token, sim_now, real_now)
        payload_hash = request.header("x-acs-content-sha256") or ""
        expected = acs3_signature(request, sorted(signed_headers), payload_hash, secret)
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(expected, signature) or payload_hash != body_hash:
            raise auth_error("SignatureDoesNotMatch")
        self._fresh(
            request.header("x-acs-date") or "", request.header("x-acs-signature-nonce") or "", real_now
        )
        return caller

    def _rpc(self, request: SignedRequest, world: World, real_now: datetime, sim_now: datetime) -> Caller:
        query = request.query
        key_id = query.get("AccessKeyId", "")
        if not key_id:
            raise missing_param("AccessKeyId")
        if query.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise auth_error("IncompleteSignature", "SignatureMethod must be HMAC-SHA1.")
        secret, caller = self._credential(world, key_id, query.get("SecurityToken"), sim_now, real_now)
        signed = {key: value for key, value in query.items() if key != "Signature"}
        expected = rpc_signature(signed, request.method, secret)
        if not hmac.compare_digest(expected, query.get("Signature", "")):
            raise auth_error("SignatureDoesNotMatch")
        self._fresh(query.get("Timestamp", ""), query.get("SignatureNonce", ""), real_now)
        return caller

    def _credential(
        self, world: World, key_id: str, token: str | None, sim_now: datetime, real_now: datetime
    ) -> tuple[str, Caller]:
        session = world.sts_sessions.get(key_id)
        if session is not None:
            if not token:
                raise auth_error("MissingSecurityToken")
            if token != session.token:
                owner = next((item for item in world.sts_sessions.values() if item.token == token), None)
                if owner is None:
                    raise auth_error("InvalidSecurityToken.Malformed")
                raise auth_error("InvalidSecurityToken.MismatchWithAccessKey")
            if (real_now if session.real_clock else sim_now) >= session.expiration:
                raise auth_error("InvalidSecurityToken.Expired")
            return session.secret, Caller(session.account_uid, key_id, session)
        found = world.find_access_key(key_id)
        if found is None:
            raise auth_error("InvalidAccessKeyId.NotFound")
        account, key = found
        if token:
            raise auth_error("InvalidSecurityToken.MismatchWithAccessKey")
        return key.secret, Caller(account.uid, key_id)

    def _fresh(self, timestamp: str, nonce: str, real_now: datetime) -> None:
        when = parse_time(timestamp) if timestamp else None
        if when is None:
            raise auth_error("InvalidTimeStamp.Format")
        if abs(real_now.astimezone(UTC) - when) > MAX_CLOCK_SKEW:
            raise auth_error("InvalidTimeStamp.Expired")
        if not nonce:
            raise missing_param("SignatureNonce")
        if not self.nonces.use(nonce, real_now):
            raise auth_error("SignatureNonceUsed")
