"""Rehearse compose.yaml without a Docker engine: its services in network namespaces, from the image.

    sudo python3 deploy/rehearse_compose.py [--workdir DIR] [--keep]

After `rehearse_image.py` has built the image's stages as chroots, this runs compose.yaml's services the
way Compose would wire them, each in its own network namespace on one bridge:
  - `postgres`: this machine's PostgreSQL (a fresh role and database with compose.yaml's user, password
    and name), reached at the name `postgres` through a forwarder on the bridge;
  - `migrate`: the image with compose.yaml's command and environment, which must exit 0 first;
  - `bot`, `deploy.replicas` times: the image with its command, as its user, each replica in its own namespace
    on the same port, resolvable as `bot`;
  - `proxy`: Debian's nginx with `deploy/nginx.conf` mounted where compose.yaml mounts it, publishing
    compose.yaml's port, with a stand-in for Docker's DNS at 127.0.0.11 that answers `bot` with every
    replica.
Slack and the cloud are the sandbox's (the stand-in and the simulator on the bridge). Then signed Slack
requests go to the published port: every replica must answer some, and with one replica stopped the
proxy must still answer every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rehearse_image as image_tools

ROOT = image_tools.ROOT
BRIDGE, SUBNET, HOST_IP = "smcbr0", "10.89.0", "10.89.0.1"
DOCKER_DNS = "127.0.0.11"
REQUESTS = 40


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(cmd), check=check, capture_output=not check)


class Network:
    """A bridge on the host and one namespace per container, each with an address on it."""

    def __init__(self) -> None:
        self.spaces: dict[str, str] = {}

    def __enter__(self) -> Network:
        self.close()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        return self

    def add(self, name: str, number: int) -> str:
        space, address = f"smc-{name}", f"{SUBNET}.{number}"
        host_end, inner = f"smcv{number}", f"smcp{number}"
        sh("ip", "netns", "add", space)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", host_end, "master", BRIDGE)
        sh("ip", "link", "set", host_end, "up")
        sh("ip", "link", "set", inner, "netns", space)
        sh("ip", "-n", space, "addr", "add", f"{address}/24", "dev", inner)
        sh("ip", "-n", space, "link", "set", inner, "up")
        sh("ip", "-n", space, "link", "set", "lo", "up")
        self.spaces[name] = address
        return address

    def close(self) -> None:
        for line in sh("ip", "netns", "list", check=False).stdout.decode().splitlines():
            if line.startswith("smc-"):
                sh("ip", "netns", "delete", line.split()[0], check=False)
        sh("ip", "link", "delete", BRIDGE, check=False)

    def __exit__(self, *_: object) -> None:
        self.close()


def dns_answer(query: bytes, names: dict[str, list[str]]) -> bytes:
    """An A-record answer for a one-question query (what nginx's resolver sends); NXDOMAIN otherwise."""
    ident, _flags, _qd = struct.unpack(">HHH", query[:6])
    labels, at = [], 12
    while query[at]:
        length = query[at]
        labels.append(query[at + 1 : at + 1 + length].decode())
        at += 1 + length
    question = query[12 : at + 5]
    qtype = struct.unpack(">H", query[at + 1 : at + 3])[0]
    addresses = names.get(".".join(labels).lower(), []) if qtype == 1 else []
    flags = 0x8180 if addresses or ".".join(labels).lower() in names else 0x8183
    answers = b"".join(
        b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton(a) for a in addresses
    )
    return struct.pack(">HHHHHH", ident, flags, 1, len(addresses), 0, 0) + question + answers


DNS_SERVER = """
import socket, sys, json
sys.path.insert(0, {deploy!r})
from rehearse_compose import dns_answer
names = json.loads({names!r})
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(({ip!r}, 53))
print("ready", flush=True)
while True:
    query, peer = s.recvfrom(512)
    try:
        s.sendto(dns_answer(query, names), peer)
    except Exception as exc:
        print("bad query", exc, flush=True)
"""


def signed(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def help_command(url: str, secret: str, team: str, user: str, channel: str) -> tuple[int, str]:
    body = urlencode(
        {
            "command": "/smc",
            "text": "help",
            "team_id": team,
            "user_id": user,
            "channel_id": channel,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "1.2.3",
        }
    ).encode()
    request = urllib.request.Request(url, data=body, headers=signed(secret, body), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def resolve(value: Any, variables: dict[str, str]) -> str:
    """${NAME}, ${NAME:-default}, ${NAME:?message} as Compose substitutes them."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in variables and (variables[name] or op != ":-"):
            return variables[name]
        if op == ":?":
            raise SystemExit(f"compose.yaml needs {name}: {rest}")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, str(value))


def served(process: subprocess.Popen[bytes], log: Path, probe: list[str], env: dict[str, str]) -> None:
    deadline = time.monotonic() + image_tools.START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if subprocess.run(probe, env=env, check=False, stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(1.0)
    raise SystemExit(f"a replica never became healthy:\n{log.read_text()[-3000:]}")


def rehearse(workdir: Path) -> None:
    from sandbox.cloud import CloudSimulator, default_world
    from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, SlackStandIn

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    image = image_tools.build(image_tools.parse(ROOT / "Dockerfile"), workdir, ROOT, image_tools.pip_env())
    pg_env = services["postgres"]["environment"]
    user, password, database = pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"]
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
    sh(*psql, f"DROP DATABASE IF EXISTS {database}")
    sh(*psql, f"DROP ROLE IF EXISTS {user}")
    sh(*psql, f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    sh(*psql, f"CREATE DATABASE {database} OWNER {user}")
    with ExitStack() as stack:
        stack.callback(sh, *psql, f"DROP ROLE IF EXISTS {user}", check=False)
        stack.callback(sh, *psql, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", check=False)
        net = stack.enter_context(Network())
        stack.enter_context(image)
        slack = stack.enter_context(SlackStandIn(host=HOST_IP))
        cloud = stack.enter_context(CloudSimulator(default_world(), host=HOST_IP))
        processes: list[subprocess.Popen[bytes]] = []

        def stop_all() -> None:  # before the servers and mounts above go away
            for process in reversed(processes):
                image_tools.stop(process)

        stack.callback(stop_all)
        forward = subprocess.Popen(
            ["socat", f"TCP-LISTEN:5432,bind={HOST_IP},reuseaddr,fork", "TCP:127.0.0.1:5432"]
        )
        processes.append(forward)
        variables = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tSandboxDest00001",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-dest-secret-do-not-use-in-prod",
            "SMC_BOT_CLOUD_ENDPOINT": cloud.url,
        }
        hosts = image.path / "etc/hosts"
        hosts.write_text(f"127.0.0.1 localhost\n{HOST_IP} postgres\n")

        def env_of(service: dict[str, Any]) -> dict[str, str]:
            values = {k: resolve(v, variables) for k, v in service.get("environment", {}).items()}
            return {**image.env, **values, "SLACK_API_URL": slack.api_url}

        # migrate: compose.yaml's one-shot schema upgrade, from the image, before any replica starts.
        migrate = services["migrate"]
        net.add("migrate", 20)
        command = image_tools.exec_form(image.meta["ENTRYPOINT"]) + list(migrate["command"])
        print("+ (migrate)", " ".join(command), flush=True)
        done = subprocess.run(
            ["ip", "netns", "exec", "smc-migrate", *image.command(command)], env=env_of(migrate), check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"migrate exited {done.returncode}")

        bot = services["bot"]
        replicas = int(bot.get("deploy", {}).get("replicas", 1))
        bot_env = env_of(bot)
        port = bot_env["PORT"]
        probe = image_tools.exec_form(image.meta["HEALTHCHECK"].split(" CMD ", 1)[1])
        addresses: list[str] = []
        replicas_started: list[subprocess.Popen[bytes]] = []
        for n in range(1, replicas + 1):
            address = net.add(f"bot{n}", 10 + n)
            addresses.append(address)
            log = workdir / f"bot{n}.log"
            command = image_tools.exec_form(image.meta["ENTRYPOINT"]) + list(bot.get("command", []))
            print(f"+ (bot replica {n} at {address})", " ".join(command), flush=True)
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        ["ip", "netns", "exec", f"smc-bot{n}", *image.command(command)],
                        env=bot_env,
                        stdout=out,
                        stderr=out,
                    )
                )
            replicas_started.append(processes[-1])
            served(processes[-1], log, ["ip", "netns", "exec", f"smc-bot{n}", *image.command(probe)], bot_env)

        # proxy: Debian's nginx (the image names nginx:alpine) with the project's configuration.
        proxy = services["proxy"]
        nginx_root = workdir / "nginx"
        if not (nginx_root / ".ready").exists():
            shutil.rmtree(nginx_root, ignore_errors=True)
            image_tools.run(["cp", "-a", "--reflink=auto", str(workdir / "base"), str(nginx_root)])
            image_tools.run(
                [
                    "chroot",
                    str(nginx_root),
                    "/bin/sh",
                    "-c",
                    "apt-get install -y -qq --no-install-recommends nginx-light >/dev/null",
                ],
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
            (nginx_root / ".ready").touch()
        for enabled in (nginx_root / "etc/nginx/sites-enabled").glob("*"):
            enabled.unlink()  # the official image serves conf.d only
        [volume] = proxy["volumes"]
        source, target = str(volume).split(":")[:2]
        shutil.copy(ROOT / source, nginx_root / target.lstrip("/"))
        [mapping] = proxy["ports"]
        published, inner_port = str(mapping).split(":")[-2:]
        proxy_ip = net.add("proxy", 2)
        names = {"bot": addresses, "postgres": [HOST_IP]}
        here = str(Path(__file__).resolve().parent)
        dns_script = DNS_SERVER.format(deploy=here, names=json.dumps(names), ip=DOCKER_DNS)
        dns = subprocess.Popen(
            ["ip", "netns", "exec", "smc-proxy", sys.executable, "-c", dns_script], stdout=subprocess.PIPE
        )
        processes.append(dns)
        if dns.stdout is None or dns.stdout.readline().strip() != b"ready":
            raise SystemExit("the DNS stand-in did not start")
        nginx = subprocess.Popen(
            ["ip", "netns", "exec", "smc-proxy", "chroot", str(nginx_root), "nginx", "-g", "daemon off;"]
        )
        processes.append(nginx)
        url = f"http://{proxy_ip}:{inner_port}/slack/events"

        def ask() -> tuple[int, str]:
            return help_command(url, slack.signing_secret, slack.team_id, REQUESTER, MIGRATIONS_CHANNEL)

        print(
            f"+ {REQUESTS} signed /smc help through the proxy at {url} (published: {published})", flush=True
        )
        wait_for(lambda: ask()[0] == 200)
        before = [requests_served(a, port) for a in addresses]
        for _ in range(REQUESTS):
            status, text = ask()
            if status != 200 or "/smc" not in text:
                raise SystemExit(f"the proxy answered {status}: {text[:300]}")
        spread = [requests_served(a, port) - b for a, b in zip(addresses, before, strict=True)]
        print(f"answered by the replicas: {spread}", flush=True)
        if sum(spread) < REQUESTS or min(spread) == 0:
            raise SystemExit(f"the proxy did not spread requests over every replica: {spread}")
        first = replicas_started[0]
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        print(f"replica 1 stopped (exit {first.returncode}); {REQUESTS} more requests", flush=True)
        failed = [status for status, _ in (ask() for _ in range(REQUESTS)) if status != 200]
        if failed or first.returncode != 0:
            raise SystemExit(
                f"one replica stopped: {len(failed)} failed requests, its exit {first.returncode}"
            )
    print("compose rehearsal: passed")


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the proxy never answered")


def requests_served(address: str, port: str) -> int:
    """Slack requests a replica answered so far, from its own /metrics."""
    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    counts = re.findall(r"^smc_bot_slack_ack_seconds_count\{[^}]*\} (\S+)$", text, re.M)
    return int(sum(float(c) for c in counts))


if __name__ == "__main__":
    sys.exit(image_tools.in_workdir(None, __doc__, "smc-compose-", rehearse))
