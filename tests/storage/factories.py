"""Small builders for rows the storage tests need."""

from __future__ import annotations

from storage.enums import ExecutionMethod, RequestState, TargetType
from storage.models import MigrationRequest
from storage.repository import new_id


def migration_request(
    state: RequestState = RequestState.AWAITING_APPROVAL, **overrides: object
) -> MigrationRequest:
    values: dict[str, object] = {
        "id": new_id("r"),
        "team_id": "T0SANDBOX",
        "channel_id": "C0MIGRATE",
        "requester": "U0REQUEST",
        "source_id": "s-bp1source01",
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "execution_method": ExecutionMethod.MIGRATE_NOW,
        "params": {"target_type": "Image", "region": "cn-hangzhou"},
        "params_hash": "a" * 64,
        "state": state,
    }
    values.update(overrides)
    return MigrationRequest.model_validate(values)
