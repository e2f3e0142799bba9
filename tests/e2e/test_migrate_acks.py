"""The 3-second rule: with 5 s of cloud latency on every call, the migrate flow answers Slack at once."""

from __future__ import annotations

import json

import pytest

from handlers.forms import LOADING_VALUE
from sandbox.slack import ACK_DEADLINE, MIGRATIONS_CHANNEL, REQUESTER, BotResponse, SlackDriver
from storage.enums import TargetType
from tests.handlers.wizard import FIELD, WizardUser
from tests.harness import BotUnderTest

SLOW_CLOUD_S = 5.0
FAST_ACK_S = 1.0
WEB = "s-bp1dtyvdak02x846kq4p"


def acked_fast(result: BotResponse) -> bool:
    return result.acked_in_time and not result.problems and result.elapsed < FAST_ACK_S


def test_every_step_is_acknowledged_at_once_while_the_cloud_takes_5_seconds(bot: BotUnderTest) -> None:
    bot.cloud.faults.set_latency("*", SLOW_CLOUD_S)
    driver, wizard = bot.driver, WizardUser(bot)
    # The user does not wait for the slow lookups between clicks: the wizard must ack without them.
    driver.after_answer = None

    command = driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text=f"migrate {WEB}")
    assert acked_fast(command)
    bot.wait_for_background()
    opened = bot.slack.open_view(REQUESTER)
    assert opened is not None and "web-prod-02" in json.dumps(opened.blocks)
    wizard.view_id = opened.id

    picks = [
        driver.block_action(
            REQUESTER, FIELD, "cn-hangzhou", view_id=opened.id, block_id=wizard.block("region")
        ),
        driver.block_action(
            REQUESTER,
            FIELD,
            TargetType.TARGET_INSTANCE.value,
            view_id=opened.id,
            block_id=wizard.block("target_type"),
        ),
    ]
    assert all(acked_fast(p) for p in picks), [(p.elapsed, p.problems) for p in picks]
    bot.services.background.drain()

    # Nothing cached for the instances of the region: the answer comes before Slack's deadline, as one
    # "loading" option, while the list is fetched in the background.
    instances = wizard.options("instance_id")
    assert instances.acked_in_time and not instances.problems and instances.elapsed < ACK_DEADLINE
    assert [o["value"] for o in instances.data["options"]] == [LOADING_VALUE]

    back_to_image = driver.block_action(
        REQUESTER, FIELD, TargetType.IMAGE.value, view_id=opened.id, block_id=wizard.block("target_type")
    )
    assert acked_fast(back_to_image)
    bot.services.background.drain()

    # The image name needs the region's job names, still on their way: "checking…", then the next page.
    checking = driver.submit_view(REQUESTER, opened.id, {})
    assert acked_fast(checking)
    assert checking.data["response_action"] == "update" and "Checking your choices" in checking.text
    bot.wait_for_background()
    assert "system_disk_size" in wizard.fields()

    back = driver.block_action(REQUESTER, "migrate_back", view_id=opened.id)
    assert acked_fast(back)
    bot.wait_for_background()
    steps = []
    for _ in ("to disks", "to details", "submit"):
        steps.append(driver.submit_view(REQUESTER, opened.id, {}))
        bot.services.background.drain()
    assert all(acked_fast(s) for s in steps), [(s.elapsed, s.problems, s.text[:200]) for s in steps]
    assert bot.slack.view(opened.id).callback_id == "migrate_done"
    bot.settle()
    [summary] = bot.slack.channel_messages(MIGRATIONS_CHANNEL)
    assert "web-prod-02" in summary.text


@pytest.mark.parametrize("arrival", ["in order", "reversed"])
def test_two_quick_choices_end_with_the_newer_one_shown(
    bot: BotUnderTest, capture_url: str, arrival: str
) -> None:
    """Region, then "existing instance", clicked before the modal was re-rendered: both carry the same view
    hash. Whichever re-render lands first, and whichever request arrives first, the modal ends up showing
    the newer choice (the instance fields), not the older one's page."""
    bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text=f"migrate {WEB}")
    opened = bot.slack.open_view(REQUESTER)
    assert opened is not None
    wizard = WizardUser(bot)
    wizard.view_id = opened.id
    slack_client = SlackDriver(bot.slack, capture_url)
    region = slack_client.block_action(
        REQUESTER, FIELD, "cn-hangzhou", view_id=opened.id, block_id=wizard.block("region")
    )
    target = slack_client.block_action(
        REQUESTER,
        FIELD,
        TargetType.TARGET_INSTANCE.value,
        view_id=opened.id,
        block_id=wizard.block("target_type"),
    )
    assert "instance_id" not in wizard.fields()
    clicks = [region, target] if arrival == "in order" else [target, region]
    for click in clicks:
        # Each re-render lands before the next request: the later one carries a hash Slack has moved past.
        answer = bot.driver.post_raw(click.request_body, bot.driver.signed_headers(click.request_body))
        assert answer.status == 200
        bot.wait_for_background()
    assert "instance_id" in wizard.fields()
    assert bot.slack.view(opened.id).hash != opened.hash
