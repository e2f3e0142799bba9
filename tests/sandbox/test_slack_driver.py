"""The Slack driver against a small real Bolt app served by uvicorn, talking to the stand-in over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.slack import (
    APPROVER_1,
    MIGRATIONS_CHANNEL,
    OUTSIDER,
    REQUESTER,
    FormValues,
    SlackDriver,
    SlackStandIn,
)

Json = dict[str, Any]


def text(value: str) -> Json:
    return {"type": "plain_text", "text": value}


def migrate_modal(*, with_data_disk: bool = False) -> Json:
    blocks: list[Json] = [
        {
            "type": "input",
            "block_id": "dest",
            "dispatch_action": True,
            "label": text("Destination"),
            "element": {
                "type": "static_select",
                "action_id": "type",
                "options": [
                    {"text": text("Image"), "value": "image"},
                    {"text": text("Target instance"), "value": "target_instance"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "region",
            "label": text("Region"),
            "element": {"type": "external_select", "action_id": "pick", "min_query_length": 0},
        },
        {
            "type": "input",
            "block_id": "disk",
            "label": text("System disk (GiB)"),
            "element": {
                "type": "number_input",
                "action_id": "size",
                "is_decimal_allowed": False,
                "min_value": "20",
            },
        },
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": text("Schedule"),
            "element": {"type": "datetimepicker", "action_id": "at"},
        },
    ]
    if with_data_disk:
        blocks.append(
            {
                "type": "input",
                "block_id": "data",
                "label": text("Data disk (GiB)"),
                "element": {"type": "plain_text_input", "action_id": "size"},
            }
        )
    return {
        "type": "modal",
        "callback_id": "migrate",
        "title": text("Migrate"),
        "submit": text("Submit"),
        "blocks": blocks,
    }


def option(value: str) -> Json:
    return {"text": text(value.upper()), "value": value}


def kitchen_sink_modal() -> Json:
    """One input of every element type the bot's modals use."""
    elements: dict[str, Json] = {
        "plain_text_input": {},
        "number_input": {"is_decimal_allowed": True},
        "static_select": {"options": [option("a"), option("b")]},
        "external_select": {},
        "multi_static_select": {
            "option_groups": [{"label": text("Group"), "options": [option("a"), option("b")]}]
        },
        "multi_external_select": {},
        "radio_buttons": {"options": [option("on"), option("off")]},
        "checkboxes": {"options": [option("lvm"), option("checksum")]},
        "datepicker": {},
        "timepicker": {},
        "datetimepicker": {},
        "users_select": {},
        "multi_users_select": {},
        "conversations_select": {},
        "multi_conversations_select": {},
    }
    blocks = [
        {
            "type": "input",
            "block_id": kind,
            "label": text(kind),
            "element": {"type": kind, "action_id": "v", **extra},
        }
        for kind, extra in elements.items()
    ]
    return {
        "type": "modal",
        "callback_id": "sink",
        "title": text("Everything"),
        "submit": text("Go"),
        "blocks": blocks,
    }


def request_blocks() -> list[Json]:
    return [
        {
            "type": "section",
            "block_id": "summary",
            "text": {"type": "mrkdwn", "text": "*r-1* waits for approval"},
        },
        {
            "type": "actions",
            "block_id": "vote",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "value": "r-1",
                    "text": text("Approve"),
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "value": "r-1",
                    "text": text("Reject"),
                    "style": "danger",
                },
            ],
        },
    ]


