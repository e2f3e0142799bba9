"""Ack latency of the bot in HTTP mode next to a bare Bolt app that only acks, measured in the same run.

    python bench/ack_latency.py [--per-client 20] [--rounds 2] [--clients 1,10,50] [--database-url URL]

Four processes besides this one: the Slack stand-in and the sandbox cloud (`world`), `smc-bot serve` in HTTP
mode (real uvicorn, our Starlette app, the whole bot with delivery, worker and poller running, SQLite by
default), a bare Bolt app whose listeners only call `ack()` behind the same Starlette app and uvicorn
(`--bare-port`, with the process tuning the bot has), and the load generator (a small asyncio client,
one keep-alive connection per client).

The request kinds are real Slack bodies recorded from the stand-in's driver while it walked the bot through
the wizard, then re-signed with a fresh timestamp for every send:
  - `/smc help` (answered in the ack) and `/smc list` (acked at once; its database read and the answer
    through response_url follow the ack and are not timed here, though they share the process's CPU),
  - an Approve click on a real approval card by a channel member who is not an approver (after the ack the
    engine refuses the vote, records the refusal and queues an ephemeral reply; each click has its own
    action_ts, as Slack sends),
  - a view submission of the migrate modal's disk step with a size below what the source uses, answered
    `response_action: errors` from cached facts.

For each kind and each number of concurrent clients, the bare app and the bot are measured alternately
(`--rounds` times each); before every round the bench waits until the bot has finished the work the last
round left it (its after-ack work and its outbox), so that neither app is measured while it still runs.
It prints p50/p99 per kind and concurrency and the bot/bare ratio of p99 against the targets (p99 under
100 ms at 50 clients, at most 1.3x the bare app's p99), and each server's CPU time per request, bare/bot
(the whole process over its rounds, the bot's after-ack work included: steadier than p99, which on two
cores shared with the load generator moves by about 20 % between runs). It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import astuple, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
WEB_SOURCE = "s-bp1dtyvdak02x846kq4p"
DEST_KEY = "LTAI5tSandboxDest00001"
DEST_SECRET = "sandbox-dest-secret-do-not-use-in-prod"
TARGET_P99_MS = 100.0
TARGET_RATIO = 1.3
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Template:
    """A recorded Slack request body; `vary` says which field changes per send (an action's action_ts)."""

    kind: str
    body: bytes
    vary: str | None = None


# --- the world: Slack stand-in and sandbox cloud, and the walk that records the bodies -------------------


def _wait(what: str, predicate: Any, timeout: float = START_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _record_templates(slack: Any, bot_url: str) -> list[Template]:
    """Walk the bot as a user would and keep the signed bodies the driver sent."""
    from handlers.forms import key_of
    from handlers.ids import ActionId
    from sandbox.slack import APPROVER_1, MIGRATIONS_CHANNEL, REQUESTER, SlackDriver

    driver = SlackDriver(slack, bot_url)
    field = ActionId.MIGRATE_FIELD.value

    def ok(result: Any) -> Any:
        if result.problems or result.status != 200:
            raise RuntimeError(
                f"the bot did not answer as expected: {result.status} {result.problems} "
                f"{getattr(result, 'client_errors', None)}"
            )
        return result

    def view_with(key: str) -> Any:
        view = slack.open_view(REQUESTER)
        if view is None:
            return None
        blocks = [b for b in view.blocks if key_of(str(b.get("block_id", ""))) == key]
        return (view, str(blocks[0]["block_id"])) if blocks else None

    help_body = ok(driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")).request_body
    list_body = ok(driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="list")).request_body

    ok(driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text=f"migrate {WEB_SOURCE}"))
    view, region = _wait("the migrate modal", lambda: view_with("region"))
    shown = view.hash
    ok(driver.block_action(REQUESTER, field, "cn-hangzhou", view_id=view.id, block_id=region))
    _wait("the region to apply", lambda: slack.view(view.id).hash != shown)
    ok(driver.submit_view(REQUESTER, view.id))
    view, disk = _wait("the disk step", lambda: view_with("data_disk_size.1"))
    refused = ok(driver.submit_view(REQUESTER, view.id, {disk: {field: "25"}}))
    if refused.data.get("response_action") != "errors":
        raise RuntimeError(f"the disk step accepted a too small disk: {refused.data}")
    view_body = refused.request_body
    ok(driver.submit_view(REQUESTER, view.id, {disk: {field: "100"}}))
    view, name = _wait("the details step", lambda: view_with("job_name"))
    ok(driver.submit_view(REQUESTER, view.id, {name: {field: "bench-web-prod-02"}}))

    def card() -> Any:
        for message in slack.channel_messages(MIGRATIONS_CHANNEL):
            for reply in message.replies:
                if '"approve"' in json.dumps(reply.blocks):
                    return reply
        return None

    approval_card = _wait("the approval card", card)
    click = ok(driver.block_action(APPROVER_1, ActionId.APPROVE.value, message=approval_card))
    return [
        Template("/smc help", help_body),
        Template("/smc list", list_body),
        Template("Approve click", click.request_body, vary="action_ts"),
        Template("view submission (errors)", view_body),
    ]


def _world(conn: Connection) -> None:
    """Child process: serve the Slack Web API and the cloud; record the bodies when asked; stop when told."""
    from sandbox.cloud import CloudSimulator, default_world
    from sandbox.slack import SlackStandIn

    with CloudSimulator(default_world()) as cloud, SlackStandIn() as slack:
        conn.send(
            {
                "cloud_url": cloud.url,
                "slack_api_url": slack.api_url,
                "bot_token": slack.bot_token,
                "signing_secret": slack.signing_secret,
            }
        )
        while True:
            message = conn.recv()
            if message[0] == "record":
                try:
                    recorded = _record_templates(slack, message[1])
                    conn.send(("ok", [(t.kind, t.body, t.vary) for t in recorded]))
                except Exception as exc:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
            elif message[0] == "stop":
                return


# --- the bare app ----------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A Bolt app that only acks, behind our Starlette app (`bot.http`) and uvicorn configured as
    `bot.transport.http_server` configures it, with the process tuning `smc-bot serve` has (the start-up
    heap frozen, the garbage collector run between requests); it does not import the bot, so its heap
    stays a bare app's."""
    import gc

    import uvicorn
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.collector import IdleCollector
    from bot.http import create_http_app
    from bot.inflight import InFlight

    secret = os.environ["SLACK_SIGNING_SECRET"]
    # The same Web API as the bot: Bolt's authorization middleware asks auth.test once and caches it.
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=True,
        token_verification_enabled=False,
    )

    def only_ack(ack: Ack) -> None:
        ack()

    app.command("/smc")(only_ack)
    app.action(re.compile(".*"))(only_ack)
    app.view(re.compile(".*"))(only_ack)
    in_flight = InFlight()
    config = uvicorn.Config(
        create_http_app(app, signing_secret=secret, serving=in_flight.serving),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    gc.collect()
    gc.freeze()  # as `smc-bot serve` does: neither side pays full collections of its start-up objects
    IdleCollector(in_flight.busy).start()
    server.run()


# --- the load generator ----------------------------------------------------------------------------------


class _Bodies:
    """Fresh bodies for one template: identical, or with the varied field made unique per send."""

    def __init__(self, template: Template) -> None:
        self._template = template
        self._payload: dict[str, Any] | None = None
        if template.vary is not None:
            form = parse_qs(template.body.decode())
            self._payload = json.loads(form["payload"][0])

    def body(self, client: int, n: int) -> bytes:
        if self._payload is None:
            return self._template.body
        payload = json.loads(json.dumps(self._payload))
        for action in payload.get("actions", []):
            action[self._template.vary or ""] = f"{int(time.time())}.{client:03d}{n:05d}"
        return urlencode({"payload": json.dumps(payload)}).encode()


def _signed(secret: bytes, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def run_load(
    url: str, template: Template, secret: str, clients: int, per_client: int
) -> tuple[list[float], int]:
    """`clients` keep-alive connections on one asyncio loop, each sending `per_client` requests back to back.

    Raw HTTP/1.1 on asyncio streams: far less client CPU per request than http.client in threads, which
    matters on a 2-core machine where the client shares the CPUs with both servers.
    """
    return asyncio.run(_run_load(url, template, secret, clients, per_client))


async def _run_load(
    url: str, template: Template, secret: str, clients: int, per_client: int
) -> tuple[list[float], int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies = _Bodies(template)
    key = secret.encode()
    latencies: list[float] = []
    failures = 0
    start = asyncio.Event()  # measuring starts once every client is connected and warmed up
    warmed = [0]

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> float:
        nonlocal failures
        head = "".join(f"{k}: {v}\r\n" for k, v in _signed(key, body).items())
        request = (
            f"POST /slack/events HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        answer = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", answer)
        await reader.readexactly(int(length[1]) if length else 0)
        elapsed = time.perf_counter() - started
        failures += not answer.startswith(b"HTTP/1.1 200")
        return elapsed

    async def client(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for warm in range(2):
            await exchange(reader, writer, bodies.body(index, 90_000 + warm))
        warmed[0] += 1
        if warmed[0] == clients:
            start.set()
        await start.wait()
        for n in range(per_client):
            latencies.append(await exchange(reader, writer, bodies.body(index, n)))
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, failures


def _load(conn: Connection) -> None:
    """Child process: run one load at a time as asked, send back the latencies."""
    while True:
        message = conn.recv()
        if message is None:
            return
        url, fields, secret, clients, per_client = message
        conn.send(run_load(url, Template(*fields), secret, clients, per_client))


# --- orchestration ---------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited while starting:\n{log.read_text()[-2000:]}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _bot_idle(bot_url: str, timeout: float = 120.0) -> None:
    """The bot finished what the last round left it: its after-ack work (answers, votes) and its outbox
    (the ephemeral replies those queued). Waited for before every round of either app, so neither is
    measured while the bot still works off the previous round."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _get(f"{bot_url}/metrics")
        gauges = [
            re.search(rf"^{name} (\S+)$", text, re.M)
            for name in ("smc_bot_outbox_pending", "smc_bot_after_ack_pending")
        ]
        if all(found is not None and float(found[1]) == 0 for found in gauges):
            return
        time.sleep(0.2)
    print(f"  (the bot's work did not drain within {timeout:.0f} s; measuring anyway)")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-client", type=int, default=20, help="requests per client per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per app")
    parser.add_argument("--clients", default="1,10,50", help="concurrent clients, comma-separated")
    parser.add_argument(
        "--kinds", default="", help="only kinds whose name contains one of these (comma-separated)"
    )
    parser.add_argument("--database-url", default=None, help="the bot's DATABASE_URL (default: SQLite file)")
    parser.add_argument("--bare-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_port is not None:
        serve_bare(args.bare_port)
        return 0
    concurrency = [int(c) for c in args.clients.split(",")]

    ctx = mp.get_context("spawn")
    world_conn, world_child = ctx.Pipe()
    world = ctx.Process(target=_world, args=(world_child,), daemon=True)
    world.start()
    env = world_conn.recv()
    load_conn, load_child = ctx.Pipe()
    load = ctx.Process(target=_load, args=(load_child,), daemon=True)
    load.start()

    workdir = Path(tempfile.mkdtemp(prefix="smc-ack-bench-"))
    bot_port, bare_port = _free_port(), _free_port()
    common = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    bot_env = {
        **common,
        "SLACK_BOT_TOKEN": env["bot_token"],
        "SLACK_SIGNING_SECRET": env["signing_secret"],
        "SLACK_API_URL": env["slack_api_url"],
        "SMC_BOT_CLOUD_ENDPOINT": env["cloud_url"],
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEST_KEY,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEST_SECRET,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'smc-bot.db'}",
        "PORT": str(bot_port),
    }
    bot_log, bare_log = workdir / "bot.log", workdir / "bare.log"
    with bot_log.open("wb") as out:
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=workdir, env=bot_env, stdout=out, stderr=out
        )
    with bare_log.open("wb") as out:
        bare = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--bare-port", str(bare_port)],
            cwd=ROOT,
            env={
                **common,
                "SLACK_SIGNING_SECRET": env["signing_secret"],
                "SLACK_BOT_TOKEN": env["bot_token"],
                "SLACK_API_URL": env["slack_api_url"],
            },
            stdout=out,
            stderr=out,
        )
    bot_url, bare_url = f"http://127.0.0.1:{bot_port}", f"http://127.0.0.1:{bare_port}"
    try:
        _wait_up(f"{bot_url}/healthz", bot, bot_log)
        _wait_up(f"{bare_url}/healthz", bare, bare_log)
        world_conn.send(("record", bot_url))
        status, recorded = world_conn.recv()
        if status != "ok":
            raise RuntimeError(f"recording the requests failed: {recorded}")
        templates = [Template(*fields) for fields in recorded]
        _bot_idle(bot_url)
        print(
            f"ack latency, {os.cpu_count()} CPUs, Python {platform.python_version()}, bot database "
            f"{'SQLite' if not args.database_url else args.database_url.split(':')[0]}; "
            f"{args.rounds} alternating rounds x clients x {args.per_client} requests per app\n"
        )
        header = (
            f"{'kind':<26} {'clients':>7} {'bare p50':>9} {'bare p99':>9} {'bot p50':>9} {'bot p99':>9} "
            f"{'p99 ratio':>9} {'CPU/request':>13}  "
            f"targets (p99<{TARGET_P99_MS:.0f} ms at 50, ratio<={TARGET_RATIO})"
        )
        print(header)
        print("-" * len(header))
        wanted = [k.strip().lower() for k in args.kinds.split(",") if k.strip()]
        for template in templates:
            if wanted and not any(w in template.kind.lower() for w in wanted):
                continue
            for clients in concurrency:
                samples: dict[str, list[float]] = {"bare": [], "bot": []}
                failed = {"bare": 0, "bot": 0}
                cpu = {"bare": 0.0, "bot": 0.0}
                for _ in range(args.rounds):
                    for name, url, process in (("bare", bare_url, bare), ("bot", bot_url, bot)):
                        _bot_idle(bot_url)
                        used = _cpu_seconds(process.pid)
                        load_conn.send(
                            (url, astuple(template), env["signing_secret"], clients, args.per_client)
                        )
                        latencies, failures = load_conn.recv()
                        _bot_idle(bot_url)  # the CPU of a round includes the after-ack work it left
                        cpu[name] += _cpu_seconds(process.pid) - used
                        samples[name] += latencies
                        failed[name] += failures
                bare_cpu, bot_cpu = (cpu[n] / max(1, len(samples[n])) * 1000 for n in ("bare", "bot"))
                bare_p50, bare_p99 = (percentile(samples["bare"], p) * 1000 for p in (50, 99))
                bot_p50, bot_p99 = (percentile(samples["bot"], p) * 1000 for p in (50, 99))
                ratio = bot_p99 / bare_p99 if bare_p99 else float("inf")
                verdict = []
                if clients == 50:
                    verdict.append("p99 ok" if bot_p99 < TARGET_P99_MS else "p99 MISSED")
                verdict.append("ratio ok" if ratio <= TARGET_RATIO else "ratio MISSED")
                if failed["bot"] or failed["bare"]:
                    verdict.append(f"non-200: bot {failed['bot']}, bare {failed['bare']}")
                print(
                    f"{template.kind:<26} {clients:>7} {bare_p50:>7.1f}ms {bare_p99:>7.1f}ms "
                    f"{bot_p50:>7.1f}ms {bot_p99:>7.1f}ms {ratio:>8.2f}x {bare_cpu:>5.2f}/{bot_cpu:<5.2f}ms  "
                    f"{', '.join(verdict)}",
                    flush=True,
                )
        print(f"\nlogs: {workdir}")
    finally:
        for process in (bot, bare):
            process.send_signal(signal.SIGTERM)
        for process in (bot, bare):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        load_conn.send(None)
        world_conn.send(("stop",))
        load.join(10)
        world.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
