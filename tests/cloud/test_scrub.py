"""The scrubber removes known secrets and the places secrets travel in SDK error texts."""

from __future__ import annotations

from bot.cloud.ports import MASK, Secret
from bot.cloud.scrub import Scrubber


def test_registered_values_are_masked_wherever_they_appear() -> None:
    scrub = Scrubber()
    scrub.register(Secret("ACTIVATION-abcdef"), "sts-token-xyz123", None, "")
    text = scrub("output: ACTIVATION-abcdef and token sts-token-xyz123 done")
    assert "ACTIVATION-abcdef" not in text
    assert "sts-token-xyz123" not in text
    assert text.count(MASK) == 2


def test_request_urls_lose_their_query_string() -> None:
    scrub = Scrubber()
    text = scrub(
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
        "/?Parameters=%7B%22code%22%3A%22unknown-code%22%7D&RegionId=cn-hangzhou (Caused by refused)"
    )
    assert "unknown-code" not in text
    assert "url: /?…" in text


def test_named_secret_fields_are_masked_even_when_unknown() -> None:
    scrub = Scrubber()
    text = scrub('{"SecurityToken": "CAIS-never-seen", "AccessKeySecret": "zzz-never-seen"} Signature=abc')
    assert "never-seen" not in text
    assert "Signature=abc" not in text


def test_ordinary_questions_keep_their_question_marks() -> None:
    assert Scrubber()("Is the role trusted? Check it.") == "Is the role trusted? Check it."
