"""`smc-bot demo`: the whole bot in one process and offline, and scripted people running one migration.

The sandbox cloud, the Slack stand-in and the bot in HTTP mode (on a throw-away SQLite database in a
temporary directory) share one clock, the simulator's: it runs at real speed and the demo jumps it forward
while the people wait, so twenty minutes of migration take seconds. The bot's delivery, worker and poller
are driven step by step rather than on timers, which keeps the run deterministic. Afterwards the channel
is printed as a transcript and written as a Slack-looking HTML page; nothing else is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import uvicorn
from slack_sdk import WebClient

from bot.app import create_app
from bot.config import Settings
from bot.http import create_http_app
from bot.runtime import Runtime, build_runtime
from bot.services import Services, cloud_gateway
from bot.slack_directory import SlackDirectory
from bot.transport import prepare_database, web_client
from sandbox.cloud import CloudSimulator, default_world
from sandbox.demo.scenario import Outcome, Plan, Scenario, ScenarioError
from sandbox.demo.transcript import Transcript, render_html, render_text, use_color
from sandbox.slack import SlackDriver, SlackStandIn

DEFAULT_HTML = Path("demo-transcript.html")
TIME_LIMIT_S = 100.0
"""Real seconds the people may take; the README promises the demo in under two minutes."""
WATCHDOG_GRACE_S = 15.0
"""After the limit plus this, a step that hangs inside one call ends the process (never a hung demo)."""
POLL_SECONDS = 30
"""The bot's poll interval in cloud seconds: each jump of the clock is cut into steps this long."""
IMPORT_POLL_SECONDS = 20
BACKGROUND_TIMEOUT_S = 20.0
CATCH_UP_ROUNDS = 50
EXIT_FAILED = 1
TEXT_WIDTH = 100


class DemoError(Exception):
    """The demo could not run to the end; the message says what went wrong."""


@dataclass(frozen=True)
class DemoRun:
    """What one run showed: the people's outcome, the transcript, and how long it took."""

    outcome: Outcome
    transcript: Transcript
    real_seconds: float
    cloud_seconds: float


def run_demo(
    html: Path = DEFAULT_HTML,
    *,
    quiet: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    time_limit_s: float = TIME_LIMIT_S,
    plan: Plan | None = None,
) -> int:
    """`smc-bot demo`: run, print the transcript (unless `quiet`), write the HTML page; the exit status.

    `plan` changes what the people do (tests use it to make a step impossible).
    """
    plan = plan or Plan()
    out = out or sys.stdout
    err = err or sys.stderr
    target = html.expanduser().resolve()
    if not target.parent.is_dir():
        print(f"smc-bot demo: cannot write {target}: {target.parent} is not a directory", file=err)
        return EXIT_FAILED
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smc-bot-demo-") as workdir:
        watchdog = _watchdog(time_limit_s + WATCHDOG_GRACE_S, Path(workdir), err)
        try:
            with _quiet_logs() as errors, Stage(Path(workdir), errors, plan) as stage:
                try:
                    outcome = stage.play(deadline=started + time_limit_s)
                except (ScenarioError, DemoError) as failure:
                    return _failed(stage, target, str(failure), quiet=quiet, out=out, err=err)
                except Exception as error:  # a bug rather than a failed step: show where
                    traceback.print_exc(file=err)
                    return _failed(stage, target, repr(error), quiet=quiet, out=out, err=err)
                run = DemoRun(
                    outcome=outcome,
                    transcript=stage.transcript(),
                    real_seconds=time.monotonic() - started,
                    cloud_seconds=stage.cloud_seconds(),
                )
        except DemoError as error:
            print(f"smc-bot demo could not start: {error}", file=err)
            return EXIT_FAILED
        finally:
            watchdog.cancel()
    intro = introduction(run, plan)
    if not quiet:
        print("\n\n".join(textwrap.fill(p, width=TEXT_WIDTH) for p in intro) + "\n", file=out)
        print(render_text(run.transcript, color=use_color(out)), file=out)
    try:
        target.write_text(render_html(run.transcript, intro=intro), encoding="utf-8")
    except OSError as error:
        print(f"smc-bot demo: cannot write {target}: {error.strerror or error}", file=err)
        return EXIT_FAILED
    print(_closing(run, target), file=out)
    return 0


