"""Alibaba-looking resource ids (`i-bp1…`, `j-bp1…`), reproducible for a given world seed, and secrets."""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
import uuid

# Alibaba encodes the region in the first characters of most resource ids.
REGION_ID_CODES: dict[str, str] = {
    "cn-hangzhou": "bp1",
    "cn-shanghai": "uf6",
    "cn-beijing": "2ze",
    "cn-shenzhen": "wz9",
    "cn-qingdao": "m5e",
    "cn-zhangjiakou": "8vb",
    "cn-hongkong": "j6c",
    "ap-southeast-1": "t4n",
}
_ALPHABET = string.digits + string.ascii_lowercase


def region_code(region_id: str | None) -> str:
    """The id infix for a region (`bp1` for cn-hangzhou); unknown regions get a stable 3-char code."""
    if region_id is None:
        return "bp1"
    known = REGION_ID_CODES.get(region_id)
    if known is not None:
        return known
    return _encode(hashlib.sha256(region_id.encode()).digest(), 3)


def _encode(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def request_id() -> str:
    """A RequestId in Alibaba's upper-case UUID form."""
    return str(uuid.uuid4()).upper()


def secret_token(length: int = 32) -> str:
    """An unpredictable alphanumeric secret (activation codes, STS secrets)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class IdFactory:
    """Issues ids like `j-bp1h3d33mekxwu0nabcd`: deterministic per (seed, kind, sequence)."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str, region_id: str | None = None, *, length: int = 17) -> str:
        """Next id for `prefix` (`i`, `j`, `s`, `m`, `at`, `t`, `c`, `d`, …) in a region."""
        code = region_code(region_id)
        with self._lock:
            sequence = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = sequence
        digest = hashlib.sha256(f"{self._seed}|{prefix}|{code}|{sequence}".encode()).digest()
        return f"{prefix}-{code}{_encode(digest, length)}"

    def stable(self, prefix: str, region_id: str | None, *parts: str, length: int = 17) -> str:
        """An id derived only from `parts` (used for resources a world file leaves unnamed)."""
        code = region_code(region_id)
        digest = hashlib.sha256("|".join((self._seed, prefix, code, *parts)).encode()).digest()
        return f"{prefix}-{code}{_encode(digest, length)}"
