"""`/smc import`: validate what the modal collected, store the batch, and hand it to the import runner.

SMC has no import API; the runner (`bot.domain.import_runner`, a WORK intent) drives Cloud Assistant. This
service only records the request: an `ImportBatch`, one `ImportItem` per instance, an audit event, the
thread's parent message and the work intent — all in one unit of work, so nothing is half-recorded.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError

from bot.cloud.ports import MAX_INSTANCES_PER_RUN_COMMAND, CloudError, Instance
from bot.domain import notifications
from bot.domain.errors import DomainError
from bot.domain.source_catalog import Access, AccessCheck, SourceCatalog, SourceRef
from storage import repository as repo
from storage.db import Database
from storage.enums import ImportBatchState, ImportItemState, OutboxKind
from storage.models import ImportBatch, ImportItem

log = logging.getLogger(__name__)

DEFAULT_ROLE_NAME = "ram-role-smc"
ACCOUNT_ID_DIGITS = 16
ROLE_NAME_MAX = 64
EXAMPLE_ACCOUNT = "5123456789012345"
CHECK_TIMEOUT_S = 20.0
"""After the ack of a submission there is time: wait this long for STS and ECS before giving up."""

_ROLE_NAME = re.compile(r"[A-Za-z0-9.\-]+")
_REGION_ID = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_INSTANCE_ID = re.compile(r"i-[a-z0-9]{4,}")
NOT_CHOSEN_PREFIX = "!"
"""Values of placeholder options ("Loading… type again"): never an id, so never accepted."""


class ImportField(StrEnum):
    """The import modal's fields; the Slack layer maps them to block ids."""

    ACCOUNT = "account_id"
    ROLE = "role_name"
    REGION = "region_id"
    INSTANCES = "instance_ids"


class InvalidImport(DomainError):  # noqa: N818 -- the house style's names
    """The modal's values break a rule; each message says what to enter instead."""

    def __init__(self, errors: Mapping[ImportField, str]) -> None:
        if not errors:
            raise ValueError("InvalidImport needs at least one error")
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


@dataclass(frozen=True)
class ImportDraft:
    """What the modal holds at submission (raw text, as typed) and who submitted it where."""

    team_id: str
    channel_id: str
    requester: str
    cross_account: bool
    account_id: str | None
    role_name: str | None
    region_id: str | None
    instance_ids: tuple[str, ...]
    submission_key: str | None = None
    """The same key (the modal's view id) never makes a second batch: a repeated submit is harmless."""

    @property
    def source(self) -> SourceRef:
        if not self.cross_account:
            return SourceRef()
        return SourceRef((self.account_id or "").strip(), (self.role_name or "").strip())


@dataclass(frozen=True)
class ImportDefaults:
    """What the modal starts with: the channel's configured source account, role and region."""

    account_id: str | None
    role_name: str
    region_id: str | None


@dataclass(frozen=True)
class ImportItemView:
    instance_id: str
    name: str | None
    private_ip: str | None
    state: ImportItemState
    source_server_id: str | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class ImportBatchView:
    """An import batch as the summary message, `/smc status` and the confirmation show it."""

    id: str
    team_id: str
    channel_id: str
    requester: str
    cross_account: bool
    account_id: str | None
    role_name: str | None
    region_id: str
    state: ImportBatchState
    created_at: datetime
    message_ts: str | None
    items: tuple[ImportItemView, ...]


class Outcome(StrEnum):
    SUBMITTED = "submitted"
    INVALID = "invalid"
    NEEDS_CHECK = "needs_check"


@dataclass(frozen=True)
class SubmitResult:
    """What a submission came to: the batch, the field errors, or "check the role first (after the ack)"."""

    outcome: Outcome
    batch: ImportBatchView | None = None
    errors: Mapping[ImportField, str] | None = None


# ---- rules ---------------------------------------------------------------------------------------


