"""Modals and App Home in the Slack stand-in: trigger ids, hashes, stacks and Block Kit limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import ADMIN, REQUESTER, SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def modal(
    title: str = "Migrate", *, blocks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "migrate",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Next"},
        "blocks": blocks if blocks is not None else [disk_input()],
        **extra,
    }


def disk_input(block_id: str = "disk") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "System disk (GiB)"},
        "element": {"type": "number_input", "action_id": "size", "is_decimal_allowed": False},
    }


def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    data = caught.value.response.data
    assert isinstance(data, dict)
    return data


def test_views_open_needs_a_trigger_id_the_driver_issued(client: WebClient, slack: SlackStandIn) -> None:
    assert api_error(lambda: client.views_open(trigger_id="123.456.bogus", view=modal()))["error"] == (
        "invalid_trigger_id"
    )
    trigger = slack.issue_trigger(REQUESTER)
    view = client.views_open(trigger_id=trigger, view=modal())["view"]
    assert view["id"].startswith("V") and view["hash"] and view["root_view_id"] == view["id"]
    opened = slack.open_view(REQUESTER)
    assert opened is not None and (opened.id, opened.callback_id, opened.title) == (
        view["id"],
        "migrate",
        "Migrate",
    )


def test_a_trigger_id_expires_after_three_seconds(client: WebClient, slack: SlackStandIn) -> None:
    trigger = slack.issue_trigger(REQUESTER)
    slack.advance(3.1)
    assert (
        api_error(lambda: client.views_open(trigger_id=trigger, view=modal()))["error"]
        == "expired_trigger_id"
    )
    assert slack.open_view(REQUESTER) is None


def test_a_trigger_id_works_once(client: WebClient, slack: SlackStandIn) -> None:
    trigger = slack.issue_trigger(REQUESTER)
    client.views_open(trigger_id=trigger, view=modal())
    assert (
        api_error(lambda: client.views_open(trigger_id=trigger, view=modal()))["error"]
        == "exchanged_trigger_id"
    )


def test_views_update_with_a_stale_hash_is_a_hash_conflict(client: WebClient, slack: SlackStandIn) -> None:
    opened = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal("Loading"))["view"]
    first = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Step 1"))["view"]
    assert first["hash"] != opened["hash"]
    error = api_error(
        lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Step 2"))
    )
    assert error["error"] == "hash_conflict"
    current = slack.view(opened["id"])
    assert (current.title, current.hash, current.versions) == ("Step 1", first["hash"], 2)
    client.views_update(view_id=opened["id"], view=modal("Step 2"))
    assert slack.view(opened["id"]).title == "Step 2"


def test_views_update_by_external_id(client: WebClient, slack: SlackStandIn) -> None:
    client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal(external_id="req-1"))
    updated = client.views_update(external_id="req-1", view=modal("Updated", external_id="req-1"))["view"]
    assert slack.view(updated["id"]).title == "Updated"
    assert api_error(lambda: client.views_update(external_id="req-404", view=modal()))["error"] == "not_found"


def test_entered_values_survive_an_update_that_keeps_block_and_action_ids(
    client: WebClient, slack: SlackStandIn
) -> None:
    opened = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal())["view"]
    stored = slack.state.views.views[opened["id"]]
    slack.state.views.set_entry(stored, "disk", "size", {"type": "number_input", "value": "80"})
    client.views_update(view_id=opened["id"], view=modal(blocks=[disk_input(), disk_input("data")]))
    values = slack.view(opened["id"]).state_values
    assert values["disk"]["size"]["value"] == "80"
    assert values["data"]["size"]["value"] is None
    client.views_update(view_id=opened["id"], view=modal(blocks=[disk_input("renamed")]))
    assert slack.view(opened["id"]).state_values == {
        "renamed": {"size": {"type": "number_input", "value": None}}
    }


def test_blocks_without_ids_get_generated_ones(client: WebClient, slack: SlackStandIn) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
    view = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal(blocks=[section]))["view"]
    assert view["blocks"][0]["block_id"]


def test_the_modal_stack_holds_three_views(client: WebClient, slack: SlackStandIn) -> None:
    root = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal("One"))["view"]
    second = client.views_push(
        trigger_id=slack.issue_trigger(REQUESTER, view_id=root["id"]), view=modal("Two")
    )
    assert second["view"]["previous_view_id"] == root["id"] and second["view"]["root_view_id"] == root["id"]
    client.views_push(trigger_id=slack.issue_trigger(REQUESTER), view=modal("Three"))
    error = api_error(
        lambda: client.views_push(trigger_id=slack.issue_trigger(REQUESTER), view=modal("Four"))
    )
    assert error["error"] == "push_limit_reached"
    assert [v.title for v in slack.views(REQUESTER)] == ["One", "Two", "Three"]


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (
            modal("A title of 25 characters!"),
            "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]",
        ),
        (
            modal(private_metadata="x" * 3001),
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]",
        ),
        (
            modal(callback_id="c" * 256),
            "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]",
        ),
        (
            modal(blocks=[{"type": "divider"}] * 101),
            "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]",
        ),
        (
            modal(submit={"type": "plain_text", "text": "Submit this migration now"}),
            "[ERROR] must be less than 25 characters [json-pointer:/view/submit/text]",
        ),
    ],
)
def test_modal_limits_are_invalid_arguments(
    client: WebClient, slack: SlackStandIn, view: dict[str, Any], message: str
) -> None:
    trigger = slack.issue_trigger(REQUESTER)
    error = api_error(lambda: client.views_open(trigger_id=trigger, view=view))
    assert error["error"] == "invalid_arguments"
    assert error["response_metadata"]["messages"] == [message]
    assert slack.open_view(REQUESTER) is None


def test_a_modal_of_exactly_100_blocks_with_24_char_title_opens(
    client: WebClient, slack: SlackStandIn
) -> None:
    view = modal("A title of 24 characters", blocks=[{"type": "divider"}] * 100, private_metadata="m" * 3000)
    client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=view)
    opened = slack.open_view(REQUESTER)
    assert opened is not None and len(opened.blocks) == 100


def test_views_publish_keeps_one_home_per_user(client: WebClient, slack: SlackStandIn) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "My requests"}}],
    }
    first = client.views_publish(user_id=REQUESTER, view=home)["view"]
    again = client.views_publish(user_id=REQUESTER, view=home, hash=first["hash"])["view"]
    assert again["id"] == first["id"] and again["hash"] != first["hash"]
    assert api_error(lambda: client.views_publish(user_id=REQUESTER, view=home, hash=first["hash"]))[
        "error"
    ] == ("hash_conflict")
    published = slack.home(REQUESTER)
    assert published is not None and published.type == "home"
    assert slack.home(ADMIN) is None
    assert (
        api_error(lambda: client.views_publish(user_id=REQUESTER, view=modal()))["error"]
        == "invalid_arguments"
    )


def test_push_from_a_modal_that_was_replaced_is_not_found(client: WebClient, slack: SlackStandIn) -> None:
    first = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal("First"))["view"]
    from_first = slack.issue_trigger(REQUESTER, view_id=first["id"])
    client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=modal("Second"))
    assert (
        api_error(lambda: client.views_push(trigger_id=from_first, view=modal("Pushed")))["error"]
        == "not_found"
    )
    assert [v.title for v in slack.views(REQUESTER)] == ["Second"]
    assert not slack.view(first["id"]).is_open
