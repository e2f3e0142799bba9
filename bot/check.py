"""`smc-bot check`: what the bot sees, and whether Slack, Alibaba Cloud and the database answer, a line each.

Every probe is a real read-only call with the configured credentials (Slack `auth.test`, STS
`GetCallerIdentity`, SMC `DescribeSourceServers` page 1, the schema version). A line says OK and what was
found, or FIX and what to do; no secret and no traceback is ever printed. Exit 0 only when all are OK.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.cloud.ports import CallerIdentity, CloudError, Page, SourceServer
from bot.config import ConfigError, Settings
from bot.domain.smc_errors import Service, lookup
from bot.services import cloud_gateway
from handlers.ids import BOT_SCOPES
from storage.db import Database, DatabaseError, SchemaState

log = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10
NAME_WIDTH = 12


@dataclass(frozen=True)
class Line:
    """One probe's verdict: `text` is what was found (OK) or what to do (FIX)."""

    name: str
    ok: bool
    text: str

    def __str__(self) -> str:
        return f"{self.name:<{NAME_WIDTH}} {'OK' if self.ok else 'FIX':<3} {self.text}"


def run_check(settings: Settings) -> int:
    """Print the configuration (secrets only as set/not set), then one line per dependency; 0 when all OK."""
    width = max(len(name) for name, _ in settings.describe())
    for name, value in settings.describe():
        print(f"{name:<{width}}  {value}")
    print()
    ok = True
    for line in check_lines(settings):
        print(line, flush=True)
        ok = ok and line.ok
    return 0 if ok else 1


def check_lines(settings: Settings) -> Iterator[Line]:
    """Slack, the cloud and the database, in that order; a probe that breaks becomes a FIX line."""
    for name, probe in (
        ("slack", slack_lines),
        ("sts", cloud_lines),
        ("database", database_lines),
    ):
        try:
            yield from probe(settings)
        except Exception as exc:  # a diagnostic command reports; it never shows a traceback
            log.debug("check probe failed probe=%s", name, exc_info=True)
            yield Line(
                name,
                False,
                f"the check itself failed ({type(exc).__name__}): run "
                "`SMC_BOT_LOG_LEVEL=DEBUG smc-bot check` and report the log",
            )


# --- Slack ------------------------------------------------------------------------------------------


def _slack_client(settings: Settings, token: str) -> WebClient:
    base = str(settings.slack_api_url) if settings.slack_api_url else WebClient.BASE_URL
    # No retry handlers: one answer now beats a retried one for a diagnostic.
    return WebClient(token=token, base_url=base, timeout=SLACK_TIMEOUT_SECONDS, retry_handlers=[])


def _slack_where(settings: Settings) -> str:
    return str(settings.slack_api_url) if settings.slack_api_url else "slack.com"


def _slack_unreachable(settings: Settings, exc: Exception) -> str:
    hint = "check SLACK_API_URL (unset it for slack.com)" if settings.slack_api_url else "check the network"
    return f"cannot reach Slack at {_slack_where(settings)} ({_reason(exc)}): {hint} and any proxy settings"