@dataclass
class Seen:
    """What the tiny bot received, for assertions."""

    submissions: list[Json] = field(default_factory=list)
    actions: list[Json] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def build_app(slack: SlackStandIn, seen: Seen) -> App:
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(), ServerErrorRetryHandler()],
    )
    app = App(client=client, signing_secret=slack.signing_secret, process_before_response=True)

    @app.middleware
    def remember_headers(req: BoltRequest, resp: BoltResponse, next: Any) -> BoltResponse:
        seen.headers.append(dict(req.headers))
        return next()  # type: ignore[no-any-return]

    @app.command("/smc")
    def smc(ack: Any, command: Json, client: WebClient, respond: Any) -> None:
        words = command["text"].split()
        if words == ["migrate"]:
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=migrate_modal())
        elif words == ["request"]:
            ack()
            client.chat_postMessage(channel=command["channel_id"], text="r-1 waits", blocks=request_blocks())
        elif words == ["sink"]:
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=kitchen_sink_modal())
        elif words == ["confirm"]:
            ack()
            confirm = {"type": "button", "action_id": "confirm", "value": "yes", "text": text("Confirm")}
            client.chat_postEphemeral(
                channel=command["channel_id"],
                user=command["user_id"],
                text="Confirm?",
                blocks=[{"type": "actions", "block_id": "ask", "elements": [confirm]}],
            )
        elif words == ["later"]:
            ack()
            respond(text="Working on it…")
            respond(text="Posted for everyone", response_type="in_channel")
        else:
            ack(text="Usage: /smc migrate | request | later")

    @app.action("type")
    def destination_changed(ack: Any, body: Json, client: WebClient) -> None:
        ack()
        seen.actions.append(body)
        view = body["view"]
        chosen = view["state"]["values"]["dest"]["type"]["selected_option"]["value"]
        client.views_update(
            view_id=view["id"],
            hash=view["hash"],
            view=migrate_modal(with_data_disk=chosen == "target_instance"),
        )

    @app.options("pick")
    def regions(ack: Any, payload: Json) -> None:
        regions = {
            "cn-hangzhou": "China (Hangzhou)",
            "cn-shanghai": "China (Shanghai)",
            "ap-southeast-1": "Singapore",
        }
        typed = payload["value"].lower()
        ack(
            options=[{"text": text(v), "value": k} for k, v in regions.items() if typed in f"{k} {v}".lower()]
        )

    @app.view("migrate")
    def submitted(ack: Any, view: Json) -> None:
        seen.submissions.append(view)
        size = int(view["state"]["values"]["disk"]["size"]["value"])
        if size < 40:
            ack(response_action="errors", errors={"disk": "Enter at least 40 GiB, the source uses 38 GiB"})
            return
        ack(response_action="update", view={"type": "modal", "title": text("Submitted"), "blocks": []})

    @app.view_closed("migrate")
    def closed(ack: Any, view: Json) -> None:
        ack()
        seen.closed.append(view["id"])

    @app.action("approve")
    def approve(ack: Any, body: Json, client: WebClient, respond: Any) -> None:
        ack()
        seen.actions.append(body)
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"r-1 approved by <@{body['user']['id']}>",
        )
        respond(text="Your approval is recorded")

    @app.action("confirm")
    def confirmed(ack: Any, body: Json, respond: Any) -> None:
        ack()
        seen.actions.append(body)
        respond(text="Confirmed", replace_original=True)

    @app.view("sink")
    def sink_submitted(ack: Any, view: Json) -> None:
        seen.submissions.append(view)
        ack(
            response_action="push",
            view={"type": "modal", "callback_id": "pushed", "title": text("Check"), "blocks": []},
        )

    @app.view("pushed")
    def pushed_submitted(ack: Any) -> None:
        ack(response_action="clear")

    @app.event("app_home_opened")
    def home(event: Json, client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}],
            },
        )

    return app


@contextmanager
def serve(app: App) -> Iterator[str]:
    """Bolt's Starlette adapter under uvicorn on a free port, in a thread."""
    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/slack/events", events, methods=["POST"])]), log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def driver(slack: SlackStandIn, seen: Seen) -> Iterator[SlackDriver]:
    with serve(build_app(slack, seen)) as url:
        slack.reset_calls()
        yield SlackDriver(slack, url, slack.signing_secret)


def open_modal(driver: SlackDriver, slack: SlackStandIn) -> str:
    assert driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="migrate").acked_in_time
    view = slack.open_view(REQUESTER)
    assert view is not None
    return view.id


def test_signed_slash_command_is_acked_and_its_answer_shown_only_to_the_user(
    driver: SlackDriver, slack: SlackStandIn
) -> None:
    result = driver.slash_command(REQUESTER, "#migrations", text="help")
    assert result.status == 200 and result.problems == ()
    assert result.text == "Usage: /smc migrate | request | later"
    assert result.trigger_id and result.response_url
    [shown] = slack.ephemerals(REQUESTER)
    assert (shown.text, shown.source, shown.channel) == (
        "Usage: /smc migrate | request | later",
        "ack",
        "C0MIGRATE",
    )
    assert slack.channel_messages(MIGRATIONS_CHANNEL) == []


