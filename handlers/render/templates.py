"""`/smc template save|list|delete` answers (ephemeral)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.params import EXECUTION_METHOD_LABELS, TARGET_TYPE_LABELS, NetworkType
from bot.domain.templates import SavedTemplate, Template
from storage.enums import ExecutionMethod, TargetType

Message = tuple[str, list[dict[str, Any]]]
SHOWN = 45

USAGE = (
    "*Templates* keep the reusable parameters of a request (destination type and region, method, "
    "incremental sync, network, speed, compression, checksum, licence, tags, intermediate instance type, "
    "description) — never the source, destination instance or image name, job name, schedule, private IP "
    "or disks.\n"
    "• `/smc template save <name> <request-id>` — save a request's parameters (name: 2 to 64 characters, "
    "a letter first, then letters, digits, `.`, `_` or `-`)\n"
    "• `/smc template list` — this workspace's templates\n"
    "• `/smc template delete <name>` — remove one (its creator or a channel admin)\n"
    "The migrate modal offers them under *Start from template*."
)


def usage(problem: str | None = None) -> Message:
    text = f"*{problem}*\n\n{USAGE}" if problem else USAGE
    return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]


def describe(params: Mapping[str, Any]) -> str:
    """One line of what a template sets, read leniently (a template may predate today's fields)."""
    parts: list[str] = []
    with contextlib.suppress(KeyError, ValueError):
        parts.append(f"{TARGET_TYPE_LABELS[TargetType(params['target_type'])]} in `{params['region_id']}`")
    with contextlib.suppress(KeyError, ValueError):
        parts.append(EXECUTION_METHOD_LABELS[ExecutionMethod(params["execution_method"])])
    if params.get("incremental"):
        parts.append(f"incremental every {params.get('sync_interval_hours')} h")
    try:
        vpc = NetworkType(int(params.get("network_type", 0))) is NetworkType.VPC
    except (TypeError, ValueError):
        vpc = False
    parts.append(f"VPC `{params.get('vpc_id')}`" if vpc else "public network")
    speed = params.get("speed_limit_mbps")
    parts.append(f"limit {speed} Mbit/s" if speed else "no speed limit")
    parts.append(f"compression {params.get('compression_level', 7)}")
    return ", ".join(parts)


def saved(result: SavedTemplate) -> Message:
    verb = "Replaced" if result.replaced else "Saved"
    text = (
        f"{verb} template `{result.template.name}` from `{result.request_id}`: "
        f"{describe(result.template.params)}. `/smc migrate` offers it under *Start from template*."
    )
    return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]


def listing(templates: Sequence[Template]) -> Message:
    if not templates:
        text = "No templates yet. `/smc template save <name> <request-id>` saves a request's parameters."
        return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text="*Templates of this workspace:*"))]
    for template in templates[:SHOWN]:
        line = (
            f"`{template.name}` — {describe(template.params)}\n"
            f"saved by <@{template.created_by}> on {template.updated_at:%Y-%m-%d}"
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line[:2900])))
    footer = "`/smc template delete <name>` removes one."
    if len(templates) > SHOWN:
        footer = f"…and {len(templates) - SHOWN} more. " + footer
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    return f"{len(templates)} templates", [b.to_dict() for b in blocks]


def deleted(template: Template) -> Message:
    text = f"Deleted template `{template.name}`."
    return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]


def problem(message: str) -> Message:
    return message, [SectionBlock(text=MarkdownTextObject(text=message[:2900])).to_dict()]
