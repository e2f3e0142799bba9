"""Removes secrets from any text that may reach a log line or an error message."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from urllib.parse import quote, quote_plus

from bot.cloud.ports import MASK, Secret

# Request URLs carry every RPC parameter (RunCommand `Parameters` holds the activation code; the legacy
# signature puts `SecurityToken` there), so a URL's query string never survives.
_URL_QUERY = re.compile(r"\?[^\s'\"()]*=[^\s'\"()]*")
_NAMED = re.compile(
    r"(?i)(securitytoken|security_token|x-acs-security-token|accesskeysecret|access_key_secret|"
    r"signature|accesstokencode|activation[_ ]?code|authorization)(['\"]?\s*[:=]\s*['\"]?)([^\s'\",&}]+)"
)
_MIN_SECRET_LEN = 6


class Scrubber:
    """Known secret values (bounded, thread-safe) plus patterns for the places secrets travel."""

    def __init__(self, capacity: int = 2048) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def register(self, *secrets: Secret | str | None) -> None:
        """Remember values that must never appear in text we emit."""
        with self._lock:
            for secret in secrets:
                value = secret.reveal() if isinstance(secret, Secret) else secret
                if not value or len(value) < _MIN_SECRET_LEN:
                    continue
                # Request URLs and JSON-in-query parameters carry the value percent-encoded.
                for form in {value, quote(value, safe=""), quote_plus(value, safe="")}:
                    self._values[form] = None
                    self._values.move_to_end(form)
                while len(self._values) > self._capacity:
                    self._values.popitem(last=False)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        text = _URL_QUERY.sub("?…", text)
        return _NAMED.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


class ScrubbingFilter(logging.Filter):
    """A logging filter that masks every secret the scrubber knows, in messages and tracebacks."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self._scrub = scrub
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True


# The HTTP stack logs request lines at DEBUG: urllib3 `POST /?<every RPC parameter>`, and with
# DEBUG=sdk darabonba prints path+query and headers (x-acs-security-token, authorization).
_TRANSPORT_LOGGERS = ("urllib3.connectionpool", "darabonba-core", "credentials")
_ANY_QUERY = re.compile(r"\?\S+")
_DEBUG_REQUEST_LINE = re.compile(r"^(> [A-Z]+ /)\S*", re.MULTILINE)


class TransportLogFilter(logging.Filter):
    """Strips query strings and credential headers from the SDK's and urllib3's own log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _ANY_QUERY.sub("?…", record.getMessage())
        message = _DEBUG_REQUEST_LINE.sub(r"\1…", message)
        record.msg = _NAMED.sub(lambda m: m.group(1) + m.group(2) + MASK, message)
        record.args = None
        return True


def protect_transport_logs() -> None:
    """Install TransportLogFilter on the HTTP stack's loggers (idempotent)."""
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TransportLogFilter) for f in logger.filters):
            logger.addFilter(TransportLogFilter())
