"""`smc-bot`: serve | simulate | demo | db upgrade | check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import configure_logging
from storage.db import Database, DatabaseError

EXIT_USAGE = 2
EXIT_CONFIG = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but an unknown command is one line with the fix instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"smc-bot: {message} — run `smc-bot --help` for the commands\n")


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    status = db.upgrade()
    print(f"database {db.display_url} is at schema {status.current} (head {status.head})")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.check import run_check

    return run_check(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.transport import serve

    return serve(settings)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from sandbox.cloud.cli import main as simulate

    argv = ["--host", args.host, "--port", str(args.port), "--time-scale", str(args.time_scale)]
    if args.world:
        argv += ["--world", args.world]
    return simulate(argv)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return run_demo(Path(args.html), quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smc-bot",
        description="Run Alibaba Cloud SMC migrations from Slack. Configuration comes from the environment "
        "(see README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = commands.add_parser(
        "serve", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)"
    )
    serve.set_defaults(run=_serve)
    simulate = commands.add_parser("simulate", help="run the sandbox cloud (SMC/ECS/STS simulator)")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=9100)
    simulate.add_argument("--world", help="world file (YAML or JSON); the built-in world by default")
    simulate.add_argument("--time-scale", type=float, default=1.0, help="cloud seconds per real second")
    simulate.set_defaults(run=_simulate)
    demo = commands.add_parser(
        "demo", help="offline walkthrough: sandbox cloud + Slack stand-in, one migration"
    )
    demo.add_argument(
        "--html",
        default="demo-transcript.html",
        help="where to write the Slack-looking HTML transcript (default: ./demo-transcript.html)",
    )
    demo.add_argument(
        "--quiet", action="store_true", help="print only the closing summary, not the channel's transcript"
    )
    demo.set_defaults(run=_demo)
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(
        dest="db_command", metavar="DB_COMMAND", parser_class=_Parser, required=True
    )
    db_commands.add_parser("upgrade", help="apply schema migrations to DATABASE_URL").set_defaults(
        run=_db_upgrade
    )
    check = commands.add_parser("check", help="check configuration and connectivity, one line each")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        result: int = args.run(args, settings)
        return result
    except ConfigError as exc:
        print(f"smc-bot: configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseError as exc:
        print(f"smc-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
