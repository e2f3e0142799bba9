"""`SlackStandIn`: a real HTTP server playing Slack's Web API, response URLs and file uploads, with state."""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import traceback
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from sandbox.slack import responses
from sandbox.slack.clock import Clock, wall_clock
from sandbox.slack.errors import ApiError
from sandbox.slack.limits import SLACK_TIERS, Limits
from sandbox.slack.records import (
    CallRecord,
    Ephemeral,
    FileRecord,
    PostedMessage,
    ResponseUrlPost,
    TimelineEvent,
    ViewSnapshot,
)
from sandbox.slack.state import RESPONSE_URL_LIFETIME, RESPONSE_URL_USES, SlackState
from sandbox.slack.webapi import DEFAULT_SCOPES, Params, WebApi
from sandbox.slack.wire import parse_api_request, parse_multipart
from sandbox.slack.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Channel,
    User,
    UserGroup,
    build_workspace,
)

log = logging.getLogger(__name__)

Json = dict[str, Any]

DEFAULT_SIGNING_SECRET = "sandbox-signing-secret-0123456789abcdef"  # noqa: S105 - the sandbox's own fake
DEFAULT_BOT_TOKEN = "xoxb-0000000000-sandbox-bot-token"  # noqa: S105 - the sandbox's own fake


class SlackStandIn:
    """Slack's Web API over real HTTP on 127.0.0.1, keeping channel, thread, view and file state."""

    def __init__(
        self,
        *,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        bot_token: str = DEFAULT_BOT_TOKEN,
        team_id: str = TEAM_ID,
        users: Sequence[User] | None = None,
        usergroups: Mapping[str, Sequence[str]] | Sequence[UserGroup] | None = None,
        channels: Sequence[Channel] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        clock: Clock = wall_clock,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.app_id = APP_ID
        rng = random.Random(seed)
        self.state = SlackState(
            workspace=build_workspace(team_id, users, usergroups, channels),
            clock=clock,
            rng=rng,
            bot_user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            app_id=APP_ID,
        )
        self.limits = Limits(self.state.now, random.Random(seed + 1))
        self.api = WebApi(self.state, scopes=frozenset(scopes))
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._errors: list[str] = []

    def __repr__(self) -> str:
        return f"SlackStandIn(url={self.url!r}, team_id={self.team_id!r})"

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _handler_for(self))
        self._server = server
        host, port = server.server_address[:2]
        self.state.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` once started."""
        if not self.state.base_url:
            raise RuntimeError("the Slack stand-in is not started")
        return self.state.base_url

    @property
    def api_url(self) -> str:
        """The WebClient `base_url` (ends with `/api/`)."""
        return f"{self.url}/api/"

    # -- workspace ----------------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        """Add or replace a workspace user."""
        with self.state.lock:
            self.state.workspace.add_user(user)

    def set_usergroup(self, handle: str, users: Sequence[str], *, name: str | None = None) -> UserGroup:
        """Create a user group or replace its members."""
        with self.state.lock:
            return self.state.workspace.set_usergroup(handle, users, name=name)

    def add_channel(self, channel: Channel) -> None:
        """Add or replace a channel."""
        with self.state.lock:
            self.state.workspace.add_channel(channel)

    # -- interactions (the driver uses these) -------------------------------------------------------

    def issue_trigger(self, user: str, *, view_id: str | None = None) -> str:
        """A trigger_id valid for 3 s and one use, as Slack attaches to every interaction."""
        return self.state.issue_trigger(user, view_id=view_id)

    def issue_response_url(self, user: str, channel: str, *, message_ts: str | None = None) -> str:
        """A response_url served here: 5 uses within 30 minutes."""
        return self.state.issue_response_url(user, channel, message_ts=message_ts)

    def advance(self, seconds: float) -> None:
        """Move the stand-in's time forward (trigger and response_url expiry, rate-limit refills)."""
        self.state.advance(seconds)

    # -- limits -------------------------------------------------------------------------------------

    def enable_rate_limits(
        self,
        *,
        post_message_per_second: float = 1.0,
        post_message_burst: int = 3,
        method_limits: Mapping[str, tuple[float, int]] | None = None,
        slack_tiers: bool = False,
    ) -> None:
        """Refuse with 429 + Retry-After like Slack: chat.postMessage per channel, plus per-method limits.

        `method_limits` maps method -> (per_minute, burst); `slack_tiers` adds Slack's documented tiers.
        """
        limits = (
            {m: (rate, max(1, int(rate // 10))) for m, rate in SLACK_TIERS.items()} if slack_tiers else {}
        )
        limits.update(method_limits or {})
        with self.state.lock:
            self.limits.enable(
                post_message_per_second=post_message_per_second,
                post_message_burst=post_message_burst,
                method_limits=limits,
            )

    def disable_rate_limits(self) -> None:
        """Stop rate limiting (scripted and injected faults stay as configured)."""
        with self.state.lock:
            self.limits.disable()

    def set_method_limit(self, method: str, per_minute: float, *, burst: int = 1) -> None:
        """Limit one method (effective while rate limits are enabled)."""
        with self.state.lock:
            self.limits.set_method_limit(method, per_minute, burst)

    def inject_faults(
        self,
        *,
        rate_429: float = 0.0,
        rate_5xx: float = 0.0,
        methods: Iterable[str] | None = None,
        retry_after: int = 1,
    ) -> None:
        """Fail a random share of calls (all methods, or `methods`) with 429 or 500/503; 0.0 turns it off."""
        with self.state.lock:
            self.limits.inject(rate_429=rate_429, rate_5xx=rate_5xx, methods=methods, retry_after=retry_after)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: int = 1,
        after_effect: bool = False,
    ) -> None:
        """Fail the next `count` calls of `method`; `after_effect` runs the method first (a lost response)."""
        with self.state.lock:
            self.limits.fail_next(
                method, status=status, count=count, retry_after=retry_after, after_effect=after_effect
            )

    def reset_limits(self) -> None:
        """Rate limits off, faults cleared."""
        with self.state.lock:
            self.limits.reset()

    # -- inspection ---------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[CallRecord]:
        """Every Web API call (method, params without token, status, response, time), oldest first."""
        return self.state.calls(method)

    def reset_calls(self) -> None:
        """Forget recorded calls."""
        self.state.reset_calls()

    def channel_messages(self, channel: str) -> list[PostedMessage]:
        """A channel's parent messages in order, each with current content, edits and thread replies."""
        with self.state.lock:
            resolved = self.state.workspace.resolve_channel(channel)
            return self.state.channel_messages(resolved.id if resolved else channel)

    def message(self, channel: str, ts: str) -> PostedMessage:
        """One message by channel and ts (KeyError when absent)."""
        try:
            return self.state.message_snapshot(channel, ts)
        except ApiError:
            raise KeyError(f"{channel}/{ts}") from None

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages (chat.postEphemeral, response_url, command acks), optionally for one user."""
        return self.state.ephemerals(user)

    def views(self, user: str | None = None, *, include_closed: bool = False) -> list[ViewSnapshot]:
        """Modal and home views, open ones unless `include_closed`."""
        with self.state.lock:
            return [
                v.snapshot()
                for v in self.state.views.views.values()
                if (user is None or v.user == user) and (include_closed or v.is_open)
            ]

    def view(self, view_id: str) -> ViewSnapshot:
        """A view by id (KeyError when unknown)."""
        with self.state.lock:
            stored = self.state.views.views.get(view_id)
            if stored is None:
                raise KeyError(view_id)
            return stored.snapshot()

    def open_view(self, user: str) -> ViewSnapshot | None:
        """The modal on top of the user's stack, if any."""
        with self.state.lock:
            top = self.state.views.top(user)
            return top.snapshot() if top else None

    def home(self, user: str) -> ViewSnapshot | None:
        """The user's App Home view, if published."""
        with self.state.lock:
            view_id = self.state.views.homes.get(user)
            return self.state.views.views[view_id].snapshot() if view_id else None

    def files(self) -> list[FileRecord]:
        """Uploaded files with content and where they were shared."""
        return self.state.files()

    def scheduled_messages(self) -> list[Json]:
        """Messages scheduled with chat.scheduleMessage."""
        return self.state.scheduled()

    def response_url_posts(self) -> list[ResponseUrlPost]:
        """Every POST the bot made to a response_url."""
        return self.state.response_posts()

    def timeline(self) -> list[TimelineEvent]:
        """Everything visible that happened, in order (for transcripts)."""
        return self.state.timeline()

    def internal_errors(self) -> list[str]:
        """Tracebacks of stand-in bugs hit while serving (should stay empty)."""
        return list(self._errors)

    # -- request handling (called from the HTTP threads) --------------------------------------------

    def handle_api(
        self, method: str, *, query: str, content_type: str, body: bytes, authorization: str | None
    ) -> tuple[int, dict[str, str], Json]:
        """One Web API call: faults and limits, auth, the method, and the call record."""
        request = parse_api_request(
            query=query, content_type=content_type, body=body, authorization=authorization
        )
        with self.state.lock:
            channel_ref = request.params.get("channel")
            channel = self.state.workspace.resolve_channel(str(channel_ref)) if channel_ref else None
            refusal = self.limits.check(method, channel.id if channel else None)
        headers: dict[str, str] = {}
        if refusal is not None and not refusal.after_effect:
            status, payload = refusal.status, {"ok": False, "error": refusal.error}
        else:
            status, payload = (
                200,
                self._run(method, request.params, request.uploads, request.token, request.malformed),
            )
        if refusal is not None:
            status, payload = refusal.status, {"ok": False, "error": refusal.error}
        if refusal is not None and refusal.retry_after is not None:
            headers["Retry-After"] = str(refusal.retry_after)
        if request.token == self.bot_token and method != "api.test":
            # Slack names the token's scopes on every authenticated call (`smc-bot check` reads them).
            headers["x-oauth-scopes"] = ",".join(sorted(self.api.scopes))
        recorded = copy.deepcopy(request.params)
        for name, (filename, data) in request.uploads.items():
            recorded[name] = {"filename": filename, "bytes": len(data)}
        self.state.record_call(
            CallRecord(
                method=method,
                params=recorded,
                status=status,
                response=copy.deepcopy(payload),
                at=self.state.now(),
                headers=headers,
            )
        )
        return status, headers, payload

    def _run(
        self,
        method: str,
        params: Json,
        uploads: dict[str, tuple[str, bytes]],
        token: str | None,
        malformed: str | None,
    ) -> Json:
        if malformed is not None:
            return {"ok": False, "error": malformed}
        if method not in self.api.handlers:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        if method != "api.test":
            if not token:
                return {"ok": False, "error": "not_authed"}
            if token != self.bot_token:
                return {"ok": False, "error": "invalid_auth"}
        try:
            return self.api.call(method, Params(params, uploads))
        except ApiError as err:
            return err.to_api()
        except Exception:
            self._errors.append(traceback.format_exc())
            log.exception("slack stand-in bug method=%s", method)
            return {"ok": False, "error": "internal_error"}

    def handle_upload(self, key: str, content_type: str, body: bytes) -> tuple[int, str]:
        """Step 2 of files_upload_v2: the bytes POSTed to the upload URL."""
        with self.state.lock:
            stored = self.state.file_by_upload_key(key)
            if stored is None or stored.completed:
                return 404, "not_found"
            data = body
            if content_type.lower().startswith("multipart/form-data"):
                _, uploads = parse_multipart(content_type, body)
                data = next(iter(uploads.values()))[1] if uploads else b""
            stored.content = data
            return 200, f"OK - {len(data)}"

    def handle_download(self, file_id: str, authorization: str | None) -> tuple[int, bytes]:
        """`url_private`: the file's bytes, for the bot token only."""
        if authorization != f"Bearer {self.bot_token}":
            return 403, b"forbidden"
        stored = self.state.file(file_id)
        if stored is None or not stored.completed:
            return 404, b"not_found"
        return 200, stored.content or b""

    def handle_response_url(self, url_id: str, body: bytes) -> tuple[int, str]:
        """A POST to a response_url: Slack's use and age limits, then show/replace/delete the message."""
        with self.state.lock:
            target = self.state.response_url(url_id)
            if target is None:
                return 404, "no_such_url"
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                payload = None

            def finish(status: int, outcome: str) -> tuple[int, str]:
                self.state.record_response_post(
                    ResponseUrlPost(
                        url_id=url_id,
                        user=target.user,
                        channel=target.channel,
                        body=payload
                        if isinstance(payload, dict)
                        else {"raw": body.decode("utf-8", "replace")},
                        status=status,
                        outcome=outcome,
                        at=self.state.now(),
                    )
                )
                return status, outcome if status != 200 else "ok"

            if self.state.now() - target.issued_at > RESPONSE_URL_LIFETIME:
                return finish(404, "expired_url")
            if target.uses >= RESPONSE_URL_USES:
                return finish(404, "used_url")
            if not isinstance(payload, dict):
                return finish(400, "invalid_payload")
            problem = responses.message_problem(payload)
            if problem is not None:
                return finish(400, problem)
            try:
                outcome = responses.apply_message(
                    self.state,
                    payload,
                    user=target.user,
                    channel=target.channel,
                    message_ts=target.message_ts,
                    source="response_url",
                )
            except ApiError as err:
                return finish(400, err.error)
            target.uses += 1
            return finish(200, outcome)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _handler_for(stand_in: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "SlackStandIn/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            segments = [s for s in parts.path.split("/") if s]
            content_type = self.headers.get("Content-Type", "")
            try:
                if len(segments) == 2 and segments[0] == "api":
                    status, headers, payload = stand_in.handle_api(
                        segments[1],
                        query=parts.query,
                        content_type=content_type,
                        body=body,
                        authorization=self.headers.get("Authorization"),
                    )
                    self._send(
                        status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers
                    )
                elif len(segments) == 3 and segments[:2] == ["upload", "v1"] and self.command == "POST":
                    status, text = stand_in.handle_upload(segments[2], content_type, body)
                    self._send(status, text.encode(), "text/plain; charset=utf-8")
                elif len(segments) == 2 and segments[0] == "response" and self.command == "POST":
                    status, text = stand_in.handle_response_url(segments[1], body)
                    self._send(status, text.encode(), "text/plain; charset=utf-8")
                elif len(segments) == 3 and segments[0] == "files" and self.command == "GET":
                    status, data = stand_in.handle_download(segments[1], self.headers.get("Authorization"))
                    self._send(status, data, "application/octet-stream")
                else:
                    self._send(404, b"not_found", "text/plain; charset=utf-8")
            except Exception:
                stand_in._errors.append(traceback.format_exc())
                log.exception("slack stand-in bug path=%s", parts.path)
                self._send(500, b'{"ok": false, "error": "internal_error"}', "application/json")

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _send(
            self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
