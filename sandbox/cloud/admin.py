"""The admin API under `/_sandbox/` (JSON, unsigned): clock, faults, received calls, state overview."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sandbox.cloud.protocol import iso
from sandbox.cloud.smc_views import token_status

if TYPE_CHECKING:
    from sandbox.cloud.simulator import CloudSimulator

ADMIN_PREFIX = "/_sandbox"
Reply = tuple[int, dict[str, str], bytes]


class AdminError(Exception):
    """A 4xx answer from the admin API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reply(status: int, data: Mapping[str, Any]) -> Reply:
    return status, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(data).encode()


def _number(body: Mapping[str, Any], key: str) -> float:
    value = body.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AdminError(400, f"`{key}` must be a number")
    return float(value)


def _text(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise AdminError(400, f"`{key}` must be a non-empty string")
    return value


def _clock(sim: CloudSimulator) -> dict[str, Any]:
    return {"now": iso(sim.clock.now()), "time_scale": sim.clock.time_scale}


def _set_clock(sim: CloudSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    if "time_scale" in body:
        scale = _number(body, "time_scale")
        if scale < 0:
            raise AdminError(400, "`time_scale` must be >= 0")
        sim.set_time_scale(scale)
    for key in ("advance", "seconds"):
        if key in body:
            seconds = _number(body, key)
            if seconds < 0:
                raise AdminError(400, "the clock only moves forward")
            sim.advance(seconds)
    return _clock(sim)


def _state(sim: CloudSimulator) -> dict[str, Any]:
    world = sim.world
    now = sim.clock.now()
    return {
        "now": iso(now),
        "jobs": [
            {
                "job_id": job.job_id,
                "account": job.account_uid,
                "name": job.name,
                "source_id": job.source_id,
                "status": job.status.value,
                "business_status": job.phase.value if job.phase else "",
                "progress": job.progress,
                "error_code": job.error_code,
                "runs": len(job.runs),
            }
            for job in world.jobs.values()
        ],
        "source_servers": [
            {
                "source_id": item.source_id,
                "account": item.account_uid,
                "name": item.name,
                "state": item.state.value,
            }
            for item in world.source_servers.values()
        ],
        "access_tokens": [
            {
                "access_token_id": token.token_id,
                "account": token.account_uid,
                "registered_count": token.registered_count,
                "count": token.count,
                "status": token_status(token, now),
            }
            for token in world.access_tokens.values()
        ],
    }


def _fault_route(sim: CloudSimulator, kind: str, body: Mapping[str, Any]) -> None:
    faults = sim.faults
    try:
        if kind == "error_rate":
            faults.set_error_rate(
                _text(body, "action", "*"),
                _number(body, "rate"),
                code=str(body.get("code", "InternalError")),
                status=int(body.get("status", 500)),
                message=str(
                    body.get("message", "The request processing has failed due to some unknown error.")
                ),
                times=int(body["times"]) if "times" in body else None,
            )
        elif kind == "throttle":
            faults.throttle(
                _text(body, "action", "*"),
                rate=float(body.get("rate", 1.0)),
                times=int(body["times"]) if "times" in body else None,
                retry_after_ms=int(body.get("retry_after_ms", 1000)),
                code=str(body.get("code", "Throttling.User")),
            )
        elif kind == "latency":
            faults.set_latency(_text(body, "action", "*"), _number(body, "seconds"))
        elif kind == "job_failure":
            faults.fail_job(
                at_progress=_number(body, "at_progress"),
                code=str(body.get("code", "InternalError")),
                message=str(body.get("message", "The replication job failed on the sandbox's instruction.")),
                job_id=str(body.get("job_id", "")),
                source_id=str(body.get("source_id", "")),
                job_name=str(body.get("job_name", "")),
            )
        elif kind == "agent_offline":
            faults.set_agent_offline(_text(body, "instance_id"), bool(body.get("offline", True)))
        elif kind == "command_failure":
            instance_id = _text(body, "instance_id")
            if body.get("clear"):
                faults.clear_command_failure(instance_id)
            else:
                faults.fail_command(
                    instance_id,
                    exit_code=int(body.get("exit_code", 1)),
                    output=str(body.get("output", "command failed on the sandbox's instruction\n")),
                    error_code=str(body.get("error_code", "ExitCodeNonzero")),
                    error_info=str(body.get("error_info", "the command execution exit code is not zero")),
                )
        else:
            raise AdminError(404, f"unknown fault kind {kind!r}")
    except ValueError as error:
        raise AdminError(400, str(error)) from None


Route = Callable[["CloudSimulator", Mapping[str, str], Mapping[str, Any]], dict[str, Any]]


def _routes() -> dict[tuple[str, str], Route]:
    def faults_update(
        sim: CloudSimulator, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        try:
            sim.faults.update(body)
        except (TypeError, ValueError) as error:
            raise AdminError(400, str(error)) from None
        return sim.faults.snapshot()

    def faults_clear(
        sim: CloudSimulator, query: Mapping[str, str], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        sim.faults.clear()
        return sim.faults.snapshot()

    def calls(sim: CloudSimulator, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        return {"calls": [call.as_dict() for call in sim.calls(query.get("action"))]}

    def calls_reset(sim: CloudSimulator, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        sim.reset_calls()
        return {"reset": True}

    routes: dict[tuple[str, str], Route] = {
        ("GET", "/health"): lambda sim, q, b: {"status": "ok", **_clock(sim)},
        ("GET", "/clock"): lambda sim, q, b: _clock(sim),
        ("POST", "/clock"): lambda sim, q, b: _set_clock(sim, b),
        ("POST", "/clock/advance"): lambda sim, q, b: _set_clock(sim, {"advance": b.get("seconds")}),
        ("POST", "/clock/time_scale"): lambda sim, q, b: _set_clock(sim, {"time_scale": b.get("time_scale")}),
        ("GET", "/faults"): lambda sim, q, b: sim.faults.snapshot(),
        ("POST", "/faults"): faults_update,
        ("DELETE", "/faults"): faults_clear,
        ("GET", "/calls"): calls,
        ("DELETE", "/calls"): calls_reset,
        ("POST", "/calls/reset"): calls_reset,
        ("GET", "/state"): lambda sim, q, b: _state(sim),
    }
    for kind in ("error_rate", "throttle", "latency", "job_failure", "agent_offline", "command_failure"):

        def route(
            sim: CloudSimulator, query: Mapping[str, str], body: Mapping[str, Any], kind: str = kind
        ) -> dict[str, Any]:
            _fault_route(sim, kind, body)
            return sim.faults.snapshot()

        routes[("POST", f"/faults/{kind}")] = route
    return routes


ROUTES = _routes()


def handle_admin(sim: CloudSimulator, method: str, path: str, query: Mapping[str, str], body: bytes) -> Reply:
    """Answer one admin request."""
    relative = path[len(ADMIN_PREFIX) :].rstrip("/") or "/health"
    route = ROUTES.get((method, relative))
    if route is None:
        known = sorted(f"{verb} {ADMIN_PREFIX}{name}" for verb, name in ROUTES)
        return _reply(404, {"error": f"no admin route {method} {path}", "routes": known})
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _reply(400, {"error": "the body must be a JSON object"})
    if not isinstance(data, dict):
        return _reply(400, {"error": "the body must be a JSON object"})
    try:
        return _reply(200, route(sim, query, data))
    except AdminError as error:
        return _reply(error.status, {"error": error.message})