def account_id_problem(value: str) -> str | None:
    """Alibaba Cloud account ids are 16 digits (the console shows them under the profile icon)."""
    where = "the 16-digit ID shown under the profile icon of the source account's console"
    if not value:
        return f"Enter the source account ID: {where}, e.g. {EXAMPLE_ACCOUNT}."
    if not value.isdigit():
        return f"{value[:40]} is not an account ID: type only the digits of {where}, e.g. {EXAMPLE_ACCOUNT}."
    if len(value) != ACCOUNT_ID_DIGITS:
        digits = f"{len(value)} digits; an Alibaba Cloud account ID has {ACCOUNT_ID_DIGITS}"
        return f"{value} has {digits}: copy {where}."
    return None


def role_name_problem(value: str) -> str | None:
    """RAM's role-name rule: 1 to 64 characters, letters, digits, '.' and '-'."""
    rule = (
        f"1 to {ROLE_NAME_MAX} letters, digits, '.' or '-', as created in Step 1 (e.g. {DEFAULT_ROLE_NAME})"
    )
    if not value:
        return f"Enter the RAM role name of the source account: {rule}."
    if len(value) > ROLE_NAME_MAX:
        return f"The role name is {len(value)} characters long: a RAM role name has {rule}."
    if not _ROLE_NAME.fullmatch(value):
        bad = sorted({c for c in value if not _ROLE_NAME.fullmatch(c)})
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        return f"{value} contains {shown}: a RAM role name has {rule}."
    return None


def validate(draft: ImportDraft) -> dict[ImportField, str]:
    """Local rules only (no cloud): formats, required fields, the 100-instance batch limit."""
    errors: dict[ImportField, str] = {}
    if draft.cross_account:
        problem = account_id_problem((draft.account_id or "").strip())
        if problem:
            errors[ImportField.ACCOUNT] = problem
        problem = role_name_problem((draft.role_name or "").strip())
        if problem:
            errors[ImportField.ROLE] = problem
    region = (draft.region_id or "").strip()
    if not region or region.startswith(NOT_CHOSEN_PREFIX) or not _REGION_ID.fullmatch(region):
        errors[ImportField.REGION] = "Choose the region of the source instances from the list."
    chosen = [i for i in draft.instance_ids if not i.startswith(NOT_CHOSEN_PREFIX)]
    if not chosen:
        errors[ImportField.INSTANCES] = (
            "Choose at least one instance: type part of its ID, name or private IP to search."
        )
    elif len(set(chosen)) > MAX_INSTANCES_PER_RUN_COMMAND:
        errors[ImportField.INSTANCES] = (
            f"Choose at most {MAX_INSTANCES_PER_RUN_COMMAND} instances per import (one Cloud Assistant "
            f"command reaches {MAX_INSTANCES_PER_RUN_COMMAND}); import the rest in a second batch."
        )
    else:
        bad = [i for i in chosen if not _INSTANCE_ID.fullmatch(i)]
        if bad:
            errors[ImportField.INSTANCES] = (
                f"{bad[0][:40]} is not an instance ID: remove it and pick instances from the list."
            )
    if len(chosen) != len(draft.instance_ids) and ImportField.INSTANCES not in errors:
        errors[ImportField.INSTANCES] = "The list was still loading: open it again and pick the instances."
    return errors


def region_problems(draft: ImportDraft, known: Mapping[str, Instance], region: str) -> dict[ImportField, str]:
    """Instances that were picked before the region changed, or that no longer exist."""
    elsewhere = [i for i, inst in known.items() if inst.region != region]
    if elsewhere:
        other = known[elsewhere[0]]
        return {
            ImportField.INSTANCES: f"{other.id} ({other.name}) is in {other.region}, not {region}: "
            "remove it or choose its region."
        }
    missing = [i for i in draft.instance_ids if i not in known]
    if missing:
        return {
            ImportField.INSTANCES: f"{missing[0]} was not found in {region} of this account: "
            "remove it and pick instances from the list."
        }
    return {}


