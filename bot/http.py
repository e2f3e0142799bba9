"""HTTP mode: one Starlette app serving Slack at POST /slack/events, plus /healthz and /metrics.

Bolt's own Starlette adapter parses the body before it checks the signature and runs the synchronous
dispatch on the event loop; here the signature is checked first (401, nothing happens), malformed bodies
get a 400 instead of a 500, and dispatch runs in a worker thread so one slow ack never blocks another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
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


def _kind(body: str) -> str:
    """Which Slack surface a body comes from, for metrics: command, interaction, options or event."""
    if body.startswith("payload="):
        return "interaction"
    if "command=" in body:
        return "command"
    if body.startswith("{"):
        return "event"
    return "options" if "action_id" in body else "other"


def create_http_app(
    bolt: App,
    *,
    signing_secret: str,
    health: HealthCheck | None = None,
    metrics: MetricsExporter | None = None,
    observe_ack: AckObserver | None = None,
) -> Starlette:
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("malformed request", status_code=400)
        if not verifier.is_valid_request(body, headers):
            return PlainTextResponse("invalid signature or stale timestamp", status_code=401)
        try:
            bolt_request = BoltRequest(body=body, query=request.url.query, headers=dict(request.headers))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("malformed slack request rejected error=%s", type(exc).__name__)
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