def _header(headers: Mapping[str, object], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def slack_lines(settings: Settings) -> Iterator[Line]:
    try:
        settings.require("SLACK_BOT_TOKEN")
    except ConfigError as exc:
        yield Line("slack", False, str(exc))
        return
    assert settings.slack_bot_token is not None
    client = _slack_client(settings, settings.slack_bot_token.get_secret_value())
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        if exc.response.status_code == 429:
            yield Line("slack", False, "Slack rate-limited auth.test: run the check again in a minute")
        else:
            yield Line(
                "slack",
                False,
                f"Slack refused SLACK_BOT_TOKEN ({error}): copy the Bot User OAuth Token (xoxb-…) again from "
                "the app's OAuth & Permissions page (reinstall the app if it was revoked)",
            )
        return
    except (SlackClientError, OSError) as exc:
        yield Line("slack", False, _slack_unreachable(settings, exc))
        return
    yield Line(
        "slack",
        True,
        f"token valid: bot @{answer.get('user')} ({answer.get('user_id')}) in workspace "
        f"{answer.get('team')} ({answer.get('team_id')})",
    )
    yield _scopes_line(_header(answer.headers, "x-oauth-scopes"))
    if settings.slack_app_token is not None:
        yield _socket_mode_line(settings)


def _scopes_line(header: str | None) -> Line:
    if header is None:
        return Line(
            "slack scopes",
            False,
            "Slack did not say which scopes the token has (no x-oauth-scopes header): check SLACK_API_URL "
            "points at Slack's Web API",
        )
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = sorted(BOT_SCOPES - granted)
    if missing:
        return Line(
            "slack scopes",
            False,
            f"the token lacks {', '.join(missing)}: add them under OAuth & Permissions > Bot Token Scopes "
            "(as manifest.yml lists them) and reinstall the app to the workspace",
        )
    return Line("slack scopes", True, f"all {len(BOT_SCOPES)} bot scopes manifest.yml asks for are granted")


def _socket_mode_line(settings: Settings) -> Line:
    assert settings.slack_app_token is not None
    client = _slack_client(settings, settings.slack_app_token.get_secret_value())
    try:
        client.apps_connections_open(app_token=settings.slack_app_token.get_secret_value())
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        return Line(
            "socket mode",
            False,
            f"Slack refused SLACK_APP_TOKEN ({error}): create an app-level token with connections:write "
            "on the app's Basic Information page and enable Socket Mode, or unset it for HTTP mode",
        )
    except (SlackClientError, OSError) as exc:
        return Line("socket mode", False, _slack_unreachable(settings, exc))
    return Line("socket mode", True, "the app-level token may open Socket Mode connections")


# --- Alibaba Cloud ----------------------------------------------------------------------------------


def cloud_lines(settings: Settings) -> Iterator[Line]:
    """STS says whose credentials these are; an SMC read says SMC accepts them (one try each, no backoff)."""
    destination = cloud_gateway(settings, attempts=1).destination()
    with _quiet(*CLOUD_LOGGERS):
        yield _cloud_line("sts", settings, lambda: _identity(destination.get_caller_identity()))
        yield _cloud_line("smc", settings, lambda: _sources(destination.list_source_servers(page_size=1)))


CLOUD_LOGGERS = ("credentials", "bot.cloud.sdk")
"""The credential chain logs its failures with tracebacks on its own handler, and the adapter warns about
the failed call: the check's line already says what failed and what to do."""


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(loggers, before, strict=True):
            logger.disabled = was


def _identity(identity: CallerIdentity) -> tuple[bool, str]:
    found = f"account {identity.account_id} as {identity.arn} ({identity.identity_type})"
    if identity.identity_type.lower() == "account":
        # Alibaba refuses AssumeRole to root callers: same-account migrations work, cross-account ones not.
        found += (
            "; this is the account's root AccessKey, which cross-account imports cannot use (AssumeRole "
            "refuses root callers): give the bot a RAM user's AccessKey as the README's setup describes"
        )
    return True, found


def _sources(page: Page[SourceServer]) -> tuple[bool, str]:
    found = "a page" if page.total is None else f"{page.total} source server{'' if page.total == 1 else 's'}"
    return True, f"DescribeSourceServers answered: {found} in the account"


def _cloud_line(name: str, settings: Settings, probe: Callable[[], tuple[bool, str]]) -> Line:
    try:
        ok, text = probe()
    except CloudError as err:
        return Line(name, False, _cloud_fix(err, settings, Service(name)))
    return Line(name, ok, text)


def _cloud_fix(err: CloudError, settings: Settings, service: Service) -> str:
    if err.code in ("ConnectionError", "Timeout"):
        where = str(settings.cloud_endpoint) if settings.cloud_endpoint else "Alibaba Cloud"
        hint = (
            "check SMC_BOT_CLOUD_ENDPOINT (is `smc-bot simulate` running there? unset it for Alibaba Cloud)"
            if settings.cloud_endpoint
            else "check the network and any proxy settings"
        )
        return f"cannot reach {where} ({_short(err.message)}): {hint}"
    if err.code == "CredentialsUnavailable":
        return err.message
    info = lookup(err.code, service)
    if info is not None:
        return f"{err.code}: {info.meaning} {info.fix}"
    return f"{err.code}: {err.message}"


# --- database ---------------------------------------------------------------------------------------


def database_lines(settings: Settings) -> Iterator[Line]:
    try:
        db = Database(settings.database_url)
    except DatabaseError as exc:
        yield Line("database", False, str(exc))
        return
    try:
        status = db.schema_status()
    except DatabaseError as exc:
        yield Line("database", False, str(exc))
        return
    finally:
        db.dispose()
    if status.state is SchemaState.CURRENT:
        yield Line("database", True, f"{db.display_url} at schema {status.current}")
    elif status.state is SchemaState.AHEAD:
        yield Line(
            "database",
            False,
            f"schema {status.current} is newer than this smc-bot ({status.head}): upgrade smc-bot",
        )
    elif db.is_sqlite:
        yield Line(
            "database",
            True,
            f"schema {status.current or 'empty'}; `smc-bot serve` brings embedded SQLite to {status.head}",
        )
    else:
        yield Line(
            "database",
            False,
            f"schema {status.current or 'empty'}, this smc-bot needs {status.head}: run `smc-bot db upgrade`",
        )


def _short(message: str) -> str:
    """`[Errno 111] Connection refused` out of the SDK's long connection error, else its first words."""
    found = _ERRNO.search(message)
    return found.group(0) if found else message[:160]


_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')\]]+|(?:Read|Connect) timed out")


def _reason(exc: BaseException) -> str:
    """The cause of a connection failure in a few words, without a URL (it may carry a token)."""
    cause: BaseException = exc
    while True:
        inner = getattr(cause, "reason", None) or cause.__cause__
        if not isinstance(inner, BaseException) or inner is cause:
            break
        cause = inner
    text = str(cause) or type(cause).__name__
    return text.split(" url:", 1)[0][:200]
