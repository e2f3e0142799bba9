"""`/smc audit [days]`: this channel's audit log as a CSV file."""

from __future__ import annotations

import secrets

from bot.domain.audit import DEFAULT_EXPORT_DAYS, MAX_EXPORT_DAYS, parse_days
from handlers.commands import Invocation
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
    key = str(call.command.get("trigger_id") or secrets.token_hex(8))
    call.later(
        lambda: call.services.audit.request_export(
            actor=call.user_id, team_id=call.team_id, channel_id=call.channel_id, days=days, key=key
        ),
        name="audit-export",
    )
