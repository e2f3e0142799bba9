"""Fixtures for the import runner: the whole bot on a movable clock against a frozen sandbox cloud."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from bot.domain.imports import ImportDraft
from sandbox.cloud import CloudSimulator
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, PostedMessage, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import ImportBatchState, ImportItemState
from storage.models import ImportBatch, ImportItem
from storage.types import utcnow
from tests.harness import BotUnderTest, running_bot

TEAM = "T0SANDBOX"
SOURCE_ACCOUNT = "2000000000000002"
UNTRUSTING_ACCOUNT = "3000000000000003"
ROLE = "ram-role-smc"
REGION = "cn-hangzhou"

WEB_PROD_01 = "i-bp1g89ubw2sb4krcndqk"  # CentOS 7.9, agent online
DB_MYSQL_01 = "i-bp1gtknvw8ki285bwt2b"  # Ubuntu 22.04, agent online
LEGACY_ERP_01 = "i-bp1c21ktgy6gvh9dqpx2"  # CentOS 6.10, agent offline in the default world
APP_JAVA_01 = "i-bp1hf2ry17av5x2n1ud2"  # Alibaba Cloud Linux 3
WIN_AD_01 = "i-bp1ggcjqfmks5f7yshlv"  # Windows Server 2019
TARGET_LINUX_01 = "i-bp14kzy194uiygtm79ma"  # in the destination account itself
OTHER_APP_01 = "i-bp196hfqqzkz8as8mq0h"  # in the account whose role does not trust the bot

POLL = timedelta(seconds=20)


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


@dataclass
class Imports:
    """Drives imports through the running bot: submit, let cloud and bot time pass, read the outcome."""

    bot: BotUnderTest
    clock: MovableClock

    @property
    def cloud(self) -> CloudSimulator:
        return self.bot.cloud

    @property
    def slack(self) -> SlackStandIn:
        return self.bot.slack

    def submit(
        self,
        *instance_ids: str,
        account: str | None = SOURCE_ACCOUNT,
        role: str | None = ROLE,
        requester: str = REQUESTER,
        settle: bool = True,
    ) -> str:
        """Record a batch as the import modal does (C2's ImportService.submit), then run what is due."""
        draft = ImportDraft(
            team_id=TEAM,
            channel_id=MIGRATIONS_CHANNEL,
            requester=requester,
            cross_account=account is not None,
            account_id=account,
            role_name=role,
            region_id=REGION,
            instance_ids=tuple(instance_ids),
        )
        batch = self.bot.services.imports.submit(draft)
        if settle:
            self.bot.settle()
        return batch.id

    def advance(self, seconds: float, *, step: timedelta = POLL) -> None:
        """Move the cloud and the bot forward together, one poll interval at a time, settling each step."""
        left = timedelta(seconds=seconds)
        while left > timedelta():
            jump = min(step, left)
            self.cloud.advance(jump.total_seconds())
            self.clock.advance(jump)
            self.bot.settle()
            left -= jump

    def batch(self, batch_id: str) -> ImportBatch:
        with self.bot.services.db.unit_of_work() as session:
            found = repo.get_import_batch(session, batch_id)
            assert found is not None
            return found

    def items(self, batch_id: str) -> dict[str, ImportItem]:
        with self.bot.services.db.unit_of_work() as session:
            return {i.instance_id: i for i in repo.import_items(session, batch_id)}

    def states(self, batch_id: str) -> dict[str, ImportItemState]:
        return {instance_id: item.state for instance_id, item in self.items(batch_id).items()}

    def summary(self, batch_id: str) -> PostedMessage:
        """The batch's thread parent as Slack shows it now, with its replies."""
        for message in self.slack.channel_messages(MIGRATIONS_CHANNEL):
            payload = (message.metadata or {}).get("event_payload") or {}
            if payload.get("outbox_key") == f"imp:{batch_id}:summary":
                return message
        raise AssertionError(f"no summary message for {batch_id}")

    def replies(self, batch_id: str) -> list[PostedMessage]:
        return list(self.summary(batch_id).replies)

    def wait_until_done(self, batch_id: str, *, limit_s: float = 1800) -> ImportBatchState:
        """Advance poll by poll until the batch ends (a simulated limit, not a timed assertion)."""
        spent = 0.0
        while self.batch(batch_id).state not in FINAL and spent < limit_s:
            self.advance(POLL.total_seconds())
            spent += POLL.total_seconds()
        return self.batch(batch_id).state


FINAL = (ImportBatchState.COMPLETED, ImportBatchState.PARTIAL, ImportBatchState.FAILED)


def texts(messages: Sequence[PostedMessage]) -> list[str]:
    """Each message's fallback text and every text in its blocks, joined (what a reader sees)."""
    return [message.text + "\n" + block_text(message.blocks) for message in messages]


def block_text(blocks: Sequence[dict[str, Any]]) -> str:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            text = node.get("text")
            if isinstance(text, str):
                found.append(text)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(blocks))
    return "\n".join(found)


def buttons(message: PostedMessage) -> list[dict[str, Any]]:
    return [
        element
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def all_rows(db: Database) -> list[tuple[str, Any]]:
    """Every row of every table, for scanning the database's text."""
    rows: list[tuple[str, Any]] = []
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows.extend((table.name, row) for row in conn.execute(sa_select(table)))
    return rows


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def imports(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, clock: MovableClock
) -> Iterator[Imports]:
    """The bot on SQLite with a frozen cloud clock: only `Imports.advance` moves time, for both sides."""
    cloud.set_time_scale(0)
    with running_bot(db, slack, cloud, clock=clock) as running:
        yield Imports(running, clock)
