"""chat.update has one budget per workspace: the paced client keeps under it instead of earning 429s."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.pacing import PacedWebClient, paced
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn


def edit_repeatedly(client: WebClient, ts: str, times: int) -> int:
    """How many of `times` edits Slack refused with 429."""
    refused = 0
    for n in range(times):
        try:
            client.chat_update(channel=MIGRATIONS_CHANNEL, ts=ts, text=f"edit {n}")
        except SlackApiError as exc:
            assert exc.response.status_code == 429
            refused += 1
    return refused


def test_paced_edits_stay_under_the_limit_that_refuses_unpaced_ones(slack: SlackStandIn) -> None:
    plain = WebClient(token=slack.bot_token, base_url=slack.api_url)
    ts = str(plain.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="summary")["ts"])
    # Ten edits a second with no burst; the paced client leaves 0.3 s between two.
    slack.enable_rate_limits(method_limits={"chat.update": (600, 1)})
    assert edit_repeatedly(plain, ts, 5) > 0
    slack.enable_rate_limits(method_limits={"chat.update": (600, 1)})
    client = paced(plain, {"chat.update": 0.3})
    assert isinstance(client, PacedWebClient) and client.base_url == plain.base_url
    assert edit_repeatedly(client, ts, 5) == 0
    assert slack.message(MIGRATIONS_CHANNEL, ts).text == "edit 4"


def test_without_intervals_the_client_is_used_as_it_is(slack: SlackStandIn) -> None:
    plain = WebClient(token=slack.bot_token, base_url=slack.api_url)
    assert paced(plain, {"chat.update": 0.0}) is plain
