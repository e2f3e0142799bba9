"""Saved parameter presets (the console's "migration template"), one namespace per Slack workspace.

A template keeps what is reusable across servers — destination type and region, the migration test and
execution method, incremental sync, network, transfer settings, licence, tags, intermediate instance
type and description — and never what belongs to one migration: the source server, the destination
instance or image name, the job name, the schedule, the private IP and the disk layout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from bot.domain.errors import Conflict, DomainError, NotAllowed, NotFound
from bot.domain.params import Field, MigrationParams
from bot.domain.validation import validate_static
from storage import repository as repo
from storage.db import Database
from storage.models import ParamTemplate

NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,63}")

KEPT: Mapping[Field, str] = {
    Field.TARGET_TYPE: "target_type",
    Field.REGION: "region_id",
    Field.MIGRATION_TEST: "migration_test",
    Field.EXECUTION_METHOD: "execution_method",
    Field.INCREMENTAL: "incremental",
    Field.SYNC_INTERVAL: "sync_interval_hours",
    Field.MAX_IMAGES: "max_reserved_images",
    Field.NETWORK_TYPE: "network_type",
    Field.VPC: "vpc_id",
    Field.VSWITCH: "vswitch_id",
    Field.SPEED_LIMIT: "speed_limit_mbps",
    Field.COMPRESSION: "compression_level",
    Field.CHECKSUM: "checksum",
    Field.LICENSE_TYPE: "license_type",
    Field.TAGS: "tags",
    Field.INSTANCE_TYPE: "instance_type",
    Field.DESCRIPTION: "description",
}
"""The fields a template keeps, with their `MigrationParams` attribute names (the keys of `params`)."""

_CANONICAL_VERSION_KEY = "canonical_version"


class InvalidTemplate(DomainError):  # noqa: N818 -- the house style's names
    """The name or the parameters cannot make a template; the message says what to type instead."""


@dataclass(frozen=True)
class Template:
    """A saved preset: `params` holds only KEPT attributes, in `MigrationParams` JSON form."""

    name: str
    params: Mapping[str, Any]
    created_by: str
    updated_at: datetime


@dataclass(frozen=True)
class SavedTemplate:
    template: Template
    replaced: bool
    request_id: str


def name_problem(name: str) -> str | None:
    """Template names: 2 to 64 characters, a letter first, then letters, digits, '.', '_' or '-'."""
    rule = "use 2 to 64 characters: a letter first, then letters, digits, '.', '_' or '-' (e.g. web-to-hz)"
    if not name:
        return f"Name the template: {rule}."
    if not _NAME.fullmatch(name):
        return f"`{name[:70]}` cannot be a template name: {rule}."
    return None


def request_params(stored: Mapping[str, Any]) -> MigrationParams:
    """A request's stored parameters (canonical JSON, with or without its version key) as the model."""
    data = {k: v for k, v in stored.items() if k != _CANONICAL_VERSION_KEY}
    return MigrationParams.model_validate(data)


def template_params(params: MigrationParams) -> dict[str, Any]:
    """The reusable part of `params`, validated; InvalidTemplate names what is wrong."""
    problems = [e for e in validate_static(params) if e.field in KEPT]
    if problems:
        raise InvalidTemplate(
            "These parameters cannot be saved as a template: " + " ".join(e.message for e in problems)
        )
    data = params.model_dump(mode="json")
    return {attr: data[attr] for attr in KEPT.values()}


def apply_template(template: Template, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` (MigrationParams JSON form) with the template's values on top (the migrate modal's start)."""
    return {**dict(params), **{k: v for k, v in template.params.items() if k in KEPT.values()}}


class TemplateService:
    """Save, list, get and delete templates of a workspace; every change is audited."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(
        self, *, team_id: str, channel_id: str, user_id: str, name: str, request_id: str
    ) -> SavedTemplate:
        """Save the reusable parameters of an existing request under `name` (replacing one's own template)."""
        problem = name_problem(name)
        if problem:
            raise InvalidTemplate(problem)
        with self._db.unit_of_work() as session:
            request = repo.get_request(session, request_id)
            if request is None or request.team_id != team_id:
                raise NotFound(f"Request `{request_id}`")
            try:
                params = template_params(request_params(request.params))
            except ValidationError as err:
                raise InvalidTemplate(
                    f"Request `{request_id}` has parameters this bot can no longer read "
                    f"({err.error_count()} problems): start a new request and save that one."
                ) from None
            existing = repo.get_template(session, team_id, name)
            if existing is not None and not self._may_change(session, existing, user_id, channel_id):
                raise Conflict(
                    f"The template `{name}` belongs to <@{existing.created_by}>: choose another name, "
                    "or ask them or a channel admin to delete it first."
                )
            saved = repo.save_template(
                session, ParamTemplate(team_id=team_id, name=name, params=params, created_by=user_id)
            )
            repo.append_audit(
                session,
                actor=user_id,
                action="template.save",
                team_id=team_id,
                channel_id=channel_id,
                request_id=request_id,
                params_hash=request.params_hash,
                detail={"name": name, "replaced": existing is not None},
            )
            return SavedTemplate(_template(saved), replaced=existing is not None, request_id=request_id)

    def list(self, team_id: str) -> Sequence[Template]:
        with self._db.unit_of_work() as session:
            return tuple(_template(t) for t in repo.list_templates(session, team_id))

    def get(self, team_id: str, name: str) -> Template | None:
        """The template the migrate modal's "start from template" select names, or None."""
        with self._db.unit_of_work() as session:
            found = repo.get_template(session, team_id, name)
            return _template(found) if found is not None else None

    def delete(self, *, team_id: str, channel_id: str, user_id: str, name: str) -> Template:
        """Delete a template: its creator, or an admin of the channel the command came from."""
        with self._db.unit_of_work() as session:
            existing = repo.get_template(session, team_id, name)
            if existing is None:
                raise NotFound(f"Template `{name}`")
            if not self._may_change(session, existing, user_id, channel_id):
                raise NotAllowed(
                    f"Only <@{existing.created_by}>, who saved `{name}`, or an admin of this channel can "
                    "delete it."
                )
            gone = _template(existing)
            repo.delete_template(session, team_id, name)
            repo.append_audit(
                session,
                actor=user_id,
                action="template.delete",
                team_id=team_id,
                channel_id=channel_id,
                detail={"name": name, "created_by": existing.created_by},
            )
            return gone

    @staticmethod
    def _may_change(session: Session, template: ParamTemplate, user_id: str, channel_id: str) -> bool:
        if template.created_by == user_id:
            return True
        config = repo.get_channel_config(session, channel_id)
        return config is not None and user_id in config.admin_users


def _template(row: ParamTemplate) -> Template:
    return Template(
        name=row.name, params=dict(row.params), created_by=row.created_by, updated_at=row.updated_at
    )