def batch_id_for(submission_key: str | None) -> str:
    """A batch id; derived from the submission key so a repeated submission finds the same batch."""
    if submission_key is None:
        return repo.new_id("imp")
    digest = hashlib.sha256(submission_key.encode()).digest()
    return "imp-" + base64.b32encode(digest).decode().lower()[:10]


# ---- the service ---------------------------------------------------------------------------------


class ImportService:
    """Records import batches; the runner executes them from the WORK intent."""

    def __init__(self, db: Database, catalog: SourceCatalog, *, kick: Callable[[], None]) -> None:
        self._db = db
        self._catalog = catalog
        self._kick = kick

    def defaults(self, channel_id: str) -> ImportDefaults:
        with self._db.unit_of_work() as session:
            config = repo.get_channel_config(session, channel_id)
            if config is None:
                return ImportDefaults(None, DEFAULT_ROLE_NAME, None)
            return ImportDefaults(
                config.default_source_account,
                config.default_role_name or DEFAULT_ROLE_NAME,
                config.default_region,
            )

    def validate(self, draft: ImportDraft) -> dict[ImportField, str]:
        return validate(draft)

    def try_submit(self, draft: ImportDraft) -> SubmitResult:
        """Submit without any cloud call (inside Slack's 3 s), or say a check is needed first."""
        errors = validate(draft)
        if errors:
            return SubmitResult(Outcome.INVALID, errors=errors)
        ref = draft.source
        access = self._catalog.access(ref)
        if access.access is Access.REFUSED:
            return SubmitResult(Outcome.INVALID, errors=self._access_errors(access))
        known = self._catalog.known_instances(ref, draft.instance_ids)
        if access.access is Access.UNKNOWN or len(known) < len(set(draft.instance_ids)):
            return SubmitResult(Outcome.NEEDS_CHECK)
        return self._submit_or_errors(draft, known)

    def submit_after_check(self, draft: ImportDraft, timeout_s: float = CHECK_TIMEOUT_S) -> SubmitResult:
        """Assume the role and look the instances up (network; run after the ack), then submit."""
        errors = validate(draft)
        if errors:
            return SubmitResult(Outcome.INVALID, errors=errors)
        ref = draft.source
        access = self._catalog.check_access(ref, timeout_s)
        if access.access is not Access.OK:
            return SubmitResult(Outcome.INVALID, errors=self._access_errors(access))
        region = (draft.region_id or "").strip()
        try:
            known = self._catalog.describe(ref, region, draft.instance_ids, timeout_s)
        except CloudError as err:
            again = self._catalog.access(ref)
            if again.access is Access.REFUSED:
                return SubmitResult(Outcome.INVALID, errors=self._access_errors(again))
            return SubmitResult(
                Outcome.INVALID,
                errors={
                    ImportField.INSTANCES: f"Could not look the instances up ({err.code}): submit again."
                },
            )
        except FutureTimeout:
            return SubmitResult(
                Outcome.INVALID,
                errors={ImportField.INSTANCES: "The source account did not answer in time: submit again."},
            )
        return self._submit_or_errors(draft, known)

    def _submit_or_errors(self, draft: ImportDraft, known: Mapping[str, Instance]) -> SubmitResult:
        try:
            return SubmitResult(Outcome.SUBMITTED, batch=self.submit(draft, known))
        except InvalidImport as err:
            return SubmitResult(Outcome.INVALID, errors=err.errors)

    @staticmethod
    def _access_errors(access: AccessCheck) -> dict[ImportField, str]:
        return {ImportField.ROLE: access.message or "The bot cannot use this role yet: submit again."}

    def submit(self, draft: ImportDraft, known: Mapping[str, Instance] | None = None) -> ImportBatchView:
        """Store the batch, its items, the audit event, the thread's parent and the runner's intent."""
        errors = validate(draft)
        region = (draft.region_id or "").strip()
        if not errors and known is not None:
            errors = region_problems(draft, known, region)
        if errors:
            raise InvalidImport(errors)
        ref = draft.source
        batch_id = batch_id_for(draft.submission_key)
        instance_ids = list(dict.fromkeys(draft.instance_ids))
        try:
            view, created = self._record(draft, batch_id, region, instance_ids, known or {})
        except IntegrityError:
            # The same submission, recorded by a concurrent request a moment ago.
            found = self.summary(batch_id)
            if found is None:
                raise
            return found
        if created:
            log.info(
                "import batch recorded batch=%s account=%s region=%s instances=%s",
                batch_id,
                ref.account_id or "same-account",
                region,
                len(instance_ids),
            )
            self._kick()
        return view

    def _record(
        self,
        draft: ImportDraft,
        batch_id: str,
        region: str,
        instance_ids: Sequence[str],
        known: Mapping[str, Instance],
    ) -> tuple[ImportBatchView, bool]:
        ref = draft.source
        with self._db.unit_of_work() as session:
            existing = repo.get_import_batch(session, batch_id)
            if existing is not None:
                return _view(existing, repo.import_items(session, batch_id)), False
            batch = ImportBatch(
                id=batch_id,
                team_id=draft.team_id,
                channel_id=draft.channel_id,
                requester=draft.requester,
                cross_account=draft.cross_account,
                source_account_id=ref.account_id,
                role_name=ref.role_name,
                region_id=region,
            )
            repo.add(session, batch)
            for instance_id in instance_ids:
                instance = known.get(instance_id)
                session.add(
                    ImportItem(
                        batch_id=batch_id,
                        instance_id=instance_id,
                        instance_name=(instance.name[:128] or None) if instance else None,
                        private_ip=instance.private_ip if instance else None,
                    )
                )
            session.flush()
            repo.append_audit(
                session,
                actor=draft.requester,
                action="import.submit",
                team_id=draft.team_id,
                channel_id=draft.channel_id,
                detail={
                    "batch_id": batch_id,
                    "cross_account": draft.cross_account,
                    "account_id": ref.account_id,
                    "role_name": ref.role_name,
                    "region_id": region,
                    "instance_ids": instance_ids,
                },
            )
            notifications.post_import_summary(session, batch_id, draft.channel_id)
            repo.enqueue(
                session,
                run_key(batch_id),
                OutboxKind.WORK,
                {"task": "import", "batch_id": batch_id},
                channel_id=None,
            )
            return _view(batch, repo.import_items(session, batch_id)), True

    def summary(self, batch_id: str) -> ImportBatchView | None:
        """The batch and its items as they are now (renderers re-read this on every edit)."""
        with self._db.unit_of_work() as session:
            batch = repo.get_import_batch(session, batch_id)
            if batch is None:
                return None
            view = _view(batch, repo.import_items(session, batch_id))
            if view.message_ts is None:
                posted = repo.get_outbox(session, notifications.import_summary_key(batch_id))
                if posted is not None and posted.result_ts:
                    view = replace(view, message_ts=posted.result_ts)
            return view


def run_key(batch_id: str) -> str:
    """The idempotency key of the runner's WORK intent."""
    return f"work:imp:{batch_id}:run"


def _view(batch: ImportBatch, items: Sequence[ImportItem]) -> ImportBatchView:
    return ImportBatchView(
        id=batch.id,
        team_id=batch.team_id,
        channel_id=batch.channel_id,
        requester=batch.requester,
        cross_account=batch.cross_account,
        account_id=batch.source_account_id,
        role_name=batch.role_name,
        region_id=batch.region_id,
        state=batch.state,
        created_at=batch.created_at,
        message_ts=batch.message_ts,
        items=tuple(
            ImportItemView(
                instance_id=i.instance_id,
                name=i.instance_name,
                private_ip=i.private_ip,
                state=i.state,
                source_server_id=i.source_server_id,
                error_code=i.error_code,
                error_message=i.error_message,
            )
            for i in items
        ),
    )
