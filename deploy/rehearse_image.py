"""Rehearse the Dockerfile without a Docker engine: build its stages as chroots and run the image.

    sudo python3 deploy/rehearse_image.py [--workdir DIR] [--keep]

Machines without a Docker engine (this project's CI machines have the client only) cannot build the
image, so this script executes the Dockerfile's own instructions instead of copies of them: each stage
starts from a stand-in for `python:3.11-slim` (Debian bookworm, minimal, with Debian's Python 3.11 and
`python` on the PATH, as the official image has: both are bookworm with CPython 3.11) made with
debootstrap, then ENV, WORKDIR, COPY (from the build context or an earlier stage), RUN (in the chroot),
USER and EXPOSE/VOLUME run in order. Then the final stage's ENTRYPOINT + CMD is started in its chroot as
its USER, against the sandbox cloud and the Slack stand-in on this machine, and must:
  - run as the image's non-root user,
  - answer the image's own HEALTHCHECK command (run in the chroot, as that user) with exit status 0,
  - stop with exit status 0 on SIGTERM.

What it does not show: the official base image itself (not reachable here), Docker's layer cache, and
compose.yaml's network (its replicas-on-PostgreSQL setup is tested in tests/poller/test_replicas.py).
Needs root (chroot, mounts) and debootstrap; the base is cached in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
SUPPORTED_BASES = ("python:3.11-slim",)
START_TIMEOUT_S = 90.0


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(dockerfile: Path) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    logical: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=words[0]))
        elif not stages:
            raise SystemExit(f"{keyword} before FROM")
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def run(cmd: list[str], **kwargs: object) -> None:
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def base_rootfs(workdir: Path) -> Path:
    """The stand-in for python:3.11-slim, made once per work directory."""
    base = workdir / "base"
    if (base / ".ready").exists():
        return base
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install -y debootstrap")
    shutil.rmtree(base, ignore_errors=True)
    run(["debootstrap", "--variant=minbase", SUITE, str(base), MIRROR], stdout=subprocess.DEVNULL)
    shutil.copy("/etc/resolv.conf", base / "etc/resolv.conf")
    install = (
        f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {' '.join(BASE_PACKAGES)}"
    )
    run(
        ["chroot", str(base), "/bin/sh", "-c", install],
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=subprocess.DEVNULL,
    )
    (base / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():  # RUN steps reach PyPI through this machine's CA bundle
        target = base / cert.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cert, target)
    (base / ".ready").touch()
    return base


def pip_env() -> dict[str, str]:
    """RUN steps reach PyPI as this machine does (its CA bundle and settings), as a build here would."""
    return {k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_FIND_LINKS"}


class Chroot:
    """One stage's file system, with /proc and /dev mounted while commands run in it."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env
        self.workdir = "/"
        self.user: str | None = None
        self.meta: dict[str, str] = {}
        """ENTRYPOINT, CMD, HEALTHCHECK and the like, as written."""
        self._mounted: list[Path] = []

    def __enter__(self) -> Chroot:
        for target, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            point = self.path / target
            point.mkdir(exist_ok=True)
            run(["mount", *args, str(point)])
            self._mounted.append(point)
        return self

    def __exit__(self, *_: object) -> None:
        for point in reversed(self._mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)
        self._mounted.clear()

    def command(self, argv: list[str], *, user: str | None = None) -> list[str]:
        who = user or self.user
        spec = [f"--userspec={self.uid(who)}:{self.gid(who)}"] if who else []
        inner = f"cd {shlex.quote(self.workdir)} && exec {' '.join(shlex.quote(a) for a in argv)}"
        return ["chroot", *spec, str(self.path), "/bin/sh", "-c", inner]

    def uid(self, user: str) -> str:
        return user if user.isdigit() else self._lookup("passwd", user, 2)

    def gid(self, user: str) -> str:
        return self._lookup("passwd", user, 3) if not user.isdigit() else user

    def _lookup(self, table: str, name: str, column: int) -> str:
        for line in (self.path / "etc" / table).read_text().splitlines():
            parts = line.split(":")
            if parts[0] == name:
                return parts[column]
        raise SystemExit(f"no {table} entry for {name!r} in the image")


def build(stages: list[Stage], workdir: Path, context: Path, extra_env: dict[str, str]) -> Chroot:
    built: dict[str, Chroot] = {}
    for stage in stages:
        if stage.base not in SUPPORTED_BASES:
            raise SystemExit(f"no stand-in for base image {stage.base} (only {', '.join(SUPPORTED_BASES)})")
        path = workdir / f"stage-{stage.name}"
        shutil.rmtree(path, ignore_errors=True)
        run(["cp", "-a", "--reflink=auto", str(base_rootfs(workdir)), str(path)])
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        root = Chroot(path, env)
        print(f"--- stage {stage.name} ({stage.base})", flush=True)
        with root:
            for keyword, rest in stage.instructions:
                print(f"  {keyword} {rest}", flush=True)
                apply(root, keyword, rest, context, built, extra_env)
        built[stage.name] = root
    return built[stages[-1].name]


