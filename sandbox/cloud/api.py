"""What every action handler receives, and the shape of a product's action table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.cloud.faults import Faults
from sandbox.cloud.ids import IdFactory
from sandbox.cloud.protocol import ApiError, Params, missing_param
from sandbox.cloud.replication import ReplicationEngine
from sandbox.cloud.signature import Caller
from sandbox.cloud.world import Account, World


@dataclass(slots=True)
class Context:
    """One verified call: the world, who calls, simulated now, and the simulator's services."""

    world: World
    caller: Caller
    now: datetime
    ids: IdFactory
    faults: Faults
    engine: ReplicationEngine
    action: str

    @property
    def account(self) -> Account:
        """The account the call acts in (the role's account for STS credentials)."""
        return self.world.accounts[self.caller.account_uid]

    def require_region(self, region_id: str | None, *, code: str = "InvalidRegionId.NotFound") -> str:
        """A RegionId the world knows."""
        if region_id is None:
            raise missing_param("RegionId")
        if region_id not in self.world.regions:
            raise ApiError(404, code, "The specified RegionId does not exist.")
        return region_id


Handler = Callable[[Context, Params], dict[str, Any]]
