"""Requests in the database, the summary and thread replies in the Slack stand-in, jobs in the simulator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.domain import notifications
from bot.domain.execution import enqueue_work
from bot.domain.params import DataDisk, MigrationParams, SystemDisk
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, PostedMessage
from sandbox.slack.workspace import APPROVERS_GROUP, TEAM_ID
from storage import repository as repo
from storage.enums import ApprovalAction, AuditOutcome, ExecutionMethod, RequestState, TargetType
from storage.models import AuditEvent, ChannelConfig, MigrationRequest, SmcJob
from storage.types import utcnow
from tests.factories import new_request
from tests.harness import BotUnderTest

REGION = "cn-hangzhou"
WEB_SOURCE = "s-bp1dtyvdak02x846kq4p"
"""web-prod-02, CentOS 7.9: system disk 40 GiB (/boot 0.2, / 12.9 used), data disk 100 GiB (38.5 used)."""
WIN_SOURCE = "s-bp1knv31zn9d3jznb5y3"
"""win-ad-01, Windows Server 2019: system disk 80 GiB (31.5 used), data disk 200 GiB (75 used)."""
VPC = "vpc-bp1e4rhn51r4wgor8b81"
VSWITCH = "vsw-bp1yg0cajhfcobh1gcyd"


class ShiftClock:
    """The bot's clock: real time plus an offset the test moves forward (waits without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def web_params(**changes: Any) -> MigrationParams:
    """web-prod-02 to an image over the VPC, both disks, the given changes on top."""
    values: dict[str, Any] = {
        "source_id": WEB_SOURCE,
        "target_type": TargetType.IMAGE,
        "region_id": REGION,
        "image_name": "web-prod-02-img",
        "execution_method": ExecutionMethod.MIGRATE_NOW,
        "migration_test": False,
        "network_type": 2,
        "vpc_id": VPC,
        "vswitch_id": VSWITCH,
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100),),
    }
    values.update(changes)
    if values["execution_method"] in (ExecutionMethod.TEST_ONLY, ExecutionMethod.TEST_AND_MIGRATE):
        values["migration_test"] = True
    return MigrationParams.model_validate(values)


def configure_channel(bot: BotUnderTest, **changes: Any) -> None:
    """Approvers: the smc-approvers user group; quorum 1."""
    with bot.services.db.unit_of_work() as session:
        config = ChannelConfig(
            channel_id=MIGRATIONS_CHANNEL,
            team_id=TEAM_ID,
            approver_usergroups=[APPROVERS_GROUP],
            quorum=1,
            **changes,
        )
        repo.save_channel_config(session, config)


def insert_request(
    bot: BotUnderTest,
    params: MigrationParams,
    *,
    state: RequestState = RequestState.APPROVED,
    round_: int = 1,
    action: ApprovalAction | None = ApprovalAction.EXECUTE,
    requester: str = REQUESTER,
) -> str:
    """A stored request with its summary posted; in APPROVED, also the execution intent of its round.

    Stands in for the migration modal and the first approval round (other suites cover those), and lets
    a test store parameters the modal would refuse, as if the source had changed after approval.
    """
    request_id = repo.new_id("r")
    now = utcnow()
    with bot.services.db.unit_of_work() as session:
        repo.add(
            session,
            new_request(
                request_id,
                params,
                team_id=TEAM_ID,
                channel_id=MIGRATIONS_CHANNEL,
                requester=requester,
                state=state,
                pending_action=action,
                approval_round=round_,
                created_at=now,
                updated_at=now,
            ),
        )
        notifications.post_request_summary(session, request_id, MIGRATIONS_CHANNEL)
        if state is RequestState.APPROVED and action is not None:
            enqueue_work(session, request_id, round_, action)
    return request_id


def request_row(bot: BotUnderTest, request_id: str) -> MigrationRequest:
    with bot.services.db.unit_of_work() as session:
        row = repo.get_request(session, request_id)
        assert row is not None
        return row


def job_row(bot: BotUnderTest, request_id: str) -> SmcJob | None:
    with bot.services.db.unit_of_work() as session:
        return repo.job_for_request(session, request_id)


def audit(bot: BotUnderTest, request_id: str) -> list[tuple[str, str, AuditOutcome]]:
    """(actor, action, outcome) of every audit event of the request, in order."""
    with bot.services.db.unit_of_work() as session:
        stmt = select(AuditEvent).where(col(AuditEvent.request_id) == request_id).order_by(col(AuditEvent.id))
        rows = session.scalars(stmt).all()
        return [(r.actor, r.action, r.outcome) for r in rows]


def _key(message: PostedMessage) -> str:
    return str(((message.metadata or {}).get("event_payload") or {}).get("outbox_key") or "")


def summary(bot: BotUnderTest, request_id: str) -> PostedMessage:
    """The request's parent message as it is now."""
    key = notifications.summary_key(request_id)
    for message in bot.slack.channel_messages(MIGRATIONS_CHANNEL):
        if _key(message) == key:
            return message
    raise AssertionError(f"no summary message for {request_id}")


def replies(bot: BotUnderTest, request_id: str, name: str = "") -> list[PostedMessage]:
    """Thread replies of the request whose outbox key starts with `req:<id>:<name>`."""
    prefix = f"req:{request_id}:{name}"
    return [r for r in summary(bot, request_id).replies if _key(r).startswith(prefix)]


def buttons(message: PostedMessage) -> list[str]:
    """The action ids of the buttons a message shows."""
    found = []
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("type") == "button":
                found.append(str(element["action_id"]))
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            found.append(str(accessory["action_id"]))
    return found


def text_of(messages: Sequence[PostedMessage]) -> str:
    """All text of the messages' blocks (mrkdwn sections and contexts) and fallbacks, joined."""
    parts: list[str] = []
    for message in messages:
        parts.append(message.text)
        parts.append(json.dumps(message.blocks, ensure_ascii=False))
    return "\n".join(parts)


def ephemerals_of(bot: BotUnderTest, user: str) -> list[str]:
    return [e.text for e in bot.slack.ephemerals(user)]


def cloud_jobs(bot: BotUnderTest, source_id: str) -> list[Any]:
    """The simulator's jobs of a source (any status), oldest first."""
    return sorted(
        (j for j in bot.cloud.world.jobs.values() if j.source_id == source_id), key=lambda j: j.created
    )
