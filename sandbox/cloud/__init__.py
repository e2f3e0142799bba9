"""The sandbox cloud: an SMC / ECS / STS simulator the official SDKs talk to over HTTP."""

from sandbox.cloud.loader import WorldError, default_world, load_world
from sandbox.cloud.simulator import CloudSimulator
from sandbox.cloud.world import World

__all__ = ["CloudSimulator", "World", "WorldError", "default_world", "load_world"]
