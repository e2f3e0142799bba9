"""The bot under test: real Bolt app in HTTP mode, served by uvicorn, against the sandbox cloud and Slack."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from slack_sdk import WebClient

from bot.app import create_app
from bot.config import Settings
from bot.domain.tracking import TickReport
from bot.http import create_http_app
from bot.runtime import Runtime, build_runtime
from bot.services import Clock, Services, cloud_gateway
from bot.slack_directory import SlackDirectory
from sandbox.cloud import CloudSimulator
from sandbox.slack import Ephemeral, SlackDriver, SlackStandIn
from storage.db import Database

DEST_ACCESS_KEY_ID = "LTAI5tSandboxDest00001"
DEST_ACCESS_KEY_SECRET = "sandbox-dest-secret-do-not-use-in-prod"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def process_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The environment of an `smc-bot` OS process: only PATH and HOME from this one, then `values`."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **values}


def sandbox_env(slack: SlackStandIn, cloud: CloudSimulator, database_url: str) -> dict[str, str]:
    """Variables that point an `smc-bot` process at the Slack stand-in, the sandbox cloud and a database."""
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "SMC_BOT_CLOUD_ENDPOINT": cloud.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEST_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEST_ACCESS_KEY_SECRET,
    }


def settings_for(db: Database, slack: SlackStandIn, cloud: CloudSimulator | None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": db.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEST_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEST_ACCESS_KEY_SECRET,
        "SMC_BOT_POLL_SECONDS": 5,
    }
    if cloud is not None:
        values["SMC_BOT_CLOUD_ENDPOINT"] = cloud.url
    values.update(extra)
    return Settings.model_validate(values)


@dataclass
class BotUnderTest:
    services: Services
    runtime: Runtime
    slack: SlackStandIn
    cloud: CloudSimulator
    url: str
    driver: SlackDriver

    def wait_for_background(self, timeout_s: float = 30.0) -> None:
        """Let the work listeners continue after their acks (and the fetches they started) finish."""
        for _ in range(10):
            done = (
                self.services.background.drain(timeout_s)
                and self.services.catalog.drain(timeout_s)
                and self.services.source_catalog.drain(timeout_s)
            )
            if done and self.services.background.drain(0):
                return
        raise AssertionError("background work did not finish")

    def command_answer(self, user: str, channel: str, text: str) -> Ephemeral:
        """`/smc <text>` and the one ephemeral answer it got: in the ack, or through response_url after."""
        before = len(self.slack.ephemerals(user))
        result = self.driver.slash_command(user, channel, text=text)
        assert result.acked_in_time and not result.problems, result.problems
        self.wait_for_background()
        answers = self.slack.ephemerals(user)[before:]
        assert len(answers) == 1, answers
        return answers[0]

    def poll(self) -> TickReport:
        """One poll tick now (deterministic; the scheduler is not started unless `background`)."""
        assert self.runtime.poller is not None
        return self.runtime.poller.tracker.tick()

    def settle(self, rounds: int = 20) -> None:
        """Run delivery and work until nothing is left to do now (deterministic, no sleeping)."""
        for _ in range(rounds):
            self.wait_for_background()
            busy = self.runtime.worker.run_once() + self.runtime.delivery.run_once().sent
            if not busy:
                return


class _Ack(BaseHTTPRequestHandler):
    """Answers every POST with an empty 200 and passes nothing on."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def acking_server() -> Iterator[str]:
    """A stand-in for the bot (or the load balancer in front of it) that only acks: point a SlackDriver at
    it to have Slack's signed request built and recorded, then send it to a bot when the test chooses."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process owns the signals
        return


@contextmanager
def serve_http(app: Any, port: int) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:port in a thread until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = _Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running_bot(
    db: Database,
    slack: SlackStandIn,
    cloud: CloudSimulator,
    *,
    background: bool = False,
    clock: Clock | None = None,
) -> Iterator[BotUnderTest]:
    """The whole bot wired as `smc-bot serve` wires it in HTTP mode, on the given database.

    With `background=False` the delivery and worker threads are not started: tests call `settle()` to
    run them to quiescence, which keeps them deterministic. `clock` replaces the bot's clock everywhere.
    """
    settings = settings_for(db, slack, cloud)
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings))
    if clock is not None:
        services.clock = clock
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    services.directory = SlackDirectory(
        WebClient(token=slack.bot_token, base_url=slack.api_url), clock=services.clock
    )
    delivery_client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    runtime = build_runtime(services, delivery_client, post_interval=0.0, update_interval=0.0)
    bolt = create_app(
        services,
        client=client,
        signing_secret=slack.signing_secret,
    )
    http = create_http_app(bolt, signing_secret=slack.signing_secret)
    if background:
        runtime.start()
    try:
        with serve_http(http, free_port()) as url:
            driver = SlackDriver(slack, url)
            bot = BotUnderTest(
                services=services, runtime=runtime, slack=slack, cloud=cloud, url=url, driver=driver
            )
            # Votes, command answers and job buttons are queued after the ack: a test looks once they ran.
            driver.after_answer = bot.wait_for_background
            yield bot
    finally:
        if background:
            runtime.stop()
