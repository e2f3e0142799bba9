"""`smc-bot serve`: HTTP mode and Socket Mode as real processes and connections, and the start-up refusals."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from slack_sdk import WebClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.__main__ import EXIT_CONFIG
from bot.app import create_app
from bot.config import ConfigError
from bot.services import Services, cloud_gateway
from bot.transport import check_mode, prepare_database, serve_socket_mode
from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, SlackDriver, SlackStandIn
from storage.db import Database, DatabaseError, SchemaState
from tests.conftest import PG_ENV
from tests.harness import (
    DEST_ACCESS_KEY_SECRET,
    free_port,
    process_env,
    sandbox_env,
    settings_for,
)

ROOT = Path(__file__).resolve().parents[1]
APP_TOKEN = "xapp-1-A0SANDBOX-0000-sandbox-app-token"
START_TIMEOUT = 60.0


class SocketModeEndpoint:
    """Slack's side of Socket Mode, just enough for slack_sdk's built-in client: apps.connections.open,
    auth.test and one WebSocket that carries envelopes to the bot and its acks back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connected = threading.Event()
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.app_tokens: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="socket-mode-endpoint", daemon=True
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def _open(self, request: web.Request) -> web.Response:
        self.app_tokens.append(request.headers.get("Authorization", ""))
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=sandbox"})

    async def _auth_test(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "team_id": "T0SANDBOX",
                "user_id": "U0SMCBOT",
                "bot_id": "B0SMCBOT",
                "team": "Sandbox",
            }
        )

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                self.acks.put(json.loads(message.data))
        return ws

    def start(self) -> SocketModeEndpoint:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._runner.setup(), self._loop).result(10)
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(site.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def slash_command(self, text: str) -> dict[str, Any]:
        """Send `/smc text` as a `slash_commands` envelope and return the bot's ack payload."""
        assert self.connected.wait(START_TIMEOUT), "the bot never opened the Socket Mode connection"
        envelope_id = secrets.token_hex(8)
        envelope = {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "team_id": "T0SANDBOX",
                "team_domain": "sandbox",
                "channel_id": MIGRATIONS_CHANNEL,
                "channel_name": "migrations",
                "user_id": REQUESTER,
                "user_name": "requester",
                "command": "/smc",
                "text": text,
                "api_app_id": "A0SANDBOX",
                "response_url": f"http://127.0.0.1:{self.port}/response",
                "trigger_id": "1.2.sandbox",
            },
        }
        socket = self._socket
        assert socket is not None
        asyncio.run_coroutine_threadsafe(socket.send_str(json.dumps(envelope)), self._loop).result(10)
        ack = self.acks.get(timeout=30)
        assert ack["envelope_id"] == envelope_id
        payload: dict[str, Any] = ack.get("payload") or {}
        return payload


@pytest.fixture
def endpoint() -> Iterator[SocketModeEndpoint]:
    running = SocketModeEndpoint().start()
    yield running
    running.stop()


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with (tmp_path / "serve.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def _wait_healthy(process: subprocess.Popen[str], url: str) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "smc-bot serve exited while starting"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("smc-bot serve did not become healthy")


def test_http_mode_serves_health_and_signed_commands_and_stops_on_sigterm(
    tmp_path: Path, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    port = free_port()
    database = tmp_path / "data" / "smc-bot.db"
    env = process_env(tmp_path, **sandbox_env(slack, cloud, f"sqlite:///{database}"), PORT=str(port))
    process = _start(tmp_path, env)
    try:
        health = _wait_healthy(process, f"http://127.0.0.1:{port}/healthz")
        assert health["ok"] is True and health["database"] == "ok" and health["scheduler"] == "running"
        driver = SlackDriver(slack, f"http://127.0.0.1:{port}")
        result = driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")
        assert result.acked_in_time and not result.problems, result.problems
        assert "/smc import" in result.data["text"]
        forged = driver.post_raw(b"command=%2Fsmc&text=help", {"X-Slack-Signature": "v0=00"})
        assert forged.status == 401
    finally:
        code = _stop(process)
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output
    assert Database(f"sqlite:///{database}").schema_status().state is SchemaState.CURRENT
    for secret in (slack.bot_token, slack.signing_secret, DEST_ACCESS_KEY_SECRET):
        assert secret not in output


def test_socket_mode_serve_answers_commands_over_the_websocket_and_health_on_port(
    tmp_path: Path, endpoint: SocketModeEndpoint
) -> None:
    port = free_port()
    env = process_env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-0000000000-sandbox-bot-token",
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=endpoint.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'smc-bot.db'}",
        PORT=str(port),
    )
    process = _start(tmp_path, env)
    try:
        answer = endpoint.slash_command("help")
        assert answer["response_type"] == "ephemeral" and "/smc migrate" in answer["text"]
        assert endpoint.app_tokens == [f"Bearer {APP_TOKEN}"]
        health = _wait_healthy(process, f"http://127.0.0.1:{port}/healthz")
        assert health["database"] == "ok" and health["scheduler"] == "running"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert b"smc_bot_scheduler_running 1.0" in response.read()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404, "Socket Mode takes no Slack requests over HTTP"
    finally:
        code = _stop(process)
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output
    assert APP_TOKEN not in output


def test_serve_socket_mode_dispatches_envelopes_to_the_bolt_app(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, endpoint: SocketModeEndpoint
) -> None:
    settings = settings_for(db, slack, cloud)
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings))
    app = create_app(
        services, client=WebClient(token=slack.bot_token, base_url=endpoint.api_url), signing_secret=None
    )
    handler = serve_socket_mode(app, APP_TOKEN)
    try:
        unknown = endpoint.slash_command("frobnicate")
        assert "`/smc frobnicate` is not a command." in unknown["text"]
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def test_http_mode_refuses_to_start_without_the_signing_secret(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: PLW1510 - our own CLI; the exit code is what is inspected
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=process_env(tmp_path, SLACK_BOT_TOKEN="xoxb-0000000000-sandbox-bot-token"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == EXIT_CONFIG
    [problem] = result.stderr.splitlines()[1:]
    assert problem.startswith("HTTP mode needs SLACK_SIGNING_SECRET")
    assert "SLACK_APP_TOKEN" in problem and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_socket_mode_needs_no_signing_secret_but_every_mode_needs_the_bot_token(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    socket = settings_for(db, slack, cloud, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None)
    check_mode(socket)
    tokenless = settings_for(db, slack, cloud, SLACK_BOT_TOKEN=None)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set"):
        check_mode(tokenless)


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database (schema never migrated), dropped afterwards."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    name = f"smc_serve_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_an_unmigrated_postgresql_is_refused_with_the_upgrade_command(
    empty_postgres: str, slack: SlackStandIn, cloud: CloudSimulator, db: Database
) -> None:
    settings = settings_for(db, slack, cloud, DATABASE_URL=empty_postgres)
    with pytest.raises(DatabaseError, match="run `smc-bot db upgrade`"):
        prepare_database(settings)


def test_embedded_sqlite_is_migrated_on_start(
    tmp_path: Path, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    fresh = Database(f"sqlite:///{tmp_path / 'new' / 'smc-bot.db'}")
    settings = settings_for(fresh, slack, cloud)
    prepared = prepare_database(settings)
    assert prepared.schema_status().state is SchemaState.CURRENT
    prepared.dispose()
    fresh.dispose()
