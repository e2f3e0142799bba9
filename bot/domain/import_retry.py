"""**Retry import**: run a batch's failed instances again, and what the summary shows of their failures.

Who may click: the batch's requester, the channel's approvers and its admins (identity comes from the
signed Slack payload). Every click is audited, a refusal too. The retry is one unit of work: the items go
back to PENDING by compare-and-set, a new WORK intent is recorded under a new run key, and the thread says
so, so a double click or a Slack retry starts exactly one run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlmodel import Session

from bot.domain import notifications
from bot.domain.approval import Policy
from bot.domain.directory import Directory, DirectoryUnavailable
from bot.domain.import_plan import RETRYABLE_ITEM_STATES, latest_run, run_key, run_prefix
from bot.domain.notifications import Event
from storage import repository as repo
from storage.db import Database
from storage.enums import AuditOutcome, ImportBatchState, ImportItemState, OutboxKind
from storage.models import ChannelConfig

log = logging.getLogger(__name__)

AUDIT_RETRY = "import.retry"
TAIL_LINES_IN_SUMMARY = 3
TAIL_CHARS_IN_SUMMARY = 300


class ChannelRoles(Protocol):
    """The channel configuration reads the rule needs (`bot.domain.channel_config.ConfigService`)."""

    def get(self, channel_id: str) -> ChannelConfig: ...

    def is_admin(self, channel_id: str, user_id: str) -> bool: ...


class RetryOutcome(StrEnum):
    STARTED = "started"
    REFUSED = "refused"
    NOTHING = "nothing"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class RetryResult:
    outcome: RetryOutcome
    run: int | None = None
    instance_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class FailureDetail:
    """What the summary shows under a failed instance: the last lines of its command's output."""

    instance_id: str
    output_tail: str


