"""Every id of the Slack surface, as enums shared by rendering, registration, the manifest test and tests."""

from __future__ import annotations

from enum import StrEnum

SLASH_COMMAND = "/smc"


class Subcommand(StrEnum):
    """`/smc <subcommand>`; PRODUCT §2."""

    HELP = "help"
    IMPORT = "import"
    MIGRATE = "migrate"
    LIST = "list"
    STATUS = "status"
    APPROVALS = "approvals"
    CONFIG = "config"
    TEMPLATE = "template"
    AUDIT = "audit"


class CallbackId(StrEnum):
    """Modal callback ids."""


class ActionId(StrEnum):
    """Button and select action ids (anchored when registered: Bolt searches regexes)."""


class BlockId(StrEnum):
    """Block ids that are not migration-parameter fields."""
