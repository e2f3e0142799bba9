"""`smc-bot serve`: how the bot meets Slack — Socket Mode (one process, no public URL) or HTTP on PORT.

Socket Mode is chosen when SLACK_APP_TOKEN is set; HTTP mode needs SLACK_SIGNING_SECRET, because every
request must be verified before anything happens. Both stop cleanly on SIGTERM: stop taking requests,
let delivery and the worker finish what they hold (leases expire for other replicas), close the database.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from starlette.applications import Starlette

from bot.app import create_app
from bot.config import ConfigError, Settings
from bot.http import create_http_app
from bot.metrics import Metrics
from bot.runtime import Runtime, build_runtime
from bot.services import Services, cloud_gateway
from bot.slack_directory import SlackDirectory
from storage.db import Database, DatabaseError

log = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the HTTP mode listens for Slack (or a load balancer) on PORT


def web_client(settings: Settings, *, retries: bool) -> WebClient:
    """A Web API client on SLACK_API_URL; `retries` adds 429/5xx retries (not for the outbox: it defers)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {"token": token}
    if settings.slack_api_url is not None:
        kwargs["base_url"] = str(settings.slack_api_url)
    client = WebClient(**kwargs)
    if retries:
        client.retry_handlers.extend(
            [RateLimitErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2)]
        )
    return client


def serve_socket_mode(app: App, app_token: str, *, web_client: WebClient | None = None) -> SocketModeHandler:
    """Connect to Slack over Socket Mode (slack_sdk's built-in client) and return at once; `close()` stops it.

    `web_client` answers `apps.connections.open`; it defaults to the app's own client.
    """
    handler = SocketModeHandler(app, app_token, web_client=web_client)
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("connected to Slack over Socket Mode")
    return handler


class _Server(uvicorn.Server):
    """uvicorn, minus its signal capture: it re-raises SIGTERM after shutdown, which would kill the process
    before delivery and the worker are stopped. `serve_http` handles the signals instead."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_http(http_app: Starlette, *, port: int, host: str = ALL_INTERFACES) -> None:
    """Serve until SIGTERM or SIGINT, then return once in-flight requests have been answered."""
    config = uvicorn.Config(
        http_app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)

    def stop() -> None:
        server.should_exit = True

    log.info("serving Slack over HTTP host=%s port=%s path=/slack/events", host, port)
    with _stop_signals(stop):
        server.run()


@dataclass
class Bot:
    """One process's bot: services, background runtime and the Bolt app."""

    services: Services
    runtime: Runtime
    app: App


def prepare_database(settings: Settings) -> Database:
    """Embedded SQLite migrates itself; a shared PostgreSQL must already be at the code's schema."""
    db = Database(settings.database_url)
    if db.is_sqlite:
        db.upgrade()
    else:
        db.require_current()
    return db


def build_bot(settings: Settings, db: Database, *, signing_secret: str | None) -> Bot:
    """Wire services, delivery/worker and the app the way every mode uses them."""
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings))
    services.directory = SlackDirectory(web_client(settings, retries=True), clock=services.clock)
    runtime = build_runtime(services, web_client(settings, retries=False))
    app = create_app(services, client=web_client(settings, retries=True), signing_secret=signing_secret)
    return Bot(services=services, runtime=runtime, app=app)


def check_mode(settings: Settings) -> None:
    """Refuse to start without what the chosen mode needs, in one line each."""
    settings.require("SLACK_BOT_TOKEN")
    if not settings.socket_mode and settings.slack_signing_secret is None:
        raise ConfigError(
            "HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests: copy the Signing Secret from "
            "the app's Basic Information page, or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode."
        )


def health_check(db: Database) -> Callable[[], tuple[bool, Mapping[str, Any]]]:
    def check() -> tuple[bool, Mapping[str, Any]]:
        try:
            db.ping()
        except DatabaseError as err:
            return False, {"database": str(err)}
        return True, {"database": "ok"}

    return check


@contextmanager
def _stop_signals(on_stop: Callable[[], None] = lambda: None) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (and `on_stop` called); the previous handlers come back after."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping signal=%s", signal.Signals(signum).name)
        stop.set()
        on_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(settings: Settings) -> int:
    """`smc-bot serve`: Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT; returns when stopped."""
    check_mode(settings)
    db = prepare_database(settings)
    secret = settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret is not None and not settings.socket_mode else None
    bot = build_bot(settings, db, signing_secret=signing_secret)
    bot.runtime.start()
    try:
        if settings.socket_mode:
            assert settings.slack_app_token is not None
            with _stop_signals() as stop:
                handler = serve_socket_mode(bot.app, settings.slack_app_token.get_secret_value())
                try:
                    stop.wait()
                finally:
                    handler.close()  # type: ignore[no-untyped-call]
        else:
            assert signing_secret is not None
            metrics = Metrics()
            metrics.watch_database(db, bot.services.clock)
            http_app = create_http_app(
                bot.app,
                signing_secret=signing_secret,
                health=health_check(db),
                metrics=metrics.export,
                observe_ack=metrics.observe_ack,
            )
            serve_http(http_app, port=settings.port)
    finally:
        bot.runtime.stop()
        bot.services.background.drain(10)
        db.dispose()
    log.info("stopped")
    return 0
