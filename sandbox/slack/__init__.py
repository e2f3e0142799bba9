"""Slack stand-in: a stateful Web API fake over HTTP (`SlackStandIn`) and a signed-request `SlackDriver`.

Plays Slack for tests and the offline demo; imports nothing from the bot.
"""

from sandbox.slack.clock import ManualClock
from sandbox.slack.driver import ACK_DEADLINE, BotResponse, FormValues, SlackDriver
from sandbox.slack.records import (
    CallRecord,
    Ephemeral,
    FileRecord,
    MessageVersion,
    PostedMessage,
    ResponseUrlPost,
    TimelineEvent,
    ViewSnapshot,
)
from sandbox.slack.server import DEFAULT_BOT_TOKEN, DEFAULT_SIGNING_SECRET, SlackStandIn
from sandbox.slack.workspace import (
    ADMIN,
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    APPROVERS_HANDLE,
    GENERAL_CHANNEL,
    MIGRATIONS_CHANNEL,
    OUTSIDER,
    REQUESTER,
    Channel,
    User,
    UserGroup,
)

__all__ = [
    "ACK_DEADLINE",
    "ADMIN",
    "APPROVERS_GROUP",
    "APPROVERS_HANDLE",
    "APPROVER_1",
    "APPROVER_2",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_SIGNING_SECRET",
    "GENERAL_CHANNEL",
    "MIGRATIONS_CHANNEL",
    "OUTSIDER",
    "REQUESTER",
    "BotResponse",
    "CallRecord",
    "Channel",
    "Ephemeral",
    "FileRecord",
    "FormValues",
    "ManualClock",
    "MessageVersion",
    "PostedMessage",
    "ResponseUrlPost",
    "SlackDriver",
    "SlackStandIn",
    "TimelineEvent",
    "User",
    "UserGroup",
    "ViewSnapshot",
]
