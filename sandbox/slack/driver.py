"""`SlackDriver`: sends the bot signed requests as Slack would, built from the stand-in's real state."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sandbox.slack import clientside, elements, payloads, responses
from sandbox.slack.blockkit import MAX_VIEW_STACK, iter_elements, view_problems
from sandbox.slack.errors import ApiError
from sandbox.slack.records import Ephemeral, PostedMessage
from sandbox.slack.server import SlackStandIn
from sandbox.slack.signing import FORM, JSON, signature, signed_headers
from sandbox.slack.views import StoredView
from sandbox.slack.workspace import Channel, User

Json = dict[str, Any]
MessageRef = PostedMessage | Ephemeral | tuple[str, str]
FormValues = Mapping[str, Mapping[str, object]]
"""`{block_id: {action_id: value}}` — what a user typed or picked, as plain Python values."""

ACK_DEADLINE = 3.0  # Slack gives up on a command, interaction or options request after 3 seconds.


@dataclass(frozen=True)
class BotResponse:
    """What the bot answered, how long it took, and what Slack would have made of it.

    `problems` lists what real Slack would have refused or ignored (late answer, a response_action view
    over the limits, errors for blocks that do not exist). `sent` is False when Slack's client would not
    have sent the request at all; `client_errors` then says why, by block_id.
    """

    status: int
    body: bytes
    headers: dict[str, str]
    elapsed: float
    request_body: bytes
    request_headers: dict[str, str]
    trigger_id: str | None = None
    response_url: str | None = None
    view_id: str | None = None
    problems: tuple[str, ...] = ()
    sent: bool = True
    client_errors: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def data(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    @property
    def acked_in_time(self) -> bool:
        """A 2xx within Slack's 3-second deadline."""
        return self.sent and 200 <= self.status < 300 and self.elapsed < ACK_DEADLINE


