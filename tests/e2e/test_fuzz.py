"""Bad input (issue 4): hundreds of forged, stale, malformed and truncated requests: no 5xx, no crash."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from handlers.ids import ActionId, BlockId, CallbackId, Subcommand
from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER
from sandbox.slack.signing import FORM, JSON
from storage.models import AuditEvent, ImportBatch, Outbox
from tests.harness import BotUnderTest

RUNS = settings(
    max_examples=int(os.environ.get("SMC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=not os.environ.get("SMC_FUZZ_EXAMPLES"),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
known_ids = st.sampled_from([*(a.value for a in ActionId), *(b.value for b in BlockId)])
ids = known_ids | st.text(max_size=20)
callbacks = st.sampled_from([c.value for c in CallbackId]) | st.text(max_size=20)
metadata = st.sampled_from(['{"channel_id": "C0MIGRATE"}', "{", "[]", '{"channel_id": 5}', ""]) | st.text(
    max_size=20
)

state_entries = st.dictionaries(
    ids,
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                ["external_select", "multi_external_select", "plain_text_input", "radio"]
            ),
            "value": json_values,
            "selected_option": json_values
            | st.fixed_dictionaries({"value": json_values, "text": json_values}),
            "selected_options": json_values
            | st.lists(st.fixed_dictionaries({"value": json_values}), max_size=3),
        },
    ),
    max_size=3,
)
views = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=12) | json_values,
        "hash": st.text(max_size=12) | json_values,
        "callback_id": callbacks,
        "private_metadata": metadata | json_values,
        "state": st.fixed_dictionaries(
            {"values": st.dictionaries(ids, state_entries, max_size=4) | json_values}
        )
        | json_values,
        "blocks": json_values,
    },
)
users = (
    st.fixed_dictionaries(
        {}, optional={"id": st.sampled_from([REQUESTER, "U0NOBODY"]) | json_values, "team_id": json_values}
    )
    | json_values
)
interactions = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "block_actions",
                "view_submission",
                "block_suggestion",
                "view_closed",
                "shortcut",
                "message_action",
            ]
        )
        | st.text(max_size=12)
        | json_values,
        "user": users,
        "team": st.fixed_dictionaries({"id": st.just("T0SANDBOX") | json_values}) | json_values,
        "view": views | json_values,
        "actions": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "action_id": ids,
                    "block_id": ids,
                    "type": st.text(max_size=8),
                    "value": json_values,
                },
            )
            | json_values,
            max_size=2,
        )
        | json_values,
        "action_id": ids | json_values,
        "block_id": ids | json_values,
        "callback_id": callbacks | json_values,
        "value": st.text(max_size=20) | json_values,
        "container": json_values,
        "channel": st.fixed_dictionaries({"id": st.just(MIGRATIONS_CHANNEL) | json_values}) | json_values,
        "trigger_id": st.text(max_size=12) | json_values,
    },
)
words = st.sampled_from([s.value for s in Subcommand]) | st.text(max_size=10)
commands = st.fixed_dictionaries(
    {},
    optional={
        "command": st.just("/smc") | st.text(max_size=8),
        "text": st.builds(lambda w, rest: f"{w} {rest}", words, st.text(max_size=30)),
        "user_id": st.just(REQUESTER) | st.text(max_size=12),
        "channel_id": st.just(MIGRATIONS_CHANNEL) | st.text(max_size=12),
        "team_id": st.just("T0SANDBOX") | st.text(max_size=12),
        "trigger_id": st.text(max_size=12),
        "ssl_check": st.sampled_from(["1", "0"]),
    },
)


def _form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def _payload(value: Any) -> bytes:
    return urlencode({"payload": json.dumps(value)}).encode()


VALID_SUBMISSION = _payload(
    {
        "type": "view_submission",
        "user": {"id": REQUESTER, "team_id": "T0SANDBOX"},
        "team": {"id": "T0SANDBOX"},
        "view": {
            "id": "V0FUZZ",
            "callback_id": CallbackId.IMPORT.value,
            "private_metadata": '{"channel_id": "C0MIGRATE"}',
            "state": {"values": {"import_account": {"import_account": {"value": "2000000000000002"}}}},
        },
    }
)
VALID_COMMAND = _form(
    {"command": "/smc", "text": "list all", "user_id": REQUESTER, "channel_id": MIGRATIONS_CHANNEL}
)

signed_bodies = st.one_of(
    st.binary(max_size=200).map(lambda b: (b, FORM)),
    commands.map(lambda c: (c, FORM)),
    interactions.map(lambda p: (_payload(p), FORM)),
    json_values.map(lambda v: (_payload(v), FORM)),
    st.text(max_size=60).map(lambda t: (b"payload=" + t.encode(), FORM)),
    interactions.map(lambda p: (json.dumps(p).encode(), JSON)),
    json_values.map(lambda v: (json.dumps(v).encode(), JSON)),
    st.sampled_from([VALID_SUBMISSION, VALID_COMMAND]).flatmap(
        lambda body: st.integers(0, len(body) - 1).map(lambda n: (body[:n], FORM))
    ),
)


def _unhandled(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and ("unhandled error" in r.getMessage() or "background work failed" in r.getMessage())
    ]


def _rows(bot: BotUnderTest) -> tuple[int, int, int]:
    with bot.services.db.unit_of_work() as session:
        return (
            len(session.exec(select(Outbox)).all()),
            len(session.exec(select(AuditEvent)).all()),
            len(session.exec(select(ImportBatch)).all()),
        )


def test_forged_and_stale_requests_get_401_and_nothing_happens(bot: BotUnderTest) -> None:
    before = _rows(bot)

    @RUNS
    @given(
        body=st.binary(max_size=200) | commands.map(_form) | interactions.map(_payload),
        how=st.sampled_from(
            ["missing", "forged", "wrong-secret", "stale", "future", "no-timestamp", "garbage"]
        ),
    )
    def fire(body: bytes, how: str) -> None:
        now = int(time.time())
        headers = bot.driver.signed_headers(body)
        if how == "missing":
            del headers["X-Slack-Signature"]
        elif how == "forged":
            headers["X-Slack-Signature"] = "v0=" + hashlib.sha256(body).hexdigest()
        elif how == "wrong-secret":
            base = f"v0:{now}:".encode() + body
            headers["X-Slack-Signature"] = (
                "v0=" + hmac.new(b"not-the-secret", base, hashlib.sha256).hexdigest()
            )
        elif how == "stale":
            headers = bot.driver.signed_headers(body, timestamp=now - 301)
        elif how == "future":
            headers = bot.driver.signed_headers(body, timestamp=now + 3600)
        elif how == "no-timestamp":
            del headers["X-Slack-Request-Timestamp"]
        else:
            headers["X-Slack-Request-Timestamp"] = "yesterday"
        assert bot.driver.post_raw(body, headers).status == 401

    fire()
    bot.wait_for_background()
    assert bot.slack.calls() == []
    assert bot.cloud.calls() == []
    assert _rows(bot) == before


def test_signed_malformed_requests_get_a_4xx_or_a_polite_answer_never_a_5xx(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    statuses: set[int] = set()

    @RUNS
    @given(signed_bodies)
    def fire(sent: tuple[bytes | dict[str, str], str]) -> None:
        body, content_type = sent
        if isinstance(body, dict):
            # Slack always sends a live response_url with a command; the bot may answer through it.
            url = bot.slack.issue_response_url(REQUESTER, MIGRATIONS_CHANNEL)
            body = _form({**body, "response_url": url})
        result = bot.driver.post_raw(body, bot.driver.signed_headers(body, content_type=content_type))
        statuses.add(result.status)
        assert result.status < 500, (body[:200], result.status, result.text[:200])

    with caplog.at_level(logging.ERROR):
        fire()
        bot.wait_for_background()
    assert _unhandled(caplog) == []
    assert statuses & {200} and statuses & {400, 404}
    follow_up = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help")
    assert follow_up.acked_in_time and not follow_up.problems
    assert "/smc import" in follow_up.data["text"]
