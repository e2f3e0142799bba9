"""`/smc` over signed HTTP: usage for help, empty and unknown input; signatures enforced."""

from __future__ import annotations

from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER
from tests.harness import BotUnderTest


def test_help_answers_with_usage_only_the_user_sees(bot: BotUnderTest) -> None:
    result = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")
    assert result.acked_in_time and not result.problems
    assert result.data["response_type"] == "ephemeral"
    assert "/smc migrate" in result.data["text"]
    assert bot.slack.channel_messages(MIGRATIONS_CHANNEL) == []


def test_empty_and_unknown_subcommands_get_the_usage(bot: BotUnderTest) -> None:
    empty = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="")
    unknown = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="frobnicate now")
    assert empty.data["response_type"] == "ephemeral" and "/smc import" in empty.data["text"]
    assert "`/smc frobnicate` is not a command." in unknown.data["text"]


def test_a_bad_signature_is_refused_with_401_and_nothing_happens(bot: BotUnderTest) -> None:
    body = b"command=%2Fsmc&text=help&user_id=U1&channel_id=C1&team_id=T1&trigger_id=x"
    headers = bot.driver.signed_headers(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert bot.driver.post_raw(body, headers).status == 401
    stale = bot.driver.signed_headers(body, timestamp=1_000_000_000)
    assert bot.driver.post_raw(body, stale).status == 401
    assert bot.slack.calls() == []


def test_signed_but_malformed_bodies_get_a_4xx_never_a_5xx(bot: BotUnderTest) -> None:
    for body in (b"payload=%7Bnot-json", b"payload=%FF%FE", b"\xff\xfe\x00garbage", b"payload=[1,2]"):
        result = bot.driver.post_raw(body, bot.driver.signed_headers(body))
        assert 400 <= result.status < 500, (body, result.status)
    follow_up = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")
    assert follow_up.acked_in_time
