"""`/smc`: one slash command; the first word picks the subcommand, unknown or empty input gets the usage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.services import Services
from handlers import after_ack
from handlers.ids import SLASH_COMMAND, Subcommand
from handlers.render.help import usage_blocks, usage_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invocation:
    """One `/smc …` as a subcommand handler sees it; `rest` is the text after the subcommand."""

    ack: Ack
    command: dict[str, Any]
    rest: str
    client: WebClient
    respond: Respond
    services: Services

    @property
    def user_id(self) -> str:
        return str(self.command.get("user_id", ""))

    @property
    def channel_id(self) -> str:
        return str(self.command.get("channel_id", ""))

    @property
    def team_id(self) -> str:
        return str(self.command.get("team_id", ""))

    def later(self, work: Callable[[], object], *, name: str, urgent: bool = False) -> None:
        """`work` after the ack (`handlers.after_ack.later`); a failure is told to whoever typed it."""
        after_ack.later(self.services, self.client, self.command, work, name=name, urgent=urgent)

    def answer_after_ack(self, name: str, produce: Callable[[], Answer]) -> None:
        """Ack at once, then answer only to the user through the command's response_url with what
        `produce` returns: its database reads and Web API calls stay off the ack path (Slack's 3 s, and
        the acks queued behind this one)."""
        self.ack()

        def answer() -> None:
            try:
                text, blocks = produce()
            except Exception:
                log.exception("command answer failed command=%s", name)
                text, blocks = FAILED_ANSWER, []
            try:
                self.respond(response_type="ephemeral", text=text, blocks=blocks)
            except (OSError, ValueError) as err:
                log.warning("command answer not delivered command=%s error=%s", name, type(err).__name__)

        self.services.background.queue(answer, name=name)


Answer = tuple[str, list[dict[str, Any]]]
"""An ephemeral answer: its fallback text and its blocks."""

FAILED_ANSWER = (
    ":warning: That did not work because of an error on the bot's side (it is logged). Try again in a "
    "minute; if it keeps failing, tell whoever runs smc-bot."
)


CommandHandler = Callable[[Invocation], None]


def split(text: str) -> tuple[str, str]:
    """`"migrate s-1"` -> (`"migrate"`, `"s-1"`)."""
    head, _, rest = text.strip().partition(" ")
    return head.lower(), rest.strip()


def show_help(call: Invocation) -> None:
    call.ack(response_type="ephemeral", text=usage_text(), blocks=usage_blocks())


def register(app: App, routes: dict[Subcommand, CommandHandler]) -> None:
    """One listener for `/smc`; `routes` maps each delivered subcommand to its handler."""
    table = {Subcommand.HELP: show_help, **routes}

    def handle_smc(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, services: Services
    ) -> None:
        word, rest = split(str(command.get("text") or ""))
        try:
            route(word, Invocation(ack, command, rest, client, respond, services))
        finally:
            # Audited here, after the handler acked: HTTP mode answers Slack as soon as ack() is called
            # while this listener goes on, whereas a middleware would hold the answer until the write ends.
            services.command_log.record(
                actor=str(command.get("user_id") or ""),
                team_id=str(command.get("team_id") or ""),
                channel_id=str(command.get("channel_id") or ""),
                subcommand=word or "help",
                args=rest,
            )

    def route(word: str, call: Invocation) -> None:
        try:
            sub = Subcommand(word)
        except ValueError:
            problem = f"`{SLASH_COMMAND} {word}` is not a command." if word else None
            call.ack(response_type="ephemeral", text=usage_text(problem), blocks=usage_blocks(problem))
            return
        handler = table.get(sub)
        if handler is None:
            call.ack(response_type="ephemeral", text=f"`{SLASH_COMMAND} {sub.value}` is coming soon.")
            return
        handler(call)

    app.command(SLASH_COMMAND)(handle_smc)
