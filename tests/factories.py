"""Rows as the bot's own flows store them, for tests that start past those flows."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.params import MigrationParams
from storage.enums import RequestState
from storage.models import MigrationRequest


def new_request(
    request_id: str,
    params: MigrationParams,
    *,
    team_id: str,
    channel_id: str,
    requester: str,
    state: RequestState,
    **columns: Any,
) -> MigrationRequest:
    """A migration request as the migrate modal stores it: the columns derived from `params`, its
    canonical JSON and hash; `columns` sets the rest (approval round, pending action, times)."""
    return MigrationRequest(
        id=request_id,
        team_id=team_id,
        channel_id=channel_id,
        requester=requester,
        source_id=params.source_id,
        target_type=params.target_type,
        region_id=params.region_id,
        execution_method=params.execution_method,
        params=json.loads(params.canonical_json()),
        params_hash=params.params_hash(),
        state=state,
        **columns,
    )
