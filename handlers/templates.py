"""`/smc template save <name> <request-id> | list | delete <name>`: ephemeral answers after the ack."""

from __future__ import annotations

from bot.domain.errors import DomainError
from handlers.commands import Answer, Invocation, split
from handlers.render import templates as render


def handle_template(call: Invocation) -> None:
    """Ack at once; the answer (a database read or write) follows through response_url. Every domain
    refusal becomes an ephemeral that says what to do."""
    action, rest = split(call.rest)
    args = rest.split()
    services = call.services.templates

    def answer() -> Answer:
        try:
            if action == "save" and len(args) == 2:
                return render.saved(
                    services.save(
                        team_id=call.team_id,
                        channel_id=call.channel_id,
                        user_id=call.user_id,
                        name=args[0],
                        request_id=args[1].strip("`").lower(),
                    )
                )
            if action == "list" and not args:
                return render.listing(services.list(call.team_id))
            if action == "delete" and len(args) == 1:
                return render.deleted(
                    services.delete(
                        team_id=call.team_id, channel_id=call.channel_id, user_id=call.user_id, name=args[0]
                    )
                )
        except DomainError as err:
            hint = " `/smc list all` shows request ids." if "Request" in err.message else ""
            return render.problem(err.message + hint)
        return render.usage(_usage_problem(action, args))

    call.answer_after_ack("template", answer)


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
