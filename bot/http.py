"""HTTP mode: one Starlette app serving Slack at POST /slack/events, plus /healthz and /metrics.

Bolt's own Starlette adapter parses the body before it checks the signature and runs the synchronous
dispatch on the event loop; here the signature is checked first (401, nothing happens), malformed bodies
get a 400 instead of a 500, and dispatch runs in a worker thread so one slow ack never blocks another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000

HealthCheck = Callable[[], tuple[bool, Mapping[str, Any]]]
MetricsExporter = Callable[[], tuple[bytes, str]]
AckObserver = Callable[[str, float, int], None]
Serving = Callable[[], AbstractContextManager[None]]
"""Held while one Slack request is being answered (after-ack work yields to it)."""


def _kind(body: str) -> str:
    """Which Slack surface a body comes from, for metrics: command, interaction, options or event."""
    if body.startswith("payload="):
        return "interaction"
    if "command=" in body:
        return "command"
    if body.startswith("{"):
        return "event"
    return "options" if "action_id" in body else "other"


_OBJECTS = ("user", "team", "channel", "view", "container", "message", "enterprise", "event", "state")
_TEXTS = (
    "type",
    "command",
    "text",
    "user_id",
    "channel_id",
    "team_id",
    "trigger_id",
    "response_url",
    "callback_id",
    "action_id",
    "block_id",
    "value",
)
_VIEW_TEXTS = ("id", "type", "callback_id", "hash", "private_metadata", "external_id")


def slack_shaped(body: object) -> bool:
    """Whether a signed body has Slack's shape where Bolt relies on it (objects, lists, strings).

    Slack never sends anything else; Bolt's routing and logging index into these fields without checks,
    so a body of another shape is refused here with a 400 instead of failing inside the framework.
    """
    if not isinstance(body, dict):
        return False
    if any(body.get(k) is not None and not isinstance(body[k], dict) for k in _OBJECTS):
        return False
    if any(body.get(k) is not None and not isinstance(body[k], str) for k in _TEXTS):
        return False
    actions = body.get("actions")
    if actions is not None and not (
        isinstance(actions, list)
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    ):
        return False
    if body.get("type") == "block_actions" and not actions:
        return False
    view = body.get("view")
    if "view" in body and not isinstance(view, dict):
        return False
    if isinstance(view, dict):
        if any(view.get(k) is not None and not isinstance(view[k], str) for k in _VIEW_TEXTS):
            return False
        state = view.get("state")
        if state is not None and not (isinstance(state, dict) and isinstance(state.get("values", {}), dict)):
            return False
    return True


def _verified(verifier: SignatureVerifier, body: str, headers: Mapping[str, str]) -> bool:
    """The SDK's check, with a timestamp that is not a number counting as unsigned (it raises otherwise)."""
    try:
        return verifier.is_valid_request(body, headers)
    except (ValueError, TypeError, OverflowError):
        return False


def create_http_app(
    bolt: App,
    *,
    signing_secret: str,
    health: HealthCheck | None = None,
    metrics: MetricsExporter | None = None,
    observe_ack: AckObserver | None = None,
    serving: Serving | None = None,
) -> Starlette:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: Request) -> Response:
        with serving() if serving is not None else nullcontext():
            return await answer(request)

    async def answer(request: Request) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Slack signs UTF-8 text; bytes that are not UTF-8 cannot carry a valid signature.
            return PlainTextResponse("invalid signature or stale timestamp", status_code=401)
        if not _verified(verifier, body, headers):
            return PlainTextResponse("invalid signature or stale timestamp", status_code=401)
        try:
            bolt_request = BoltRequest(body=body, query=request.url.query, headers=dict(request.headers))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("malformed slack request rejected error=%s", type(exc).__name__)
            return PlainTextResponse("malformed request", status_code=400)
        if not slack_shaped(bolt_request.body):
            log.info("malformed slack request rejected error=shape")
            return PlainTextResponse("malformed request", status_code=400)
        try:
            bolt_response: BoltResponse = await run_in_threadpool(bolt.dispatch, bolt_request)
        except Exception:
            log.exception("slack request failed before a listener ran")
            return PlainTextResponse("malformed request", status_code=400)
        response = Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers=bolt_response.first_headers_without_set_cookie(),
        )
        if observe_ack is not None:
            observe_ack(_kind(body), time.perf_counter() - started, bolt_response.status)
        return response

    async def healthz(_: Request) -> Response:
        if health is None:
            return JSONResponse({"ok": True})
        ok, detail = await run_in_threadpool(health)
        return JSONResponse({"ok": ok, **detail}, status_code=200 if ok else 503)

    async def metrics_endpoint(_: Request) -> Response:
        if metrics is None:
            return PlainTextResponse("", status_code=404)
        payload, content_type = await run_in_threadpool(metrics)
        return Response(payload, media_type=content_type)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