def _failed(stage: Stage, target: Path, why: str, *, quiet: bool, out: IO[str], err: IO[str]) -> int:
    """Show what happened up to the failure (it is the best clue), then the failure itself."""
    transcript = stage.transcript()
    if not quiet:
        print(render_text(transcript, color=use_color(out)), file=out)
    note = ""
    with contextlib.suppress(OSError):
        target.write_text(render_html(transcript), encoding="utf-8")
        note = f"\nThe transcript up to the failure is in {target}."
    print(f"smc-bot demo failed: {why}{note}", file=err)
    return EXIT_FAILED


def introduction(run: DemoRun, plan: Plan) -> list[str]:
    """What the reader is looking at: who does what, and that nothing real was touched."""
    names = run.transcript.directory
    return [
        "smc-bot demo: everything below ran on this machine. Alibaba Cloud (SMC, ECS and STS) and Slack are "
        "sandbox stand-ins that the bot talks to over HTTP exactly as it talks to the real services; no "
        "account was used and nothing was migrated.",
        plan.synopsis(lambda user: names.person(user).name)
        + f" Cloud time ran fast: {_minutes(run.cloud_seconds)} took {run.real_seconds:.0f} s.",
    ]


def _closing(run: DemoRun, html: Path) -> str:
    outcome = run.outcome
    verified = " and verified it" if outcome.verified else ""
    return (
        f"\nDemo finished in {run.real_seconds:.1f} s ({_minutes(run.cloud_seconds)} of cloud time): "
        f"{outcome.request_id} migrated source {outcome.source_id} to image {outcome.image_id} "
        f"with job {outcome.job_id}{verified}.\n"
        f"Open {html} in a browser to see the channel as Slack shows it."
    )


def _minutes(seconds: float) -> str:
    return f"{round(seconds / 60)} min"