def apply(
    root: Chroot, keyword: str, rest: str, context: Path, built: dict[str, Chroot], extra_env: dict[str, str]
) -> None:
    if keyword == "ENV":
        for word in shlex.split(rest):
            key, _, value = word.partition("=")
            root.env[key] = value.replace("$PATH", root.env.get("PATH", ""))
    elif keyword == "WORKDIR":
        root.workdir = rest
        (root.path / rest.lstrip("/")).mkdir(parents=True, exist_ok=True)
    elif keyword == "COPY":
        words = rest.split()
        source_root = context
        if words[0].startswith("--from="):
            source_root = built[words.pop(0).split("=", 1)[1]].path
        *sources, target = words
        destination = root.path / (target if target.startswith("/") else f"{root.workdir}/{target}").lstrip(
            "/"
        )
        for source in sources:
            origin = source_root / source.lstrip("/")
            if origin.is_dir():
                shutil.copytree(origin, destination, dirs_exist_ok=True, symlinks=True)
            else:
                if target.endswith("/"):
                    destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / origin.name if destination.is_dir() else destination)
    elif keyword == "RUN":
        run(root.command(["/bin/sh", "-c", rest]), env={**root.env, **extra_env})
    elif keyword == "USER":
        root.user = rest
    elif keyword in ("ENTRYPOINT", "CMD", "HEALTHCHECK", "EXPOSE", "VOLUME", "LABEL"):
        root.meta[keyword] = rest
    else:
        raise SystemExit(f"the rehearsal does not know {keyword}")


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise SystemExit(f"not an exec-form instruction: {text}")
    return [str(v) for v in value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_image(image: Chroot, workdir: Path) -> None:
    """Start ENTRYPOINT + CMD as the image's user against the sandbox; health check; SIGTERM."""
    sys.path.insert(0, str(ROOT))
    from sandbox.cloud import CloudSimulator, default_world
    from sandbox.slack import SlackStandIn

    entry = exec_form(image.meta["ENTRYPOINT"]) + exec_form(image.meta["CMD"])
    health = image.meta["HEALTHCHECK"].split(" CMD ", 1)[1]
    user = image.user or "root"
    port = free_port()
    with SlackStandIn() as slack, CloudSimulator(default_world()) as cloud:
        env = {
            **image.env,
            "PORT": str(port),
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "SMC_BOT_CLOUD_ENDPOINT": cloud.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tSandboxDest00001",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-dest-secret-do-not-use-in-prod",
        }
        log_path = workdir / "serve.log"
        with image, log_path.open("wb") as log:
            print("+ (in the image)", " ".join(entry), flush=True)
            process = subprocess.Popen(image.command(entry), env=env, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                healthy = False
                while time.monotonic() < deadline and process.poll() is None:
                    probe = subprocess.run(
                        image.command(exec_form(health)), env=env, check=False, stderr=subprocess.DEVNULL
                    )
                    if probe.returncode == 0:
                        healthy = True
                        break
                    time.sleep(1.0)
                if not healthy:
                    raise SystemExit(f"the image never became healthy:\n{log_path.read_text()[-3000:]}")
                uids = served_uids(process.pid)
                expected = image.uid(user)
                if uids != {expected}:
                    raise SystemExit(f"smc-bot runs as uid {uids}, not the image's user {user} ({expected})")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    detail = json.loads(answer.read())
                print(f"healthy as {user} (uid {expected}): {detail}", flush=True)
            finally:
                stop(process)
            if process.returncode != 0:
                raise SystemExit(f"SIGTERM: exit status {process.returncode}\n{log_path.read_text()[-3000:]}")
            print("stopped on SIGTERM with exit status 0", flush=True)


def served_uids(pid: int) -> set[str]:
    """Real uids of the process tree under `pid` that runs Python (chroot and sh exec into it)."""
    found: set[str] = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        mine = int(status.parent.name) == pid or fields.get("PPid", "").strip() == str(pid)
        if mine and any(name in fields.get("Name", "") for name in ("python", "smc-bot")):
            found.add(fields["Uid"].split()[0])
    return found


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def in_workdir(argv: list[str] | None, doc: str | None, prefix: str, work: Callable[[Path], None]) -> int:
    """The rehearsals' command line: `--workdir DIR` (kept) or a temporary one, `--keep`; root only."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--workdir", type=Path, default=None, help="where the stages go (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the rehearsal needs root (chroot, mounts, network namespaces)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        work(workdir)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def rehearse(workdir: Path) -> None:
    check_image(build(parse(ROOT / "Dockerfile"), workdir, ROOT, pip_env()), workdir)
    print("image rehearsal: passed")


if __name__ == "__main__":
    sys.exit(in_workdir(None, __doc__, "smc-image-", rehearse))
