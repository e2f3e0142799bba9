"""Rate limits and injected failures in the Slack stand-in, and slack_sdk's retry handlers against them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

from sandbox.slack import GENERAL_CHANNEL, MIGRATIONS_CHANNEL, ManualClock, SlackStandIn


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def slack(clock: ManualClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(clock=clock) as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def raw_post(
    slack: SlackStandIn, method: str, **params: str
) -> tuple[int, dict[str, str], dict[str, object]]:
    body = json.dumps(params).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {slack.bot_token}",
    }
    request = urllib.request.Request(slack.api_url + method, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, dict(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), json.loads(err.read())


def test_limits_are_off_by_default(client: WebClient, slack: SlackStandIn) -> None:
    for i in range(20):
        client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text=f"m{i}")
    assert len(slack.channel_messages(MIGRATIONS_CHANNEL)) == 20


def test_post_message_is_limited_per_channel_after_a_burst(slack: SlackStandIn, clock: ManualClock) -> None:
    slack.enable_rate_limits(post_message_per_second=1.0, post_message_burst=2)
    statuses = [
        raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="x")[0] for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    status, headers, body = raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="x")
    assert (status, headers["Retry-After"], body) == (429, "1", {"ok": False, "error": "ratelimited"})
    assert raw_post(slack, "chat.postMessage", channel=GENERAL_CHANNEL, text="other channel")[0] == 200

    clock.advance(1.0)
    assert raw_post(slack, "chat.postMessage", channel="#migrations", text="a second later")[0] == 200
    assert raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="too soon")[0] == 429
    assert len(slack.channel_messages(MIGRATIONS_CHANNEL)) == 3
    assert [c.status for c in slack.calls("chat.postMessage")].count(429) == 3


def test_rate_limits_switch_off_at_runtime(slack: SlackStandIn) -> None:
    slack.enable_rate_limits(post_message_burst=1)
    raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="x")
    assert raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="x")[0] == 429
    slack.disable_rate_limits()
    assert raw_post(slack, "chat.postMessage", channel=MIGRATIONS_CHANNEL, text="x")[0] == 200


def test_per_method_limits_give_retry_after_until_refill(slack: SlackStandIn, clock: ManualClock) -> None:
    slack.enable_rate_limits(method_limits={"users.info": (20, 2)})
    statuses = [raw_post(slack, "users.info", user="U0ADMIN")[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert raw_post(slack, "users.info", user="U0ADMIN")[1]["Retry-After"] == "3"
    clock.advance(3)
    assert raw_post(slack, "users.info", user="U0ADMIN")[0] == 200


def test_injected_429s_and_5xx_follow_the_configured_rate(slack: SlackStandIn) -> None:
    slack.inject_faults(rate_429=1.0, methods=["users.info"], retry_after=7)
    status, headers, body = raw_post(slack, "users.info", user="U0ADMIN")
    assert (status, headers["Retry-After"], body["error"]) == (429, "7", "ratelimited")
    assert raw_post(slack, "auth.test")[0] == 200
    slack.inject_faults(rate_5xx=1.0)
    assert raw_post(slack, "auth.test")[0] in (500, 503)
    slack.inject_faults(rate_429=0.1)
    statuses = [raw_post(slack, "auth.test")[0] for _ in range(200)]
    assert 0 < statuses.count(429) < 60
    assert set(statuses) == {200, 429}


def test_slack_sdk_retry_handler_honours_retry_after(slack: SlackStandIn) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    client = WebClient(
        token=slack.bot_token, base_url=slack.api_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    assert client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="eventually")["ok"]
    calls = slack.calls("chat.postMessage")
    assert [(c.status, c.headers.get("Retry-After")) for c in calls] == [(429, "1"), (200, None)]
    assert [m.text for m in slack.channel_messages(MIGRATIONS_CHANNEL)] == ["eventually"]


def test_without_a_retry_handler_the_429_reaches_the_caller(client: WebClient, slack: SlackStandIn) -> None:
    slack.fail_next("views.publish", status=429, retry_after=30)
    with pytest.raises(SlackApiError) as caught:
        client.views_publish(user_id="U0ADMIN", view={"type": "home", "blocks": []})
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] in ("30", ["30"])


def test_server_error_retry_handler_retries_a_503(slack: SlackStandIn) -> None:
    slack.fail_next("chat.update", status=503)
    client = WebClient(
        token=slack.bot_token, base_url=slack.api_url, retry_handlers=[ServerErrorRetryHandler()]
    )
    ts = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="v1")["ts"]
    client.chat_update(channel=MIGRATIONS_CHANNEL, ts=ts, text="v2")
    assert [c.status for c in slack.calls("chat.update")] == [503, 200]
    assert slack.channel_messages(MIGRATIONS_CHANNEL)[0].text == "v2"


def test_a_lost_response_still_posts_the_message(client: WebClient, slack: SlackStandIn) -> None:
    slack.fail_next("chat.postMessage", status=500, after_effect=True)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="posted, but the bot never heard")
    assert [m.text for m in slack.channel_messages(MIGRATIONS_CHANNEL)] == ["posted, but the bot never heard"]
