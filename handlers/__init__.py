"""The Slack edge: thin listeners that ack, call one service, render."""

from __future__ import annotations

from slack_bolt import App


def register(app: App) -> None:
    """Attach every listener of the Slack surface to `app`."""
    from handlers import commands
    from handlers.commands import CommandHandler
    from handlers.ids import Subcommand

    routes: dict[Subcommand, CommandHandler] = {}
    commands.register(app, routes)