def test_forged_signature_is_refused_and_nothing_happens(driver: SlackDriver, slack: SlackStandIn) -> None:
    body = b"command=%2Fsmc&text=migrate&user_id=U0REQUESTER&channel_id=C0MIGRATE&trigger_id=1.2.3"
    forged = {**driver.signed_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
    assert driver.post_raw(body, forged).status == 401
    stale = driver.signed_headers(body, timestamp=int(time.time()) - 600)
    assert driver.post_raw(body, stale).status == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert driver.post_raw(body, unsigned).status == 401
    assert slack.calls() == []
    assert slack.views() == []


def test_a_correct_signature_from_sign_is_accepted(driver: SlackDriver) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc", "token": "t"}).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": driver.sign(body, ts),
    }
    assert driver.post_raw(body, headers).data == {"challenge": "abc"}


def test_modal_submission_errors_round_trip_then_update(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    view_id = open_modal(driver, slack)
    refused = driver.submit_view(
        REQUESTER,
        view_id,
        {"dest": {"type": "image"}, "region": {"pick": "cn-hangzhou"}, "disk": {"size": 30}},
    )
    assert refused.acked_in_time and refused.problems == ()
    assert refused.data == {
        "response_action": "errors",
        "errors": {"disk": "Enter at least 40 GiB, the source uses 38 GiB"},
    }
    assert slack.open_view(REQUESTER) is not None and slack.view(view_id).title == "Migrate"

    accepted = driver.submit_view(REQUESTER, view_id, {"disk": {"size": 80}})
    assert accepted.problems == ()
    assert slack.view(view_id).title == "Submitted"
    state = seen.submissions[-1]["state"]["values"]
    assert state["disk"]["size"] == {"type": "number_input", "value": "80"}
    assert state["dest"]["type"]["selected_option"] == {"text": text("Image"), "value": "image"}
    assert state["when"]["at"] == {"type": "datetimepicker", "selected_date_time": None}


def test_an_empty_required_field_is_never_sent(driver: SlackDriver, slack: SlackStandIn, seen: Seen) -> None:
    view_id = open_modal(driver, slack)
    result = driver.submit_view(REQUESTER, view_id, {"dest": {"type": "image"}, "disk": {"size": 10}})
    assert not result.sent
    assert result.client_errors == {
        "region": "Please complete this required field.",
        "disk": "Please enter a number of at least 20.",
    }
    assert seen.submissions == []


def test_dispatch_action_updates_the_view_with_its_hash_and_keeps_typed_values(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    view_id = open_modal(driver, slack)
    before = slack.view(view_id)
    driver.fill(REQUESTER, view_id, {"disk": {"size": 60}})
    result = driver.block_action(REQUESTER, "type", "target_instance", view_id=view_id)
    assert result.acked_in_time and result.problems == ()
    action = seen.actions[-1]["actions"][0]
    assert action["selected_option"]["value"] == "target_instance" and action["block_id"] == "dest"
    assert seen.actions[-1]["view"]["hash"] == before.hash

    after = slack.view(view_id)
    assert after.hash != before.hash and after.versions == 2
    assert [b["block_id"] for b in after.blocks][-1] == "data"
    assert after.state_values["disk"]["size"]["value"] == "60"
    [update] = slack.calls("views.update")
    assert update.ok and update.params["hash"] == before.hash


def test_options_request_returns_the_bots_options_and_labels_the_choice(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    view_id = open_modal(driver, slack)
    result = driver.options(REQUESTER, view_id, "pick", "region", "china")
    assert result.acked_in_time and result.problems == ()
    assert [o["value"] for o in result.data["options"]] == ["cn-hangzhou", "cn-shanghai"]
    driver.submit_view(
        REQUESTER,
        view_id,
        {"dest": {"type": "image"}, "region": {"pick": "cn-shanghai"}, "disk": {"size": 80}},
    )
    chosen = seen.submissions[-1]["state"]["values"]["region"]["pick"]["selected_option"]
    assert chosen == {"text": text("China (Shanghai)"), "value": "cn-shanghai"}


def test_a_button_on_the_real_message_edits_it_and_answers_by_response_url(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="request")
    [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
    result = driver.block_action(APPROVER_1, "approve", message=message)
    assert result.acked_in_time and result.problems == ()

    payload = seen.actions[-1]
    assert payload["message"]["ts"] == message.ts and payload["container"]["channel_id"] == MIGRATIONS_CHANNEL
    assert payload["actions"][0]["value"] == "r-1" and payload["user"]["id"] == APPROVER_1
    updated = slack.message(MIGRATIONS_CHANNEL, message.ts)
    assert updated.text == f"r-1 approved by <@{APPROVER_1}>" and len(updated.edits) == 1
    assert [(e.text, e.source) for e in slack.ephemerals(APPROVER_1)] == [
        ("Your approval is recorded", "response_url")
    ]
    [post] = slack.response_url_posts()
    assert (post.user, post.status, post.outcome) == (APPROVER_1, 200, "posted_ephemeral")
    transcript = [(e.kind, e.user) for e in slack.timeline()]
    assert transcript == [
        ("command", REQUESTER),
        ("message", slack.bot_user_id),
        ("action", APPROVER_1),
        ("edit", slack.bot_user_id),
        ("ephemeral", APPROVER_1),
    ]


def test_clicking_an_element_that_is_not_shown_is_refused(driver: SlackDriver, slack: SlackStandIn) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="request")
    [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
    with pytest.raises(LookupError):
        driver.block_action(OUTSIDER, "cancel", message=message)
    with pytest.raises(ValueError, match="carries value"):
        driver.block_action(OUTSIDER, "approve", "r-2", message=message)


def test_response_url_in_channel_and_ephemeral(driver: SlackDriver, slack: SlackStandIn) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="later")
    assert [e.text for e in slack.ephemerals(REQUESTER)] == ["Working on it…"]
    assert [m.text for m in slack.channel_messages(MIGRATIONS_CHANNEL)] == ["Posted for everyone"]


def test_a_response_url_works_five_times(slack: SlackStandIn) -> None:
    url = slack.issue_response_url(REQUESTER, MIGRATIONS_CHANNEL)
    statuses = []
    for i in range(6):
        request = urllib.request.Request(url, data=json.dumps({"text": f"n{i}"}).encode(), method="POST")
        try:
            with urllib.request.urlopen(request) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as err:
            statuses.append(err.code)
    assert statuses == [200] * 5 + [404]
    assert slack.response_url_posts()[-1].outcome == "used_url"


def test_closing_a_modal_that_asks_to_be_notified(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    view = {**migrate_modal(), "notify_on_close": True}
    opened = WebClient(token=slack.bot_token, base_url=slack.api_url).views_open(
        trigger_id=slack.issue_trigger(REQUESTER), view=view
    )["view"]
    result = driver.close_view(REQUESTER, opened["id"])
    assert result is not None and result.acked_in_time
    assert seen.closed == [opened["id"]] and slack.open_view(REQUESTER) is None


def test_app_home_opened_publishes_the_home_tab(driver: SlackDriver, slack: SlackStandIn) -> None:
    assert driver.app_home_opened(REQUESTER).acked_in_time
    home = slack.home(REQUESTER)
    assert home is not None and home.blocks[0]["text"]["text"] == "Hello"


def test_url_verification_echoes_the_challenge(driver: SlackDriver) -> None:
    assert driver.url_verification("xyz").data == {"challenge": "xyz"}


def test_replay_resends_the_same_body_as_a_slack_retry(driver: SlackDriver, seen: Seen) -> None:
    first = driver.app_home_opened(REQUESTER)
    again = driver.replay(first, retry_num=2, reason="http_error")
    assert again.request_body == first.request_body and again.acked_in_time
    headers = {k.lower(): v for k, v in seen.headers[-1].items()}
    assert headers["x-slack-retry-num"] in ("2", ["2"]) and headers["x-slack-retry-reason"] in (
        "http_error",
        ["http_error"],
    )


def test_submission_state_has_slacks_shape_for_every_element_type(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="sink")
    view = slack.open_view(REQUESTER)
    assert view is not None
    values: dict[str, object] = {
        "plain_text_input": "job-1",
        "number_input": 7.5,
        "static_select": "b",
        "external_select": "cn-hangzhou",
        "multi_static_select": ["a", "b"],
        "multi_external_select": ["x"],
        "radio_buttons": "on",
        "checkboxes": ["lvm"],
        "datepicker": dt.date(2026, 1, 2),
        "timepicker": "13:37",
        "datetimepicker": 1767225600,
        "users_select": APPROVER_1,
        "multi_users_select": [APPROVER_1, OUTSIDER],
        "conversations_select": MIGRATIONS_CHANNEL,
        "multi_conversations_select": [MIGRATIONS_CHANNEL],
    }
    result = driver.submit_view(REQUESTER, view.id, {kind: {"v": value} for kind, value in values.items()})
    assert result.problems == ()
    state = {kind: entry["v"] for kind, entry in seen.submissions[-1]["state"]["values"].items()}
    assert state == {
        "plain_text_input": {"type": "plain_text_input", "value": "job-1"},
        "number_input": {"type": "number_input", "value": "7.5"},
        "static_select": {"type": "static_select", "selected_option": option("b")},
        "external_select": {
            "type": "external_select",
            "selected_option": {"text": {**text("cn-hangzhou"), "emoji": True}, "value": "cn-hangzhou"},
        },
        "multi_static_select": {
            "type": "multi_static_select",
            "selected_options": [option("a"), option("b")],
        },
        "multi_external_select": {
            "type": "multi_external_select",
            "selected_options": [{"text": {**text("x"), "emoji": True}, "value": "x"}],
        },
        "radio_buttons": {"type": "radio_buttons", "selected_option": option("on")},
        "checkboxes": {"type": "checkboxes", "selected_options": [option("lvm")]},
        "datepicker": {"type": "datepicker", "selected_date": "2026-01-02"},
        "timepicker": {"type": "timepicker", "selected_time": "13:37"},
        "datetimepicker": {"type": "datetimepicker", "selected_date_time": 1767225600},
        "users_select": {"type": "users_select", "selected_user": APPROVER_1},
        "multi_users_select": {"type": "multi_users_select", "selected_users": [APPROVER_1, OUTSIDER]},
        "conversations_select": {"type": "conversations_select", "selected_conversation": MIGRATIONS_CHANNEL},
        "multi_conversations_select": {
            "type": "multi_conversations_select",
            "selected_conversations": [MIGRATIONS_CHANNEL],
        },
    }
    with pytest.raises(ValueError, match="not an option"):
        driver.fill(REQUESTER, view.id, {"static_select": {"v": "z"}})


def test_response_action_push_then_clear_drive_the_modal_stack(
    driver: SlackDriver, slack: SlackStandIn
) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="sink")
    root = slack.open_view(REQUESTER)
    assert root is not None
    everything: dict[str, dict[str, object]] = {b["block_id"]: {"v": None} for b in root.blocks}
    everything["plain_text_input"] = {"v": "x"}
    blocked = driver.submit_view(REQUESTER, root.id, everything)
    assert not blocked.sent and "number_input" in blocked.client_errors

    values: FormValues = {
        "number_input": {"v": 1},
        "static_select": {"v": "a"},
        "external_select": {"v": "e"},
        "multi_static_select": {"v": ["a"]},
        "multi_external_select": {"v": ["e"]},
        "radio_buttons": {"v": "off"},
        "checkboxes": {"v": ["checksum"]},
        "datepicker": {"v": "2026-02-03"},
        "timepicker": {"v": dt.time(9, 30)},
        "datetimepicker": {"v": 1767225600},
        "users_select": {"v": REQUESTER},
        "multi_users_select": {"v": [REQUESTER]},
        "conversations_select": {"v": MIGRATIONS_CHANNEL},
        "multi_conversations_select": {"v": [MIGRATIONS_CHANNEL]},
    }
    assert driver.submit_view(REQUESTER, root.id, values).problems == ()
    pushed = slack.open_view(REQUESTER)
    assert pushed is not None and pushed.title == "Check" and pushed.previous_view_id == root.id
    assert [v.title for v in slack.views(REQUESTER)] == ["Everything", "Check"]

    assert driver.submit_view(REQUESTER, pushed.id).problems == ()
    assert slack.views(REQUESTER) == []
    kinds = [e.kind for e in slack.timeline() if e.view_id is not None]
    assert kinds == [
        "view_opened",
        "view_submitted",
        "view_pushed",
        "view_submitted",
        "view_closed",
        "view_closed",
    ]


def test_a_button_in_an_ephemeral_message_can_replace_it(
    driver: SlackDriver, slack: SlackStandIn, seen: Seen
) -> None:
    driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="confirm")
    [asked] = slack.ephemerals(REQUESTER)
    assert driver.block_action(REQUESTER, "confirm", message=asked).problems == ()
    payload = seen.actions[-1]
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    [replaced] = slack.ephemerals(REQUESTER)
    assert (replaced.text, replaced.message_ts) == ("Confirmed", asked.message_ts)
    with pytest.raises(ValueError, match="cannot see"):
        driver.block_action(OUTSIDER, "confirm", message=asked)