class ImportRetryService:
    """The Retry import button's use case, and the failure details the summary renders."""

    def __init__(
        self,
        db: Database,
        *,
        roles: ChannelRoles,
        directory: Callable[[], Directory],
        kick: Callable[[], None],
    ) -> None:
        self._db = db
        self._roles = roles
        self._directory = directory
        self._kick = kick

    def retry(
        self, batch_id: str, *, user_id: str, channel_id: str, team_id: str | None, click_id: str
    ) -> RetryResult:
        """Reset the batch's failed, timed-out and agent-offline instances and queue a new run for them."""
        with self._db.unit_of_work() as session:
            batch = repo.get_import_batch(session, batch_id)
        if batch is None:
            self._tell(channel_id, user_id, click_id, batch_id, "not_found")
            return RetryResult(RetryOutcome.NOT_FOUND)
        requester, batch_channel = batch.requester, batch.channel_id
        if not self._may_retry(batch_channel, requester, user_id):
            with self._db.unit_of_work() as session:
                repo.append_audit(
                    session,
                    actor=user_id,
                    action=AUDIT_RETRY,
                    outcome=AuditOutcome.REFUSED,
                    team_id=team_id,
                    channel_id=batch_channel,
                    detail={"batch_id": batch_id, "reason": "not the requester, an approver or an admin"},
                )
                self._refusal(session, channel_id, user_id, click_id, batch_id=batch_id, reason="not_allowed")
            self._kick()
            log.info("import retry refused batch=%s user=%s", batch_id, user_id)
            return RetryResult(RetryOutcome.REFUSED)
        return self._start(batch_id, batch_channel, user_id=user_id, team_id=team_id, click_id=click_id)

    def _start(
        self, batch_id: str, channel_id: str, *, user_id: str, team_id: str | None, click_id: str
    ) -> RetryResult:
        with self._db.unit_of_work() as session:
            batch = repo.get_import_batch(session, batch_id)
            assert batch is not None
            run = latest_run(batch_id, repo.outbox_keys(session, run_prefix(batch_id))) + 1
            reset = [
                item
                for item in repo.import_items(session, batch_id)
                if item.state in RETRYABLE_ITEM_STATES
                and item.id is not None
                and repo.transition_import_item(
                    session,
                    item.id,
                    item.state,
                    ImportItemState.PENDING,
                    invoke_id=None,
                    source_server_id=None,
                    error_code=None,
                    error_message=None,
                    output_tail=None,
                    deadline_at=None,
                )
            ]
            if not reset:
                self._refusal(session, channel_id, user_id, click_id, batch_id=batch_id, reason="nothing")
                outcome = RetryResult(RetryOutcome.NOTHING)
            else:
                repo.transition_import_batch(
                    session,
                    batch_id,
                    (ImportBatchState.COMPLETED, ImportBatchState.PARTIAL, ImportBatchState.FAILED),
                    ImportBatchState.RUNNING,
                )
                repo.enqueue(
                    session,
                    run_key(batch_id, run),
                    OutboxKind.WORK,
                    {"task": "import", "batch_id": batch_id, "run": run},
                )
                labels = [{"instance_id": i.instance_id, "name": i.instance_name} for i in reset]
                notifications.import_reply(
                    session,
                    batch_id,
                    channel_id,
                    name=f"r{run}:retry",
                    event=Event.IMPORT_RETRY,
                    data={"run": run, "user": user_id, "items": labels},
                )
                notifications.refresh_import_summary(session, batch_id, channel_id)
                repo.append_audit(
                    session,
                    actor=user_id,
                    action=AUDIT_RETRY,
                    team_id=team_id,
                    channel_id=channel_id,
                    detail={"batch_id": batch_id, "run": run, "instance_ids": [i.instance_id for i in reset]},
                )
                outcome = RetryResult(RetryOutcome.STARTED, run, tuple(i.instance_id for i in reset))
        self._kick()
        if outcome.outcome is RetryOutcome.STARTED:
            log.info("import retry started batch=%s run=%s instances=%s", batch_id, run, len(reset))
        return outcome

    def _may_retry(self, channel_id: str, requester: str, user_id: str) -> bool:
        """The requester, a configured admin (or a workspace admin when none is set), or an approver."""
        if user_id == requester:
            return True
        try:
            if self._roles.is_admin(channel_id, user_id):
                return True
            policy = Policy.from_config(self._roles.get(channel_id))
            if user_id in policy.approver_users:
                return True
            directory = self._directory()
            return any(user_id in directory.members_of(group) for group in policy.approver_usergroups)
        except DirectoryUnavailable as exc:
            log.warning("cannot check import retry rights user=%s reason=%s", user_id, exc)
            return False

    def _tell(self, channel_id: str, user_id: str, click_id: str, batch_id: str, reason: str) -> None:
        with self._db.unit_of_work() as session:
            self._refusal(session, channel_id, user_id, click_id, batch_id=batch_id, reason=reason)
        self._kick()

    @staticmethod
    def _refusal(
        session: Session, channel_id: str, user_id: str, click_id: str, *, batch_id: str, reason: str
    ) -> None:
        notifications.ephemeral(
            session,
            key=f"imp:{batch_id}:refused:{user_id}:{click_id}",
            channel_id=channel_id,
            user_id=user_id,
            event=Event.IMPORT_REFUSED,
            data={"batch_id": batch_id, "reason": reason},
        )

    def failure_details(self, batch_id: str) -> Sequence[FailureDetail]:
        """The short output tail of each instance that failed (what the summary shows under its line)."""
        with self._db.unit_of_work() as session:
            items = repo.import_items(session, batch_id)
            return [
                FailureDetail(item.instance_id, _short_tail(item.output_tail))
                for item in items
                if item.state in RETRYABLE_ITEM_STATES and item.output_tail
            ]


def _short_tail(text: str | None) -> str:
    lines = (text or "").rstrip().splitlines()[-TAIL_LINES_IN_SUMMARY:]
    return "\n".join(lines)[-TAIL_CHARS_IN_SUMMARY:]