class Stage:
    """The sandbox cloud, the Slack stand-in and the bot, wired as `smc-bot serve` wires HTTP mode."""

    def __init__(self, workdir: Path, errors: list[logging.LogRecord], plan: Plan) -> None:
        self._workdir = workdir
        self.plan = plan
        self._errors = errors
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Stage:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        world = default_world()
        self.cloud = CloudSimulator(world).start()
        self._exit.callback(self.cloud.stop)
        # The simulator starts on a whole second, up to 1 s behind the wall clock; rows the bot stamps with
        # the wall clock must never be ahead of the shared clock, or they would wait for the next jump.
        lag = (datetime.now(UTC) - self.cloud.clock.now()).total_seconds()
        self.cloud.advance(max(0.0, lag) + 0.01)
        self._started_at = self.cloud.clock.now()
        self.slack = SlackStandIn(clock=lambda: self.cloud.clock.now().timestamp()).start()
        self._exit.callback(self.slack.stop)
        destination = next(iter(world.accounts.values()))
        key = destination.access_keys[0]
        settings = demo_settings(
            slack=self.slack,
            cloud_url=self.cloud.url,
            database_url=f"sqlite:///{self._workdir / 'smc-bot.db'}",
            access_key_id=key.key_id,
            access_key_secret=key.secret,
        )
        db = prepare_database(settings)
        self._exit.callback(db.dispose)
        # One clock for cloud, Slack and bot; it never runs behind real time, so rows stamped with the wall
        # clock are always due.
        services = Services(
            settings=settings, db=db, cloud=cloud_gateway(settings), clock=self.cloud.clock.now
        )
        services.directory = SlackDirectory(web_client(settings, retries=True), clock=services.clock)
        self.services = services
        delivery_client = WebClient(token=self.slack.bot_token, base_url=self.slack.api_url)
        # The stand-in has no rate limits unless asked: pacing off, so a demo does not wait out Slack's.
        self.runtime: Runtime = build_runtime(
            services, delivery_client, post_interval=0.0, update_interval=0.0
        )
        self._exit.callback(self._stop_runtime)
        bolt = create_app(
            services,
            client=web_client(settings, retries=True),
            signing_secret=self.slack.signing_secret,
        )
        http = create_http_app(bolt, signing_secret=self.slack.signing_secret)
        url = self._exit.enter_context(_serving(http))
        self.driver = SlackDriver(self.slack, url)

    def _stop_runtime(self) -> None:
        self.services.background.drain(BACKGROUND_TIMEOUT_S)
        self.runtime.stop()

    def play(self, *, deadline: float) -> Outcome:
        """The scripted people, with this stage's clock and catch-up."""
        scenario = Scenario(
            self.slack,
            self.driver,
            advance=self.advance,
            catch_up=self.catch_up,
            plan=self.plan,
            deadline=deadline,
        )
        return scenario.run()

    def catch_up(self) -> None:
        """Let the bot finish what it started: after-ack work, work intents and Slack deliveries due now."""
        for _ in range(CATCH_UP_ROUNDS):
            self._drain_background()
            delivered = self.runtime.delivery.run_once()
            if delivered.dead:
                raise DemoError(f"{delivered.dead} Slack message(s) could not be delivered (see the log)")
            busy = self.runtime.worker.run_once() + delivered.sent + delivered.adopted
            self._raise_logged_errors()
            if not busy:
                return
        raise DemoError(f"the bot still had work after {CATCH_UP_ROUNDS} rounds: it may be looping")

    def advance(self, seconds: float) -> None:
        """Let `seconds` of cloud time pass, one poll interval at a time, polling and catching up at each."""
        assert self.runtime.poller is not None
        left = seconds
        while left > 0:
            step = min(float(POLL_SECONDS), left)
            self.cloud.advance(step)
            self.runtime.poller.tracker.tick()
            self.catch_up()
            left -= step

    def transcript(self) -> Transcript:
        """What the Slack stand-in saw in the channel so far."""
        return Transcript.from_stand_in(self.slack, channel=self.plan.channel)

    def cloud_seconds(self) -> float:
        """Cloud time since the stage started."""
        return (self.cloud.clock.now() - self._started_at).total_seconds()

    def _drain_background(self) -> None:
        services = self.services
        for _ in range(10):
            drained = (
                services.background.drain(BACKGROUND_TIMEOUT_S)
                and services.catalog.drain(BACKGROUND_TIMEOUT_S)
                and services.source_catalog.drain(BACKGROUND_TIMEOUT_S)
            )
            if not drained:
                raise DemoError(f"work after a Slack request ran longer than {BACKGROUND_TIMEOUT_S:.0f} s")
            if services.background.drain(0):
                return
        raise DemoError("the bot kept starting new work after Slack requests")

    def _raise_logged_errors(self) -> None:
        if self._errors:
            record = self._errors[0]
            raise DemoError(f"the bot logged an error: {record.name}: {record.getMessage()}")


def demo_settings(
    *, slack: SlackStandIn, cloud_url: str, database_url: str, access_key_id: str, access_key_secret: str
) -> Settings:
    """Every setting given explicitly, so nothing in the caller's environment changes the demo."""
    values: dict[str, Any] = {
        str(info.validation_alias): info.default for info in Settings.model_fields.values()
    }
    values.update(
        {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_APP_TOKEN": None,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database_url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": access_key_secret,
            "SMC_BOT_CLOUD_ENDPOINT": cloud_url,
            "SMC_BOT_POLL_SECONDS": POLL_SECONDS,
            "SMC_BOT_IMPORT_POLL_SECONDS": IMPORT_POLL_SECONDS,
        }
    )
    return Settings.model_validate(values)


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise DemoError("the bot's HTTP server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[list[logging.LogRecord]]:
    """Warnings and errors only (SMC_BOT_LOG_LEVEL set by the user wins); errors are also collected."""
    root = logging.getLogger()
    level = root.level
    if "SMC_BOT_LOG_LEVEL" not in os.environ:
        root.setLevel(max(level, logging.WARNING))
    errors: list[logging.LogRecord] = []
    collector = _Collect(errors)
    root.addHandler(collector)
    try:
        yield errors
    finally:
        root.removeHandler(collector)
        root.setLevel(level)


def _watchdog(after_s: float, workdir: Path, err: IO[str]) -> threading.Timer:
    """End the process if the demo is still running after `after_s` real seconds (a call that hangs)."""

    def give_up() -> None:
        err.write(f"smc-bot demo: gave up after {after_s:.0f} s: a step hung; nothing was left running.\n")
        err.flush()
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(EXIT_FAILED)

    timer = threading.Timer(after_s, give_up)
    timer.daemon = True
    timer.start()
    return timer