class SlackDriver:
    """Plays the Slack client and platform against the bot's `POST /slack/events`."""

    def __init__(
        self,
        stand_in: SlackStandIn,
        bot_url: str,
        signing_secret: str | None = None,
        *,
        events_path: str = "/slack/events",
        timeout: float = 10.0,
        after_answer: Callable[[], None] | None = None,
    ) -> None:
        base = bot_url.rstrip("/")
        self.url = base if base.endswith(events_path) else base + events_path
        self.slack = stand_in
        self._state = stand_in.state
        self._secret = stand_in.signing_secret if signing_secret is None else signing_secret
        self.timeout = timeout
        self._known_options: dict[tuple[str, str, str], list[Json]] = {}
        self._event_seq = 0
        self.after_answer = after_answer
        """Called once the client applied an answer of the bot: a test lets the bot's after-ack work
        finish here, as a person would wait a moment before looking again."""

    # -- raw access ---------------------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        """`X-Slack-Signature` for `body` at `timestamp` (now by default)."""
        return signature(self._secret, int(time.time()) if timestamp is None else timestamp, body)

    def signed_headers(
        self, body: bytes, *, timestamp: int | None = None, content_type: str = FORM
    ) -> dict[str, str]:
        """The headers Slack would send with `body`."""
        return signed_headers(self._secret, body, timestamp=timestamp, content_type=content_type)

    def post_raw(self, body: bytes, headers: Mapping[str, str] | None = None) -> BotResponse:
        """POST exactly these bytes and headers (no signing) — for fuzzing and forged requests."""
        return self._post(body, dict(headers or {}))

    def replay(
        self, response: BotResponse, *, retry_num: int = 1, reason: str = "http_timeout"
    ) -> BotResponse:
        """Send the same body again as Slack's retry: fresh signature plus X-Slack-Retry-Num/-Reason."""
        content_type = response.request_headers.get("Content-Type", FORM)
        headers = self.signed_headers(response.request_body, content_type=content_type)
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = reason
        return self._post(response.request_body, headers)

    # -- slash commands -----------------------------------------------------------------------------

    def slash_command(self, user: str, channel: str, command: str = "/smc", text: str = "") -> BotResponse:
        """`/smc text` typed by `user` in `channel`; a message in the ack body is shown as Slack would."""
        with self._state.lock:
            who = self._user(user)
            where = self._channel(channel)
            self._check_member(who, where)
            trigger_id = self.slack.issue_trigger(who.id)
            response_url = self.slack.issue_response_url(who.id, where.id)
            form = payloads.slash_command_form(
                team_id=self.slack.team_id,
                app_id=self.slack.app_id,
                user=who,
                channel=where,
                command=command,
                text=text,
                trigger_id=trigger_id,
                response_url=response_url,
            )
            self._state.event("command", user=who.id, channel=where.id, text=f"{command} {text}".strip())
        body = urlencode(form).encode()
        result = self._post(body, self.signed_headers(body), trigger_id=trigger_id, response_url=response_url)
        problems = list(self._late_or_failed(result))
        if not problems and result.body:
            problems += self._show_ack_message(result, who.id, where.id)
        return self._answered(result, problems=tuple(problems))

    def _show_ack_message(self, result: BotResponse, user: str, channel: str) -> list[str]:
        message = result.data
        if message is None:
            message = {"text": result.text}
        if not isinstance(message, dict):
            return ["the ack body is neither a message object nor text"]
        problem = responses.message_problem(message)
        if problem is not None:
            return [f"Slack refused the ack message: {problem}"]
        try:
            responses.apply_message(
                self._state, message, user=user, channel=channel, message_ts=None, source="ack"
            )
        except ApiError as err:
            return [f"Slack refused the ack message: {err.error}"]
        return []

    # -- block actions ------------------------------------------------------------------------------

    def block_action(
        self,
        user: str,
        action_id: str,
        value: object = None,
        *,
        message: MessageRef | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        selected_option: Mapping[str, Any] | None = None,
    ) -> BotResponse:
        """`user` clicks/picks in the element `action_id` of a message or a view, as it is right now.

        `value` is what the user chooses: a button's value (to pick among same-id buttons), an option value,
        a list for multi-selects, a date/time, a user or conversation id, or text for a dispatching input.
        """
        if (message is None) == (view_id is None):
            raise ValueError("name exactly one of message= or view_id=")
        with self._state.lock:
            who = self._user(user)
            trigger_id = self.slack.issue_trigger(who.id, view_id=view_id)
            base = payloads.interaction_base(
                "block_actions", team_id=self.slack.team_id, app_id=self.slack.app_id, user=who
            )
            if view_id is not None:
                view = self._view_of(who.id, view_id)
                block, element = clientside.pick(
                    list(iter_elements(view.blocks)), action_id, block_id, value, where=f"view {view_id}"
                )
                if block.get("type") == "input" and not block.get("dispatch_action"):
                    raise ValueError(
                        f"input {block['block_id']}/{action_id} does not dispatch actions; "
                        "use fill() or submit_view(values=...)"
                    )
                action = self._action(
                    element,
                    str(block["block_id"]),
                    value,
                    selected_option,
                    self._options_for(view.id, str(block["block_id"]), action_id),
                )
                if elements.is_stateful(element):
                    entry = {
                        k: v
                        for k, v in action.items()
                        if k not in ("action_id", "block_id", "action_ts", "placeholder")
                    }
                    self._state.views.set_entry(view, str(block["block_id"]), action_id, entry)
                payload = {
                    **base,
                    "container": {"type": "view", "view_id": view.id},
                    "trigger_id": trigger_id,
                    "view": view.to_api(),
                    "actions": [action],
                }
                response_url = None
            else:
                assert message is not None
                payload, response_url = self._message_action(
                    base,
                    who,
                    message,
                    action_id,
                    block_id=block_id,
                    value=value,
                    selected_option=selected_option,
                )
                payload["trigger_id"] = trigger_id
            self._state.event(
                "action",
                user=who.id,
                channel=payload.get("channel", {}).get("id"),
                ts=payload["container"].get("message_ts"),
                view_id=view_id,
                text=clientside.action_label(payload["actions"][0]),
                detail={"action": copy.deepcopy(payload["actions"][0])},
            )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        result = self._post(
            body, self.signed_headers(body), trigger_id=trigger_id, response_url=response_url, view_id=view_id
        )
        return self._answered(result, problems=tuple(self._late_or_failed(result)))

    def _message_action(
        self,
        base: Json,
        who: User,
        ref: MessageRef,
        action_id: str,
        *,
        block_id: str | None,
        value: object,
        selected_option: Mapping[str, Any] | None,
    ) -> tuple[Json, str]:
        if isinstance(ref, Ephemeral):
            channel, ts = ref.channel, ref.message_ts
        elif isinstance(ref, PostedMessage):
            channel, ts = ref.channel, ref.ts
        else:
            channel, ts = ref
        ephemeral = self._state.find_ephemeral(ts)
        if ephemeral is not None:
            if ephemeral.user != who.id:
                raise ValueError(f"{who.id} cannot see the ephemeral message {ts} shown to {ephemeral.user}")
            blocks, message_json, thread_ts = ephemeral.blocks, None, ephemeral.thread_ts
        else:
            try:
                stored = self._state.find_message(channel, ts)
            except ApiError:
                raise LookupError(f"no message {channel}/{ts} in the stand-in") from None
            blocks, thread_ts = stored.blocks, stored.thread_ts
            message_json = self._state.message_to_api(stored)
        block, element = clientside.pick(
            list(iter_elements(blocks)), action_id, block_id, value, where=f"message {ts}"
        )
        action = self._action(element, str(block["block_id"]), value, selected_option, ())
        values: dict[str, dict[str, Json]] = {}
        for b, e in iter_elements(blocks):
            if elements.is_stateful(e):
                values.setdefault(str(b["block_id"]), {})[str(e["action_id"])] = elements.initial_state(e)
        if elements.is_stateful(element):
            values.setdefault(str(block["block_id"]), {})[action_id] = {
                k: v
                for k, v in action.items()
                if k not in ("action_id", "block_id", "action_ts", "placeholder")
            }
        response_url = self.slack.issue_response_url(who.id, channel, message_ts=ts)
        container: Json = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral is not None,
        }
        if thread_ts and thread_ts != ts:
            container["thread_ts"] = thread_ts
        resolved = self._state.workspace.resolve_channel(channel)
        if resolved is not None:
            self._check_member(who, resolved)
        payload: Json = {
            **base,
            "container": container,
            "channel": {"id": channel, "name": resolved.name if resolved else channel},
            "state": {"values": values},
            "response_url": response_url,
            "actions": [action],
        }
        if message_json is not None:
            payload["message"] = message_json
        return payload, response_url

    def _action(
        self,
        element: Json,
        block_id: str,
        value: object,
        selected_option: Mapping[str, Any] | None,
        known: Sequence[Json],
    ) -> Json:
        kind = element.get("type")
        action_ts = self._state.new_ts()
        if kind == "button":
            action: Json = {
                "type": "button",
                "action_id": element["action_id"],
                "block_id": block_id,
                "text": element.get("text"),
            }
            for key in ("value", "style", "url"):
                if key in element:
                    action[key] = element[key]
            action["action_ts"] = action_ts
            return action
        if kind == "overflow":
            option = elements.find_option(element, selected_option or value)
            return {
                "type": "overflow",
                "action_id": element["action_id"],
                "block_id": block_id,
                "selected_option": option,
                "action_ts": action_ts,
            }
        if elements.is_stateful(element):
            entry = elements.state_from_value(element, selected_option or value, known)
            return elements.action_from_state(element, block_id, entry, action_ts)
        return {"type": kind, "action_id": element["action_id"], "block_id": block_id, "action_ts": action_ts}

    # -- options ------------------------------------------------------------------------------------

    def options(
        self, user: str, view_id: str, action_id: str, block_id: str | None = None, value: str = ""
    ) -> BotResponse:
        """The user types `value` into an external select; `.data` is the bot's options answer."""
        with self._state.lock:
            who = self._user(user)
            view = self._view_of(who.id, view_id)
            block, element = clientside.pick(
                list(iter_elements(view.blocks)), action_id, block_id, None, where=f"view {view_id}"
            )
            if element.get("type") not in ("external_select", "multi_external_select"):
                raise ValueError(f"{action_id} is a {element.get('type')}, not an external select")
            payload = {
                **payloads.interaction_base(
                    "block_suggestion", team_id=self.slack.team_id, app_id=self.slack.app_id, user=who
                ),
                "container": {"type": "view", "view_id": view.id},
                "action_id": action_id,
                "block_id": block["block_id"],
                "value": value,
                "view": view.to_api(),
            }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        result = self._post(body, self.signed_headers(body), view_id=view_id)
        problems = list(self._late_or_failed(result))
        data = result.data
        if not problems:
            if not isinstance(data, dict) or not ("options" in data or "option_groups" in data):
                problems.append("the options answer has neither options nor option_groups")
            else:
                shown = list(data.get("options") or [])
                for group in data.get("option_groups") or []:
                    shown.extend(group.get("options") or [])
                problems += clientside.option_problems(data)
                self._known_options[(view_id, str(block["block_id"]), action_id)] = shown
        return self._answered(result, problems=tuple(problems))

    def _options_for(self, view_id: str, block_id: str, action_id: str) -> list[Json]:
        return self._known_options.get((view_id, block_id, action_id), [])

    # -- view submission and closing ----------------------------------------------------------------

    def fill(self, user: str, view_id: str, values: FormValues) -> None:
        """The user types or picks `{block_id: {action_id: value}}` without anything being sent yet."""
        with self._state.lock:
            view = self._view_of(self._user(user).id, view_id)
            for block_id, by_action in values.items():
                for action_id, value in by_action.items():
                    _, element = view.find(action_id, block_id)
                    if not elements.is_stateful(element):
                        raise ValueError(
                            f"{block_id}/{action_id} is a {element.get('type')}, it holds no value"
                        )
                    entry = elements.state_from_value(
                        element, value, self._options_for(view.id, block_id, action_id)
                    )
                    self._state.views.set_entry(view, block_id, action_id, entry)

    def submit_view(self, user: str, view_id: str, values: FormValues | None = None) -> BotResponse:
        """Fill `{block_id: {action_id: value}}` into the view and press Submit; Slack applies the answer."""
        with self._state.lock:
            who = self._user(user)
            view = self._view_of(who.id, view_id)
            top = self._state.views.top(who.id)
            if top is None or top.id != view.id:
                raise ValueError(f"view {view_id} is not the one on top of {who.id}'s modal stack")
            self.fill(user, view_id, values or {})
            client_errors = clientside.client_side_errors(view)
            trigger_id = self.slack.issue_trigger(who.id, view_id=view.id)
            payload = {
                **payloads.interaction_base(
                    "view_submission", team_id=self.slack.team_id, app_id=self.slack.app_id, user=who
                ),
                "trigger_id": trigger_id,
                "view": view.to_api(),
                "response_urls": [],
            }
        if not client_errors:
            self._state.event(
                "view_submitted",
                user=who.id,
                view_id=view_id,
                detail={"values": payload["view"]["state"]["values"]},
            )
        if client_errors:
            return BotResponse(
                status=0,
                body=b"",
                headers={},
                elapsed=0.0,
                request_body=b"",
                request_headers={},
                view_id=view_id,
                sent=False,
                client_errors=client_errors,
            )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        result = self._post(body, self.signed_headers(body), trigger_id=trigger_id, view_id=view_id)
        problems = list(self._late_or_failed(result))
        if not problems:
            problems += self._apply_submission_answer(view, result.data)
        return self._answered(result, problems=tuple(problems))

    def _apply_submission_answer(self, view: StoredView, data: Any) -> list[str]:
        """Do what Slack does with the ack of a view_submission."""
        with self._state.lock:
            action = data.get("response_action") if isinstance(data, dict) else None
            now = self._state.now()
            if action is None:
                for closed in self._state.views.close(view):
                    self._state.event(
                        "view_closed", user=closed.user, view_id=closed.id, detail={"reason": "submitted"}
                    )
                return []
            assert isinstance(data, dict)
            if action == "errors":
                errors = data.get("errors")
                if not isinstance(errors, dict) or not errors:
                    return ["response_action errors without an errors object"]
                inputs = {str(b.get("block_id")) for b in view.blocks if b.get("type") == "input"}
                unknown = sorted(set(errors) - inputs)
                if unknown:
                    return [f"errors name blocks that are not input blocks of the view: {', '.join(unknown)}"]
                self._state.event("view_errors", user=view.user, view_id=view.id, detail={"errors": errors})
                return []
            if action == "clear":
                for closed in self._state.views.close(view, clear=True):
                    self._state.event(
                        "view_closed", user=closed.user, view_id=closed.id, detail={"reason": "clear"}
                    )
                return []
            if action not in ("update", "push"):
                return [f"unknown response_action {action!r}"]
            new = data.get("view")
            problems = view_problems(new, allowed_types=("modal",))
            if problems:
                return [f"response_action {action} view refused: {p}" for p in problems]
            assert isinstance(new, dict)
            if action == "update":
                updated = self._state.views.update(view, new, now, expected_hash=None)
                self._state.event(
                    "view_updated",
                    user=view.user,
                    view_id=view.id,
                    blocks=updated.blocks,
                    detail={"source": "response_action"},
                )
                return []
            if len(self._state.views.stacks.get(view.user) or []) >= MAX_VIEW_STACK:
                return ["response_action push refused: push_limit_reached"]
            pushed = self._state.views.push(view.user, new, now)
            self._state.event(
                "view_pushed",
                user=view.user,
                view_id=pushed.id,
                blocks=pushed.blocks,
                detail={"source": "response_action"},
            )
            return []

    def close_view(self, user: str, view_id: str) -> BotResponse | None:
        """The user closes the modal; the bot hears `view_closed` only if the view asked (notify_on_close)."""
        with self._state.lock:
            who = self._user(user)
            view = self._view_of(who.id, view_id)
            clear = bool(view.definition.get("clear_on_close"))
            payload = {
                **payloads.interaction_base(
                    "view_closed", team_id=self.slack.team_id, app_id=self.slack.app_id, user=who
                ),
                "view": view.to_api(),
                "is_cleared": clear,
            }
            notify = bool(view.definition.get("notify_on_close"))
            for closed in self._state.views.close(view, clear=clear):
                self._state.event(
                    "view_closed", user=closed.user, view_id=closed.id, detail={"reason": "closed"}
                )
        if not notify:
            return None
        body = urlencode({"payload": json.dumps(payload)}).encode()
        result = self._post(body, self.signed_headers(body), view_id=view_id)
        return self._answered(result, problems=tuple(self._late_or_failed(result)))

    # -- events -------------------------------------------------------------------------------------

    def event(self, event: Mapping[str, Any]) -> BotResponse:
        """Deliver one Events API event in its `event_callback` envelope."""
        with self._state.lock:
            self._event_seq += 1
            envelope = payloads.event_callback(
                dict(event),
                team_id=self.slack.team_id,
                app_id=self.slack.app_id,
                bot_user_id=self.slack.bot_user_id,
                event_id=f"Ev{self._event_seq:08d}SANDBOX",
                event_time=int(self._state.now()),
            )
        body = json.dumps(envelope).encode()
        result = self._post(body, self.signed_headers(body, content_type=JSON))
        return self._answered(result, problems=tuple(self._late_or_failed(result)))

    def app_home_opened(self, user: str) -> BotResponse:
        """The user opens the app's Home tab."""
        with self._state.lock:
            who = self._user(user)
            dm = self._state.workspace.dm_with(who.id)
            home_id = self._state.views.homes.get(who.id)
            event: Json = {
                "type": "app_home_opened",
                "user": who.id,
                "channel": dm.id,
                "tab": "home",
                "event_ts": self._state.new_ts(),
            }
            if home_id is not None:
                event["view"] = self._state.views.views[home_id].to_api()
        return self.event(event)

    def url_verification(self, challenge: str = "sandbox-challenge") -> BotResponse:
        """Slack's request-URL handshake; the bot must echo the challenge."""
        body = json.dumps(payloads.url_verification(challenge)).encode()
        return self._post(body, self.signed_headers(body, content_type=JSON))

    # -- plumbing -----------------------------------------------------------------------------------

    def _user(self, user: str) -> User:
        found = self._state.workspace.users.get(user)
        if found is None:
            raise KeyError(f"no user {user} in the sandbox workspace")
        return found

    def _channel(self, channel: str) -> Channel:
        found = self._state.workspace.resolve_channel(channel)
        if found is None:
            raise KeyError(f"no channel {channel} in the sandbox workspace")
        return found

    def _check_member(self, who: User, where: Channel) -> None:
        if who.id not in self._state.workspace.members_of(where):
            raise ValueError(f"{who.id} is not in {where.id}, so Slack would not let them act there")

    def _view_of(self, user: str, view_id: str) -> StoredView:
        view = self._state.views.views.get(view_id)
        if view is None or not view.is_open:
            raise LookupError(f"view {view_id} is not open")
        if view.user != user:
            raise ValueError(f"view {view_id} belongs to {view.user}, not {user}")
        return view

    def _late_or_failed(self, result: BotResponse) -> list[str]:
        problems = []
        if not 200 <= result.status < 300:
            problems.append(f"the bot answered HTTP {result.status}")
        if result.elapsed >= ACK_DEADLINE:
            problems.append(f"no answer within {ACK_DEADLINE:.0f} s (took {result.elapsed:.2f} s)")
        return problems

    def _answered(self, result: BotResponse, *, problems: tuple[str, ...]) -> BotResponse:
        """The answer as the client applied it; then `after_answer` (the bot's after-ack work, for tests)."""
        if self.after_answer is not None:
            self.after_answer()
        return replace(result, problems=problems)

    def _post(
        self,
        body: bytes,
        headers: dict[str, str],
        *,
        trigger_id: str | None = None,
        response_url: str | None = None,
        view_id: str | None = None,
    ) -> BotResponse:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - local bot URL
                status, data, resp_headers = resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as err:
            status, data, resp_headers = err.code, err.read(), dict(err.headers.items())
        elapsed = time.monotonic() - started
        return BotResponse(
            status=status,
            body=data,
            headers=resp_headers,
            elapsed=elapsed,
            request_body=body,
            request_headers=dict(headers),
            trigger_id=trigger_id,
            response_url=response_url,
            view_id=view_id,
        )
