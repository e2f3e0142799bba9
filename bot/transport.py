"""`smc-bot serve`: how the bot meets Slack — Socket Mode (one process, no public URL) or HTTP on PORT.

Socket Mode is chosen when SLACK_APP_TOKEN is set; HTTP mode needs SLACK_SIGNING_SECRET, because every
request must be verified before anything happens. Both serve GET /healthz and GET /metrics on PORT (the
container health check uses it). Both stop cleanly on SIGTERM: stop taking requests, give the poller's job
leases back, let delivery and the worker finish what they hold, close the database.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import create_app
from bot.collector import IdleCollector
from bot.config import ConfigError, Settings
from bot.health import Health
from bot.http import HealthCheck, MetricsExporter, create_http_app
from bot.metrics import Metrics
from bot.runtime import Runtime, build_runtime
from bot.services import Services, cloud_gateway
from bot.slack_directory import SlackDirectory
from storage.db import Database

log = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the HTTP mode listens for Slack (or a load balancer) on PORT
SHUTDOWN_GRACE_SECONDS = 5
"""In-flight requests, after-ack work, delivery and the worker each get this long on SIGTERM (Docker's
default stop timeout is 10 s before SIGKILL; whatever is cut off is leased and expires for a replica)."""


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
    before delivery and the worker are stopped. `serve` handles the signals instead."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(http_app: Starlette, *, port: int, host: str = ALL_INTERFACES) -> uvicorn.Server:
    """uvicorn for our Starlette app; `run()` serves until `should_exit`, then answers what is in flight."""
    config = uvicorn.Config(
        http_app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    return _Server(config)


@dataclass
class Bot:
    """One process's bot: services, background runtime, the Bolt app, and what /healthz and /metrics read."""

    services: Services
    runtime: Runtime
    app: App
    metrics: Metrics
    health: Health


def prepare_database(settings: Settings) -> Database:
    """Embedded SQLite migrates itself; a shared PostgreSQL must already be at the code's schema."""
    db = Database(settings.database_url)
    if db.is_sqlite:
        db.upgrade()
    else:
        db.require_current()
    return db


def build_bot(settings: Settings, db: Database, *, signing_secret: str | None) -> Bot:
    """Wire services, delivery/worker/poller, metrics and the app the way every mode uses them."""
    metrics = Metrics()
    services = Services(
        settings=settings, db=db, cloud=cloud_gateway(settings, observer=metrics.observe_cloud)
    )
    services.directory = SlackDirectory(web_client(settings, retries=True), clock=services.clock)
    runtime = build_runtime(
        services,
        web_client(settings, retries=False),
        slack_observer=metrics.observe_slack,
        poll_observer=metrics.observe_poll,
    )
    assert runtime.poller is not None
    metrics.watch_database(db, services.clock)
    metrics.watch_poller(runtime.poller, _wall_clock)
    metrics.watch_after_ack(lambda: services.background.pending)
    health = Health(db, runtime.poller, interval=timedelta(seconds=settings.poll_seconds))
    app = create_app(services, client=web_client(settings, retries=True), signing_secret=signing_secret)
    return Bot(services=services, runtime=runtime, app=app, metrics=metrics, health=health)


def slack_http_app(bot: Bot, signing_secret: str) -> Starlette:
    """HTTP mode: POST /slack/events (signature first), GET /healthz, GET /metrics."""
    return create_http_app(
        bot.app,
        signing_secret=signing_secret,
        health=bot.health.check,
        metrics=bot.metrics.export,
        observe_ack=bot.metrics.observe_ack,
        serving=bot.services.background.in_flight.serving,
    )


def ops_app(health: HealthCheck, metrics: MetricsExporter) -> Starlette:
    """Socket Mode: only GET /healthz and GET /metrics on PORT (Slack's requests come over the socket)."""

    async def healthz(_: Request) -> Response:
        ok, detail = await run_in_threadpool(health)
        return JSONResponse({"ok": ok, **detail}, status_code=200 if ok else 503)

    async def export(_: Request) -> Response:
        payload, content_type = await run_in_threadpool(metrics)
        return Response(payload, media_type=content_type)

    return Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), Route("/metrics", export, methods=["GET"])]
    )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def check_mode(settings: Settings) -> None:
    """Refuse to start without what the chosen mode needs, in one line each."""
    settings.require("SLACK_BOT_TOKEN")
    if not settings.socket_mode and settings.slack_signing_secret is None:
        raise ConfigError(
            "HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests: copy the Signing Secret from "
            "the app's Basic Information page, or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode."
        )


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
    """`smc-bot serve`: Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT; returns 0 once stopped cleanly.

    SIGTERM/SIGINT: stop taking Slack requests (uvicorn answers what is in flight; the socket closes), let
    after-ack work finish, stop the poller (its tick ends and its job leases are given back), let delivery
    finish its batch and the worker its task, close the database.
    """
    check_mode(settings)
    db = prepare_database(settings)
    secret = settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret is not None and not settings.socket_mode else None
    bot = build_bot(settings, db, signing_secret=signing_secret)
    if settings.socket_mode:
        server = http_server(ops_app(bot.health.check, bot.metrics.export), port=settings.port)
    else:
        assert signing_secret is not None
        server = http_server(slack_http_app(bot, signing_secret), port=settings.port)

    def stop_serving() -> None:
        server.should_exit = True

    # Everything imported and built so far lives as long as the process: moved out of the collector's
    # sight, a full collection no longer walks ~175,000 objects (~90 ms with every thread stopped, which
    # showed as the p99 of acks in bench/ack_latency.py).
    gc.collect()
    gc.freeze()
    collector = IdleCollector(bot.services.background.in_flight.busy)

    try:
        with _stop_signals(stop_serving):
            collector.start()
            bot.runtime.start()
            try:
                if settings.socket_mode:
                    assert settings.slack_app_token is not None
                    handler = serve_socket_mode(bot.app, settings.slack_app_token.get_secret_value())
                    try:
                        log.info("serving /healthz and /metrics port=%s", settings.port)
                        server.run()
                    finally:
                        handler.close()  # type: ignore[no-untyped-call]
                else:
                    log.info("serving Slack over HTTP port=%s path=/slack/events", settings.port)
                    server.run()
            finally:
                shut_down(bot)
                collector.stop()
    finally:
        db.dispose()
    log.info("stopped")
    return 0


def shut_down(bot: Bot, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
    """After Slack requests stopped: after-ack work, then the poller, delivery and the worker, in order."""
    if not bot.services.background.drain(grace):
        log.warning("after-ack work still running at shutdown; it is abandoned")
    bot.runtime.stop(timeout=grace)
