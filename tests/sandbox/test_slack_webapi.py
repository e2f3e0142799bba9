"""The Slack stand-in's Web API, exercised through the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import (
    ADMIN,
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    GENERAL_CHANNEL,
    MIGRATIONS_CHANNEL,
    OUTSIDER,
    REQUESTER,
    Channel,
    ManualClock,
    SlackStandIn,
)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    data = caught.value.response.data
    assert isinstance(data, dict)
    return data


def test_api_url_is_a_webclient_base_url(slack: SlackStandIn) -> None:
    assert slack.api_url.startswith("http://127.0.0.1:")
    assert slack.api_url.endswith("/api/")


def test_missing_token_is_not_authed_and_wrong_token_is_invalid_auth(slack: SlackStandIn) -> None:
    assert api_error(WebClient(base_url=slack.api_url).auth_test)["error"] == "not_authed"
    wrong = WebClient(token="xoxb-not-the-bot", base_url=slack.api_url)
    assert api_error(wrong.auth_test)["error"] == "invalid_auth"


def test_token_in_a_json_body_is_not_accepted(slack: SlackStandIn) -> None:
    body = json.dumps({"token": slack.bot_token, "channel": MIGRATIONS_CHANNEL, "text": "hi"}).encode()
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as resp:
        assert json.loads(resp.read())["error"] == "not_authed"


def test_auth_test_names_team_bot_and_user(client: WebClient, slack: SlackStandIn) -> None:
    result = client.auth_test()
    assert (result["team_id"], result["user_id"], result["bot_id"]) == (
        slack.team_id,
        slack.bot_user_id,
        slack.bot_id,
    )


def test_users_info_reports_admin_owner_timezone_and_names(client: WebClient) -> None:
    admin = client.users_info(user=ADMIN)["user"]
    assert admin["is_admin"] and admin["is_owner"]
    assert admin["tz"] and admin["profile"]["display_name"] == "ada" and admin["real_name"] == "Ada Admin"
    assert not client.users_info(user=OUTSIDER)["user"]["is_admin"]
    assert api_error(lambda: client.users_info(user="U0NOBODY"))["error"] == "user_not_found"


def test_users_list_pages_with_cursors(client: WebClient) -> None:
    seen: list[str] = []
    for page in client.users_list(limit=2):
        seen.extend(m["id"] for m in page["members"])
    assert {REQUESTER, APPROVER_1, APPROVER_2, ADMIN, OUTSIDER} <= set(seen)
    assert len(seen) == len(set(seen))


def test_usergroup_members_follow_runtime_changes(client: WebClient, slack: SlackStandIn) -> None:
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["users"]) for g in groups] == [
        (APPROVERS_GROUP, "smc-approvers", [APPROVER_1, APPROVER_2])
    ]
    assert client.usergroups_users_list(usergroup=APPROVERS_GROUP)["users"] == [APPROVER_1, APPROVER_2]
    slack.set_usergroup("smc-approvers", [APPROVER_2])
    assert client.usergroups_users_list(usergroup=APPROVERS_GROUP)["users"] == [APPROVER_2]
    assert api_error(lambda: client.usergroups_users_list(usergroup="S0NONE"))["error"] == "no_such_subteam"


def test_conversations_info_list_and_join(client: WebClient) -> None:
    assert client.conversations_info(channel=MIGRATIONS_CHANNEL)["channel"]["name"] == "migrations"
    names = {c["name"] for c in client.conversations_list()["channels"]}
    assert {"migrations", "general"} <= names
    assert client.conversations_info(channel=GENERAL_CHANNEL)["channel"]["is_member"] is False
    assert (
        api_error(lambda: client.conversations_history(channel=GENERAL_CHANNEL))["error"] == "not_in_channel"
    )
    client.conversations_join(channel=GENERAL_CHANNEL)
    assert client.conversations_info(channel=GENERAL_CHANNEL)["channel"]["is_member"] is True
    assert client.conversations_history(channel=GENERAL_CHANNEL)["messages"] == []
    assert api_error(lambda: client.conversations_info(channel="C0NOPE"))["error"] == "channel_not_found"


def test_posting_to_an_unjoined_channel_needs_chat_write_public() -> None:
    scopes = {"chat:write", "commands"}
    with SlackStandIn(scopes=scopes) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        assert api_error(lambda: client.chat_postMessage(channel=GENERAL_CHANNEL, text="hi"))["error"] == (
            "not_in_channel"
        )
        client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="hi")


def test_thread_replies_broadcasts_and_edits_are_kept_in_order(
    client: WebClient, slack: SlackStandIn
) -> None:
    parent = client.chat_postMessage(channel="#migrations", text="Request r-1: pending")
    assert parent["channel"] == MIGRATIONS_CHANNEL
    client.chat_postMessage(channel=MIGRATIONS_CHANNEL, thread_ts=parent["ts"], text="approved by alex")
    client.chat_postMessage(
        channel=MIGRATIONS_CHANNEL, thread_ts=parent["ts"], text="done", reply_broadcast=True
    )
    client.chat_update(channel=MIGRATIONS_CHANNEL, ts=parent["ts"], text="Request r-1: approved")
    client.chat_update(channel=MIGRATIONS_CHANNEL, ts=parent["ts"], text="Request r-1: finished")

    [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
    assert message.text == "Request r-1: finished"
    assert [e.text for e in message.edits] == ["Request r-1: pending", "Request r-1: approved"]
    assert [(r.text, r.reply_broadcast) for r in message.replies] == [
        ("approved by alex", False),
        ("done", True),
    ]

    history = client.conversations_history(channel=MIGRATIONS_CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["done", "Request r-1: finished"]
    assert history[1]["reply_count"] == 2
    replies = client.conversations_replies(channel=MIGRATIONS_CHANNEL, ts=parent["ts"])["messages"]
    assert [m["text"] for m in replies] == ["Request r-1: finished", "approved by alex", "done"]


def test_metadata_is_returned_only_when_asked_for(client: WebClient) -> None:
    metadata = {"event_type": "smc_request", "event_payload": {"request_id": "r-1"}}
    posted = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="r-1", metadata=metadata)
    client.chat_postMessage(
        channel=MIGRATIONS_CHANNEL, text="reply", thread_ts=posted["ts"], metadata=metadata
    )

    plain = client.conversations_history(channel=MIGRATIONS_CHANNEL)["messages"][0]
    assert "metadata" not in plain
    full = client.conversations_history(channel=MIGRATIONS_CHANNEL, include_all_metadata=True)["messages"][0]
    assert full["metadata"] == metadata
    replies = client.conversations_replies(
        channel=MIGRATIONS_CHANNEL, ts=posted["ts"], include_all_metadata=True
    )
    assert [m["metadata"] for m in replies["messages"]] == [metadata, metadata]
    bad = {"event_payload": {"x": 1}}
    error = api_error(lambda: client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="x", metadata=bad))
    assert error["error"] == "invalid_metadata_format"


def test_history_pages_newest_first(client: WebClient) -> None:
    for i in range(5):
        client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text=f"m{i}")
    texts: list[str] = []
    for page in client.conversations_history(channel=MIGRATIONS_CHANNEL, limit=2):
        texts.extend(m["text"] for m in page["messages"])
    assert texts == ["m4", "m3", "m2", "m1", "m0"]


def test_update_delete_and_permalink_need_an_existing_message(client: WebClient, slack: SlackStandIn) -> None:
    missing = "1700000000.000001"
    assert api_error(lambda: client.chat_update(channel=MIGRATIONS_CHANNEL, ts=missing, text="x"))[
        "error"
    ] == ("message_not_found")
    posted = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="to delete")
    link = client.chat_getPermalink(channel=MIGRATIONS_CHANNEL, message_ts=posted["ts"])["permalink"]
    assert posted["ts"].replace(".", "") in link
    client.chat_delete(channel=MIGRATIONS_CHANNEL, ts=posted["ts"])
    assert slack.channel_messages(MIGRATIONS_CHANNEL) == []
    assert api_error(lambda: client.chat_delete(channel=MIGRATIONS_CHANNEL, ts=posted["ts"]))["error"] == (
        "message_not_found"
    )


def test_a_message_needs_text_or_blocks(client: WebClient) -> None:
    assert (
        api_error(lambda: client.api_call("chat.postMessage", json={"channel": MIGRATIONS_CHANNEL}))["error"]
        == "no_text"
    )
    assert (
        api_error(lambda: client.chat_postMessage(channel="#nowhere", text="x"))["error"]
        == "channel_not_found"
    )


def test_more_than_50_blocks_in_a_message_is_invalid_blocks(client: WebClient, slack: SlackStandIn) -> None:
    divider = {"type": "divider"}
    client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="fifty", blocks=[divider] * 50)
    error = api_error(
        lambda: client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="x", blocks=[divider] * 51)
    )
    assert error["error"] == "invalid_blocks"
    assert error["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert [m.text for m in slack.channel_messages(MIGRATIONS_CHANNEL)] == ["fifty"]


def test_block_contents_are_checked_like_slack(client: WebClient) -> None:
    long_button = {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "x" * 76}}],
    }
    error = api_error(
        lambda: client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="x", blocks=[long_button])
    )
    assert error["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    dup = [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]
    assert api_error(lambda: client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="x", blocks=dup))[
        "error"
    ] == ("invalid_blocks")


def test_ephemeral_messages_are_kept_per_user(client: WebClient, slack: SlackStandIn) -> None:
    client.chat_postEphemeral(channel=MIGRATIONS_CHANNEL, user=OUTSIDER, text="You are not an approver")
    client.chat_postEphemeral(channel=MIGRATIONS_CHANNEL, user=APPROVER_1, text="Approved")
    assert [e.text for e in slack.ephemerals(OUTSIDER)] == ["You are not an approver"]
    assert len(slack.ephemerals()) == 2
    assert slack.channel_messages(MIGRATIONS_CHANNEL) == []
    private = Channel("C0PRIVATE", "secret-ops", is_private=True, members=(ADMIN, slack.bot_user_id))
    slack.add_channel(private)
    error = api_error(lambda: client.chat_postEphemeral(channel="C0PRIVATE", user=OUTSIDER, text="x"))
    assert error["error"] == "user_not_in_channel"


def test_schedule_message_is_stored_not_delivered(client: WebClient, slack: SlackStandIn) -> None:
    post_at = int(slack.state.now()) + 600
    result = client.chat_scheduleMessage(channel=MIGRATIONS_CHANNEL, post_at=post_at, text="reminder")
    assert result["scheduled_message_id"].startswith("Q")
    assert [s["post_at"] for s in slack.scheduled_messages()] == [post_at]
    assert slack.channel_messages(MIGRATIONS_CHANNEL) == []
    past = int(slack.state.now()) - 10
    assert (
        api_error(lambda: client.chat_scheduleMessage(channel=MIGRATIONS_CHANNEL, post_at=past, text="x"))[
            "error"
        ]
        == "time_in_past"
    )


def test_every_call_is_recorded_without_the_token(client: WebClient, slack: SlackStandIn) -> None:
    slack.reset_calls()
    client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="hello")
    client.users_info(user=ADMIN)
    with pytest.raises(SlackApiError):
        client.users_info(user="U0NOBODY")
    calls = slack.calls()
    assert [(c.method, c.status, c.ok) for c in calls] == [
        ("chat.postMessage", 200, True),
        ("users.info", 200, True),
        ("users.info", 200, False),
    ]
    assert calls[0].params == {"channel": MIGRATIONS_CHANNEL, "text": "hello"}
    assert calls[2].error == "user_not_found"
    assert all(slack.bot_token not in json.dumps(c.params) for c in calls)
    assert [c.method for c in slack.calls("users.info")] == ["users.info", "users.info"]
    assert slack.internal_errors() == []


def test_unknown_methods_answer_unknown_method(client: WebClient) -> None:
    assert api_error(lambda: client.api_call("chat.teleport"))["error"] == "unknown_method"


PARENT_TS, REPLY_TS = "1767225600.000000", "1767225600.000001"  # first two ts under a ManualClock


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[SlackStandIn]:
    with SlackStandIn(clock=ManualClock(1_767_225_600.0)) as stand_in:
        client = WebClient(token=stand_in.bot_token, base_url=stand_in.api_url)
        parent = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="parent")
        reply = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="reply", thread_ts=parent["ts"])
        assert (parent["ts"], reply["ts"]) == (PARENT_TS, REPLY_TS)
        yield stand_in


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            MIGRATIONS_CHANNEL,
            "#migrations",
            ADMIN,
            APPROVERS_GROUP,
            PARENT_TS,
            REPLY_TS,
            "1.5",
            "modal",
            "home",
            "[]",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ARGUMENT_NAMES = [
    "text", "blocks", "ts", "message_ts", "thread_ts", "metadata", "view", "view_id", "external_id", "hash",
    "trigger_id", "user", "user_id", "usergroup", "files", "filename", "length", "limit", "cursor", "oldest",
    "latest", "inclusive", "post_at", "reply_broadcast", "include_all_metadata",
]  # fmt: skip
arguments = st.fixed_dictionaries(
    {"channel": st.sampled_from([MIGRATIONS_CHANNEL, "#migrations"]) | json_values},
    optional=dict.fromkeys(ARGUMENT_NAMES, json_values),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(
        [
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
            "chat.delete",
            "chat.getPermalink",
            "views.open",
            "views.update",
            "views.push",
            "views.publish",
            "users.info",
            "usergroups.users.list",
            "conversations.history",
            "conversations.replies",
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "chat.scheduleMessage",
        ]
    ),
    params=arguments,
)
def test_nonsense_arguments_get_slack_errors_not_crashes(
    fuzzed: SlackStandIn, method: str, params: dict[str, Any]
) -> None:
    client = WebClient(token=fuzzed.bot_token, base_url=fuzzed.api_url)
    known = len(fuzzed.internal_errors())
    try:
        client.api_call(method, json=params)
    except SlackApiError as err:
        assert err.response.status_code == 200 and isinstance(err.response["error"], str)
    assert fuzzed.internal_errors()[known:] == []


text_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["plain_text", "mrkdwn", "bogus"]) | json_values},
    optional={"text": st.text(max_size=3) | json_values},
)
element_dicts = st.fixed_dictionaries(
    {"type": st.sampled_from(["button", "static_select", "number_input", "datepicker", "overflow", "x"])},
    optional={
        "action_id": st.text(max_size=3) | json_values,
        "text": text_objects | json_values,
        "options": st.lists(st.fixed_dictionaries({}, optional={"text": text_objects, "value": json_values})),
        "option_groups": json_values,
        "initial_option": json_values,
        "initial_options": json_values,
        "initial_date": json_values,
        "is_decimal_allowed": json_values,
        "placeholder": text_objects | json_values,
    },
)
block_dicts = st.fixed_dictionaries(
    {"type": st.sampled_from(["section", "actions", "input", "header", "context", "image", "divider"])},
    optional={
        "block_id": st.text(max_size=3) | json_values,
        "text": text_objects | json_values,
        "fields": st.lists(text_objects) | json_values,
        "elements": st.lists(element_dicts | json_values, max_size=3) | json_values,
        "element": element_dicts | json_values,
        "accessory": element_dicts | json_values,
        "label": text_objects | json_values,
        "dispatch_action": json_values,
    },
)
views = st.fixed_dictionaries(
    {"type": st.sampled_from(["modal", "home"]), "blocks": st.lists(block_dicts, max_size=4) | json_values},
    optional={"title": text_objects | json_values, "submit": text_objects | json_values,
              "private_metadata": json_values, "callback_id": json_values, "external_id": json_values},
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(blocks=st.lists(block_dicts, max_size=4), view=views)
def test_nonsense_blocks_and_views_get_slack_errors_not_crashes(
    fuzzed: SlackStandIn, blocks: list[Any], view: dict[str, Any]
) -> None:
    client = WebClient(token=fuzzed.bot_token, base_url=fuzzed.api_url)
    known = len(fuzzed.internal_errors())
    calls: list[Callable[[], object]] = [
        lambda: client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="x", blocks=blocks),
        lambda: client.chat_update(channel=MIGRATIONS_CHANNEL, ts=PARENT_TS, text="x", blocks=blocks),
        lambda: client.views_open(trigger_id=fuzzed.issue_trigger(ADMIN), view=view),
        lambda: client.views_publish(user_id=ADMIN, view=view),
    ]
    for call in calls:
        try:
            call()
        except SlackApiError as err:
            assert err.response.status_code == 200 and isinstance(err.response["error"], str)
    assert fuzzed.internal_errors()[known:] == []
