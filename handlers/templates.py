"""`/smc template save <name> <request-id> | list | delete <name>`: ephemeral answers in the ack."""

from __future__ import annotations

from bot.domain.errors import DomainError
from handlers.commands import Invocation, split
from handlers.render import templates as render


def handle_template(call: Invocation) -> None:
    """Parse, one service call, render; every domain refusal becomes an ephemeral that says what to do."""
    action, rest = split(call.rest)
    args = rest.split()
    services = call.services.templates
    try:
        if action == "save" and len(args) == 2:
            text, blocks = render.saved(
                services.save(
                    team_id=call.team_id,
                    channel_id=call.channel_id,
                    user_id=call.user_id,
                    name=args[0],
                    request_id=args[1].strip("`").lower(),
                )
            )
        elif action == "list" and not args:
            text, blocks = render.listing(services.list(call.team_id))
        elif action == "delete" and len(args) == 1:
            text, blocks = render.deleted(
                services.delete(
                    team_id=call.team_id, channel_id=call.channel_id, user_id=call.user_id, name=args[0]
                )
            )
        else:
            text, blocks = render.usage(_usage_problem(action, args))
    except DomainError as err:
        hint = " `/smc list all` shows request ids." if "Request" in err.message else ""
        text, blocks = render.problem(err.message + hint)
    call.ack(response_type="ephemeral", text=text, blocks=blocks)


def _usage_problem(action: str, args: list[str]) -> str | None:
    if action == "save":
        return (
            "Type `/smc template save <name> <request-id>`, e.g. `/smc template save web-to-hz r-7k2q9m4x`."
        )
    if action == "delete":
        return "Type `/smc template delete <name>`."
    if action and action not in ("list", "help"):
        return f"`{action[:30]}` is not a template command."
    if action == "list":
        return "`/smc template list` takes no arguments."
    return None
