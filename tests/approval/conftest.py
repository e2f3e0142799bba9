"""Fixtures for the approval engine: a bot that answers after its listeners finish, on a movable clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.domain import notifications
from bot.domain.params import DataDisk, MigrationParams, SystemDisk
from sandbox.cloud import CloudSimulator
from sandbox.slack import (
    APPROVERS_GROUP,
    MIGRATIONS_CHANNEL,
    REQUESTER,
    Ephemeral,
    PostedMessage,
    SlackStandIn,
)
from storage import repository as repo
from storage.db import Database
from storage.enums import ApprovalAction, ExecutionMethod, OutboxKind, RequestState, TargetType
from storage.models import AuditEvent, ChannelConfig, MigrationRequest, Outbox, Vote
from storage.types import utcnow
from tests.factories import new_request
from tests.harness import BotUnderTest, running_bot

TEAM = "T0SANDBOX"


@dataclass
class MovableClock:
    """Real time plus an offset that only grows: outbox rows stamped with real time stay due."""

    offset: timedelta = timedelta()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> datetime:
        with self._lock:
            return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.offset += delta


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def approval_bot(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, clock: MovableClock
) -> Iterator[BotUnderTest]:
    """The bot on SQLite; each Slack request is answered after its listener finished (deterministic)."""
    with running_bot(db, slack, cloud, clock=clock) as running:
        yield running


def image_params(**changes: Any) -> MigrationParams:
    values: dict[str, Any] = {
        "source_id": "s-bp1e2fsl57knvuug",
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod",
        "migration_test": False,
        "execution_method": ExecutionMethod.MIGRATE_NOW,
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100),),
    }
    values.update(changes)
    return MigrationParams(**values)


def instance_params(**changes: Any) -> MigrationParams:
    base: dict[str, Any] = {
        "target_type": TargetType.TARGET_INSTANCE,
        "image_name": None,
        "instance_id": "i-bp1target0001",
    }
    return image_params(**{**base, **changes})


def configure(
    db: Database,
    *,
    channel: str = MIGRATIONS_CHANNEL,
    groups: Sequence[str] = (APPROVERS_GROUP,),
    users: Sequence[str] = (),
    quorum: int = 1,
    self_approval: bool = False,
    expiry_hours: int = 24,
    methods: Sequence[str] = (),
    admins: Sequence[str] = (),
) -> None:
    with db.unit_of_work() as s:
        repo.save_channel_config(
            s,
            ChannelConfig(
                channel_id=channel,
                team_id=TEAM,
                approver_usergroups=list(groups),
                approver_users=list(users),
                admin_users=list(admins),
                quorum=quorum,
                self_approval=self_approval,
                expiry_hours=expiry_hours,
                approval_methods=list(methods),
            ),
        )


def add_request(
    db: Database,
    params: MigrationParams | None = None,
    *,
    requester: str = REQUESTER,
    channel: str = MIGRATIONS_CHANNEL,
) -> str:
    """A stored request with its summary queued, as the migrate modal leaves it before approval."""
    params = params or image_params()
    request_id = repo.new_id("r")
    with db.unit_of_work() as s:
        repo.add(
            s,
            new_request(
                request_id,
                params,
                team_id=TEAM,
                channel_id=channel,
                requester=requester,
                state=RequestState.AWAITING_APPROVAL,
                approval_round=0,
            ),
        )
        notifications.post_request_summary(s, request_id, channel)
    return request_id


def ask(
    bot: BotUnderTest,
    request_id: str,
    action: ApprovalAction = ApprovalAction.EXECUTE,
    *,
    settle: bool = True,
) -> None:
    """Open the next approval round (what submit / the gated buttons do) and deliver what it posts.

    `settle` also runs work intents: an approved round is then executed (issue E), so assert the
    engine's own outcome (state right after the decision, intents, audit) before settling.
    """
    with bot.services.db.unit_of_work() as s:
        bot.services.approvals.open_round(s, request_id, action, actor=REQUESTER)
    if settle:
        bot.settle()


def request(db: Database, request_id: str) -> MigrationRequest:
    with db.unit_of_work() as s:
        found = repo.get_request(s, request_id)
        assert found is not None
        return found


def intents(db: Database, request_id: str) -> list[Outbox]:
    with db.unit_of_work() as s:
        return list(
            s.scalars(
                select(Outbox).where(Outbox.kind == OutboxKind.WORK).where(Outbox.request_id == request_id)
            ).all()
        )


def votes(db: Database, request_id: str) -> list[Vote]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Vote).where(Vote.request_id == request_id)).all())


def audit(db: Database, request_id: str | None = None) -> list[AuditEvent]:
    with db.unit_of_work() as s:
        stmt = select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
        if request_id is not None:
            stmt = stmt.where(AuditEvent.request_id == request_id)
        return list(s.scalars(stmt).all())


def summary_of(slack: SlackStandIn, request_id: str, channel: str = MIGRATIONS_CHANNEL) -> PostedMessage:
    for message in slack.channel_messages(channel):
        if request_id in message.text or any(request_id in json.dumps(b) for b in message.blocks):
            return message
    raise AssertionError(f"no summary of {request_id} in {channel}")


def cards(slack: SlackStandIn, request_id: str) -> list[PostedMessage]:
    """The approval cards in the request's thread, oldest first."""
    return [r for r in summary_of(slack, request_id).replies if "Approval needed" in json.dumps(r.blocks)]


def card(slack: SlackStandIn, request_id: str) -> PostedMessage:
    found = cards(slack, request_id)
    assert found, f"no approval card for {request_id}"
    return found[-1]


def replies(slack: SlackStandIn, request_id: str) -> list[str]:
    return [r.text for r in summary_of(slack, request_id).replies]


def ephemeral_texts(slack: SlackStandIn, user: str) -> list[str]:
    found: list[Ephemeral] = slack.ephemerals(user)
    return [e.text for e in found]


def has_buttons(message: PostedMessage) -> bool:
    text = json.dumps(message.blocks)
    return '"approve"' in text and '"reject"' in text
