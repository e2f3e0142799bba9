"""`/smc audit [days]`, and the middleware that audits every `/smc` command."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.context import BoltContext

from bot.domain.audit import DEFAULT_EXPORT_DAYS, MAX_EXPORT_DAYS, parse_days
from bot.services import Services
from handlers.commands import Invocation, split
from handlers.ids import SLASH_COMMAND


def handle_audit(call: Invocation) -> None:
    """Queue the CSV upload to this channel (an outbox item, so a retry uploads it once)."""
    days = parse_days(call.rest)
    if days is None:
        call.ack(
            response_type="ephemeral",
            text=f"`{SLASH_COMMAND} audit [days]`: days is a whole number from 1 to {MAX_EXPORT_DAYS} "
            f"(default {DEFAULT_EXPORT_DAYS}), e.g. `{SLASH_COMMAND} audit 7`.",
        )
        return
    call.ack(
        response_type="ephemeral",
        text=f"Preparing this channel's audit log of the last {days} day{'' if days == 1 else 's'} as a CSV "
        "file; it appears here in a moment.",
    )
    call.services.audit.request_export(
        actor=call.user_id,
        team_id=call.team_id,
        channel_id=call.channel_id,
        days=days,
        key=str(call.command.get("trigger_id") or secrets.token_hex(8)),
    )


def audit_commands(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> None:
    """Every `/smc …` becomes an audit event, written after the listener acked (so the ack is not delayed
    by it in HTTP mode's async listeners)."""
    next()
    if body.get("command") != SLASH_COMMAND:
        return
    services = context.get("services")
    if not isinstance(services, Services):
        return
    word, rest = split(str(body.get("text") or ""))
    services.audit.command(
        actor=str(body.get("user_id") or ""),
        team_id=str(body.get("team_id") or ""),
        channel_id=str(body.get("channel_id") or ""),
        subcommand=word or "help",
        args=rest,
    )


def register(app: App) -> None:
    app.middleware(audit_commands)
