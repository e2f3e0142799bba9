"""Fault injection: error rates, throttling, latency, scripted job and command failures, agents offline."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.cloud.protocol import ApiError

ANY_ACTION = "*"
INTERNAL_ERROR_MESSAGE = "The request processing has failed due to some unknown error, exception or failure."
THROTTLING_MESSAGES = {
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "Throttling.Resource": "Request was denied due to resource flow control.",
    "Throttling": "Request was denied due to request throttling.",
}


@dataclass(slots=True)
class ErrorRule:
    """Answer a share of calls with an error (default 500 InternalError); `times` caps how many."""

    rate: float
    code: str = "InternalError"
    status: int = 500
    message: str = INTERNAL_ERROR_MESSAGE
    times: int | None = None


@dataclass(slots=True)
class ThrottleRule:
    """Answer a share of calls with 400 Throttling.* and `x-acs-retry-after`; `times` caps how many."""

    rate: float = 1.0
    retry_after_ms: int = 1000
    code: str = "Throttling.User"
    times: int | None = None


@dataclass(slots=True)
class JobFailure:
    """Put a matching replication job InError when its progress reaches `at_progress` (fires once)."""

    at_progress: float
    code: str = "InternalError"
    message: str = "The replication job failed on the sandbox's instruction."
    job_id: str = ""
    source_id: str = ""
    job_name: str = ""

    def matches(self, job_id: str, source_id: str, job_name: str) -> bool:
        """Whether this failure is scripted for that job (all given selectors must match)."""
        selectors = (
            (self.job_id, job_id),
            (self.source_id, source_id),
            (self.job_name, job_name),
        )
        given = [(wanted, actual) for wanted, actual in selectors if wanted]
        return bool(given) and all(wanted == actual for wanted, actual in given)


@dataclass(slots=True)
class CommandFailure:
    """Make Cloud Assistant commands on an instance fail with this exit code and output."""

    exit_code: int = 1
    output: str = "command failed on the sandbox's instruction\n"
    error_code: str = "ExitCodeNonzero"
    error_info: str = "the command execution exit code is not zero"


@dataclass(slots=True)
class FaultConfig:
    """The fault settings a world file (key `faults:`) or the admin API carries."""

    errors: dict[str, ErrorRule] = field(default_factory=dict)
    throttles: dict[str, ThrottleRule] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    job_failures: list[JobFailure] = field(default_factory=list)
    agent_offline: set[str] = field(default_factory=set)
    command_failures: dict[str, CommandFailure] = field(default_factory=dict)
    seed: int = 0


def _rule_kwargs(data: Any, allowed: set[str], what: str) -> dict[str, Any]:
    if isinstance(data, int | float):
        return {"rate": float(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a mapping or a number")
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}")
    return dict(data)


def parse_fault_config(data: Mapping[str, Any] | None) -> FaultConfig:
    """Build a FaultConfig from the world-file / admin-API schema (see docs/SANDBOX.md)."""
    config = FaultConfig()
    if not data:
        return config
    merge_fault_config(config, data)
    return config


def merge_fault_config(config: FaultConfig, data: Mapping[str, Any]) -> None:
    """Apply the keys present in `data` on top of `config`."""
    known = {"errors", "throttle", "latency", "job_failures", "agent_offline", "command_failures", "seed"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"faults: unknown keys {sorted(unknown)}")
    for action, rule in (data.get("errors") or {}).items():
        kwargs = _rule_kwargs(rule, {"rate", "code", "status", "message", "times"}, f"errors.{action}")
        config.errors[str(action)] = ErrorRule(**kwargs)
    for action, rule in (data.get("throttle") or {}).items():
        kwargs = _rule_kwargs(rule, {"rate", "retry_after_ms", "code", "times"}, f"throttle.{action}")
        config.throttles[str(action)] = ThrottleRule(**kwargs)
    for action, seconds in (data.get("latency") or {}).items():
        config.latency[str(action)] = float(seconds)
    for item in data.get("job_failures") or []:
        kwargs = _rule_kwargs(
            item, {"at_progress", "code", "message", "job_id", "source_id", "job_name"}, "job_failures[]"
        )
        config.job_failures.append(JobFailure(**kwargs))
    for instance_id in data.get("agent_offline") or []:
        config.agent_offline.add(str(instance_id))
    for instance_id, failure in (data.get("command_failures") or {}).items():
        kwargs = _rule_kwargs(
            failure or {}, {"exit_code", "output", "error_code", "error_info"}, "command_failures"
        )
        kwargs.pop("rate", None)
        config.command_failures[str(instance_id)] = CommandFailure(**kwargs)
    if "seed" in data:
        config.seed = int(data["seed"])


def fault_config_to_dict(config: FaultConfig) -> dict[str, Any]:
    """The world-file / admin-API form of a FaultConfig."""
    return {
        "errors": {key: asdict(rule) for key, rule in config.errors.items()},
        "throttle": {key: asdict(rule) for key, rule in config.throttles.items()},
        "latency": dict(config.latency),
        "job_failures": [asdict(item) for item in config.job_failures],
        "agent_offline": sorted(config.agent_offline),
        "command_failures": {key: asdict(item) for key, item in config.command_failures.items()},
        "seed": config.seed,
    }


class Faults:
    """Runtime fault switchboard shared by the HTTP server, the admin API and in-process tests."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._random = random.Random(self._config.seed)

    # -- setting -------------------------------------------------------------------------------------
    def set_error_rate(
        self,
        action: str,
        rate: float,
        *,
        code: str = "InternalError",
        status: int = 500,
        message: str = INTERNAL_ERROR_MESSAGE,
        times: int | None = None,
    ) -> None:
        """Fail `rate` (0..1) of calls to `action` (`*` = every action); rate 0 removes the rule."""
        with self._lock:
            if rate <= 0 and times is None:
                self._config.errors.pop(action, None)
                return
            self._config.errors[action] = ErrorRule(rate, code, status, message, times)

    def throttle(
        self,
        action: str = ANY_ACTION,
        *,
        rate: float = 1.0,
        times: int | None = None,
        retry_after_ms: int = 1000,
        code: str = "Throttling.User",
    ) -> None:
        """Throttle `rate` of calls to `action` (`times`: only the next N matching calls)."""
        with self._lock:
            if rate <= 0:
                self._config.throttles.pop(action, None)
                return
            self._config.throttles[action] = ThrottleRule(rate, retry_after_ms, code, times)

    def set_latency(self, action: str, seconds: float) -> None:
        """Delay answers to `action` (`*` = every action) by `seconds` of real time; 0 removes it."""
        with self._lock:
            if seconds <= 0:
                self._config.latency.pop(action, None)
            else:
                self._config.latency[action] = float(seconds)

    def fail_job(
        self,
        *,
        at_progress: float,
        code: str = "InternalError",
        message: str = "The replication job failed on the sandbox's instruction.",
        job_id: str = "",
        source_id: str = "",
        job_name: str = "",
    ) -> None:
        """Script a replication job (by id, source or name) to go InError at a progress percentage."""
        if not (job_id or source_id or job_name):
            raise ValueError("fail_job needs job_id, source_id or job_name")
        with self._lock:
            self._config.job_failures.append(
                JobFailure(at_progress, code, message, job_id, source_id, job_name)
            )

    def set_agent_offline(self, instance_id: str, offline: bool = True) -> None:
        """Take an instance's Cloud Assistant agent offline (or bring it back)."""
        with self._lock:
            if offline:
                self._config.agent_offline.add(instance_id)
            else:
                self._config.agent_offline.discard(instance_id)

    def fail_command(
        self,
        instance_id: str,
        *,
        exit_code: int = 1,
        output: str = "command failed on the sandbox's instruction\n",
        error_code: str = "ExitCodeNonzero",
        error_info: str = "the command execution exit code is not zero",
    ) -> None:
        """Make Cloud Assistant commands on an instance fail."""
        with self._lock:
            self._config.command_failures[instance_id] = CommandFailure(
                exit_code, output, error_code, error_info
            )

    def clear_command_failure(self, instance_id: str) -> None:
        """Let commands on an instance succeed again."""
        with self._lock:
            self._config.command_failures.pop(instance_id, None)

    def update(self, data: Mapping[str, Any]) -> None:
        """Merge settings in the world-file schema."""
        with self._lock:
            merge_fault_config(self._config, data)
            if "seed" in data:
                self._random = random.Random(self._config.seed)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._config = FaultConfig(seed=self._config.seed)

    def snapshot(self) -> dict[str, Any]:
        """Current settings in the world-file schema."""
        with self._lock:
            return fault_config_to_dict(self._config)

    # -- consulted by the server and the simulation ---------------------------------------------------
    def latency_for(self, action: str) -> float:
        """Real seconds to wait before answering `action`."""
        with self._lock:
            return self._config.latency.get(action, self._config.latency.get(ANY_ACTION, 0.0))

    def injected_error(self, action: str) -> ApiError | None:
        """The throttling or error answer to give this call instead of the real one, if any."""
        with self._lock:
            throttle_key = action if action in self._config.throttles else ANY_ACTION
            throttle = self._config.throttles.get(throttle_key)
            if throttle is not None and self._fires(throttle.rate, throttle.times):
                if throttle.times is not None:
                    throttle.times -= 1
                    if throttle.times <= 0:
                        del self._config.throttles[throttle_key]
                message = THROTTLING_MESSAGES.get(throttle.code, THROTTLING_MESSAGES["Throttling"])
                return ApiError(
                    400, throttle.code, message, {"x-acs-retry-after": str(max(throttle.retry_after_ms, 1))}
                )
            error_key = action if action in self._config.errors else ANY_ACTION
            error = self._config.errors.get(error_key)
            if error is not None and self._fires(error.rate, error.times):
                if error.times is not None:
                    error.times -= 1
                    if error.times <= 0:
                        del self._config.errors[error_key]
                return ApiError(error.status, error.code, error.message)
            return None

    def _fires(self, rate: float, times: int | None) -> bool:
        if times is not None and times <= 0:
            return False
        return rate >= 1.0 or self._random.random() < rate

    def job_failure_for(self, job_id: str, source_id: str, job_name: str) -> JobFailure | None:
        """The scripted failure waiting for this job, if any."""
        with self._lock:
            for failure in self._config.job_failures:
                if failure.matches(job_id, source_id, job_name):
                    return failure
            return None

    def consume_job_failure(self, failure: JobFailure) -> None:
        """A scripted job failure fired; later retries run clean."""
        with self._lock:
            self._config.job_failures = [item for item in self._config.job_failures if item is not failure]

    def agent_offline(self, instance_id: str) -> bool:
        """Whether the Cloud Assistant agent of an instance is forced offline."""
        with self._lock:
            return instance_id in self._config.agent_offline

    def command_failure(self, instance_id: str) -> CommandFailure | None:
        """The scripted failure for commands on an instance, if any."""
        with self._lock:
            return self._config.command_failures.get(instance_id)
