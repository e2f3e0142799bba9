"""The usage text of `/smc`."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from handlers.ids import SLASH_COMMAND, Subcommand

USAGE: tuple[tuple[Subcommand, str, str], ...] = (
    (Subcommand.IMPORT, "", "import source servers (same or cross-account) into SMC"),
    (Subcommand.MIGRATE, "[s-…]", "start a migration (the source is preselected when given)"),
    (
        Subcommand.LIST,
        "[mine|active|all]",
        "this channel's requests with state and progress (default: active)",
    ),
    (Subcommand.STATUS, "<request-id or j-…>", "one request's summary and a link to its thread"),
    (Subcommand.APPROVALS, "", "what waits for your decision"),
    (Subcommand.CONFIG, "", "approvers, quorum, expiry and defaults for this channel (admins)"),
    (Subcommand.TEMPLATE, "save|list|delete", "saved parameter presets"),
    (Subcommand.AUDIT, "[days]", "this channel's audit log as a CSV file"),
    (Subcommand.HELP, "", "this help"),
)


def usage_text(problem: str | None = None) -> str:
    lines = [f"*{problem}*", ""] if problem else []
    lines.append(f"*{SLASH_COMMAND}* runs Alibaba Cloud SMC migrations from Slack:")
    for sub, args, what in USAGE:
        lines.append(f"• `{SLASH_COMMAND} {sub.value}{' ' + args if args else ''}` — {what}")
    return "\n".join(lines)


def usage_blocks(problem: str | None = None) -> list[Block]:
    return [
        SectionBlock(text=MarkdownTextObject(text=usage_text(problem))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Anything that moves data or replaces a destination waits for this channel's "
                    "approvers."
                )
            ]
        ),
    ]
