"""`simulate`: run the cloud simulator in the foreground and tell the user how to point the bot at it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sandbox.cloud.loader import WorldError, default_world, load_world
from sandbox.cloud.simulator import CloudSimulator
from sandbox.cloud.world import World


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `smc-bot simulate`."""
    parser = argparse.ArgumentParser(
        prog="smc-bot simulate",
        description="Run the sandbox cloud (SMC, ECS and STS over HTTP) until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=9100, help="TCP port (default 9100; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--world", type=Path, help="world file (YAML/JSON); default: the shipped default world"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second (e.g. 600 = ten minutes per second)",
    )
    return parser


def describe(sim: CloudSimulator, world: World) -> str:
    """The banner: endpoint, sandbox accounts with their (sandbox-only) keys, roles, env vars."""
    lines = [
        f"Sandbox cloud (SMC 2019-06-01, ECS 2014-05-26, STS 2015-04-01) listening on {sim.url}",
        f"Simulated time runs {sim.clock.time_scale:g}x real time. Admin API: {sim.url}/_sandbox/health",
        "",
        "Accounts (sandbox-only keys, never valid on Alibaba Cloud):",
    ]
    for account in world.accounts.values():
        lines.append(f"  {account.uid}  {account.name}")
        for key in account.access_keys:
            lines.append(f"      AccessKey ID     {key.key_id}")
            lines.append(f"      AccessKey secret {key.secret}")
        for role in account.roles.values():
            trusted = ", ".join(role.trusted_accounts) or "nobody"
            lines.append(f"      role {role.arn}  (trusts {trusted}; max {role.max_session_duration}s)")
    first = next(iter(world.accounts.values()))
    key = first.access_keys[0]
    lines += [
        "",
        f"Point the bot at it (acting as {first.uid} {first.name}):",
        f"  export SMC_BOT_CLOUD_ENDPOINT={sim.url}",
        f"  export ALIBABA_CLOUD_ACCESS_KEY_ID={key.key_id}",
        f"  export ALIBABA_CLOUD_ACCESS_KEY_SECRET={key.secret}",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground until Ctrl-C or SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        world = load_world(args.world) if args.world else default_world()
    except (OSError, WorldError) as error:
        sys.stderr.write(f"cannot load world: {error}\n")
        return 2
    sim = CloudSimulator(world, time_scale=args.time_scale, port=args.port, host=args.host)
    try:
        sim.start()
    except OSError as error:
        sys.stderr.write(f"cannot listen on {args.host}:{args.port}: {error}\n")
        return 1
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    sys.stdout.write(describe(sim, world) + "\n")
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
        sys.stdout.write("Sandbox cloud stopped.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
