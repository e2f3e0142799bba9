"""`/smc import` over signed HTTP: the modal, live options through the role, access errors, submission."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from sandbox.slack import MIGRATIONS_CHANNEL, REQUESTER, BotResponse, ViewSnapshot
from storage import repository as repo
from storage.enums import ImportItemState, OutboxKind
from storage.models import AuditEvent, ImportBatch
from tests.harness import BotUnderTest

SOURCE_ACCOUNT = "2000000000000002"
UNTRUSTING_ACCOUNT = "3000000000000003"
DESTINATION_ACCOUNT = "1000000000000001"
WEB_1 = "i-bp1g89ubw2sb4krcndqk"
WEB_2 = "i-bp1a6ipvadtfx3gtiw58"
WIN_AD = "i-bp1ggcjqfmks5f7yshlv"


def open_import(bot: BotUnderTest) -> ViewSnapshot:
    result = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="import")
    assert result.acked_in_time and not result.problems, result.problems
    bot.wait_for_background()
    view = bot.slack.open_view(REQUESTER)
    assert view is not None and view.callback_id == "import_sources"
    return view


def type_source(bot: BotUnderTest, view: ViewSnapshot, account: str, role: str = "ram-role-smc") -> None:
    bot.driver.fill(
        REQUESTER,
        view.id,
        {"import_account": {"import_account": account}, "import_role": {"import_role": role}},
    )


def options(bot: BotUnderTest, view: ViewSnapshot, action: str, value: str = "") -> list[dict[str, Any]]:
    result = bot.driver.options(REQUESTER, view.id, action, value=value)
    assert result.acked_in_time and not result.problems, result.problems
    data = result.data
    found = list(data.get("options") or [])
    for group in data.get("option_groups") or []:
        found += group["options"]
    return found


def labels(found: list[dict[str, Any]]) -> list[str]:
    return [o["text"]["text"] for o in found]


def values(found: list[dict[str, Any]]) -> list[str]:
    return [o["value"] for o in found]


def pick_region(bot: BotUnderTest, view: ViewSnapshot, region: str) -> None:
    assert region in values(options(bot, view, "import_region"))
    bot.driver.fill(REQUESTER, view.id, {"import_region": {"import_region": region}})


def picks(region: str, instances: list[str]) -> dict[str, dict[str, object]]:
    return {"import_region": {"import_region": region}, "import_instances": {"import_instances": instances}}


def block_ids(view: ViewSnapshot) -> list[str]:
    return [b.get("block_id", "") for b in view.blocks]


def submit(bot: BotUnderTest, view: ViewSnapshot, instances: list[str]) -> BotResponse:
    return bot.driver.submit_view(REQUESTER, view.id, {"import_instances": {"import_instances": instances}})


def test_import_opens_the_modal_with_every_console_field(bot: BotUnderTest) -> None:
    view = open_import(bot)
    assert view.title == "Import source servers"
    assert block_ids(view)[1:] == [
        "import_source_type",
        "import_scope",
        "import_account",
        "import_role",
        "import_region",
        "import_instances",
        block_ids(view)[-1],
    ]
    elements = {b["block_id"]: b.get("element", {}) for b in view.blocks if b["type"] == "input"}
    assert elements["import_region"]["type"] == "external_select"
    assert elements["import_instances"]["type"] == "multi_external_select"
    assert elements["import_role"]["initial_value"] == "ram-role-smc"
    assert view.state_values["import_source_type"]["import_source_type"]["selected_option"]["value"] == (
        "ecs_instance"
    )


def test_regions_are_loaded_through_the_assumed_role_of_the_source_account(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    found = options(bot, view, "import_region")
    assert values(found) == ["cn-hangzhou", "cn-shanghai"]
    assert "China (Shanghai) · cn-shanghai" in labels(found)
    [assume] = bot.cloud.calls("AssumeRole")
    assert assume.params["RoleArn"] == f"acs:ram::{SOURCE_ACCOUNT}:role/ram-role-smc"
    assert {c.account_uid for c in bot.cloud.calls("DescribeRegions")} == {SOURCE_ACCOUNT}


def test_instances_are_searchable_by_name_id_and_private_ip(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-hangzhou")
    everything = options(bot, view, "import_instances")
    assert len(everything) == 6
    assert "web-prod-01 · i-bp1g89ubw2sb4krcndqk · 172.16.10.11" in labels(everything)
    assert values(options(bot, view, "import_instances", "web-prod")) == [WEB_1, WEB_2]
    assert values(options(bot, view, "import_instances", "172.16.20.41")) == [WIN_AD]
    assert values(options(bot, view, "import_instances", "GGCJQ")) == [WIN_AD]
    assert {c.account_uid for c in bot.cloud.calls("DescribeInstances")} == {SOURCE_ACCOUNT}


def test_more_than_a_hundred_instances_are_reachable_by_searching(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-shanghai")
    result = bot.driver.options(REQUESTER, view.id, "import_instances")
    [group] = result.data["option_groups"]
    assert group["label"]["text"] == "First 100 of 130: type an ID, name or IP"
    assert len(group["options"]) == 100
    assert "batch-sh-125" not in " ".join(labels(group["options"]))
    [found] = options(bot, view, "import_instances", "batch-sh-125")
    assert found["text"]["text"].startswith("batch-sh-125 · i-")
    [by_ip] = labels(options(bot, view, "import_instances", "192.168.1.139"))
    assert by_ip.startswith("batch-sh-") and by_ip.endswith(" · 192.168.1.139")
    # Two pages were read once; the searches were answered from the cached region.
    assert len(bot.cloud.calls("DescribeInstances")) == 2


def test_instances_wait_for_a_region_and_a_valid_account(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, "12345")
    assert labels(options(bot, view, "import_region")) == ["Enter a valid source account ID and role first"]
    type_source(bot, view, SOURCE_ACCOUNT)
    [hint] = options(bot, view, "import_instances")
    assert hint["text"]["text"] == "Choose the region first" and hint["value"].startswith("!")
    assert bot.cloud.calls("AssumeRole") == []


def test_a_role_that_does_not_trust_the_bot_gets_a_field_error_naming_the_fix(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, UNTRUSTING_ACCOUNT)
    [placeholder] = options(bot, view, "import_region")
    assert placeholder["text"]["text"].startswith(":warning: Cannot assume the role")
    result = bot.driver.submit_view(
        REQUESTER,
        view.id,
        {
            "import_region": {"import_region": "cn-hangzhou"},
            "import_instances": {"import_instances": [WEB_1]},
        },
    )
    assert result.acked_in_time and not result.problems, result.problems
    assert result.data["response_action"] == "errors"
    message = result.data["errors"]["import_role"]
    assert f"In the source account {UNTRUSTING_ACCOUNT}" in message
    assert f"trust the Alibaba Cloud account {DESTINATION_ACCOUNT}" in message
    assert "policy-smc" in message
    with bot.services.db.unit_of_work() as session:
        assert session.exec(select(ImportBatch)).all() == []


def test_pressing_enter_in_the_role_input_checks_access_after_the_ack(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, UNTRUSTING_ACCOUNT)
    result = bot.driver.block_action(REQUESTER, "import_role", "ram-role-smc", view_id=view.id)
    assert result.acked_in_time and not result.problems
    bot.wait_for_background()
    shown = bot.slack.view(view.id)
    [note] = [b for b in shown.blocks if b.get("block_id") == "import_access"]
    assert "must exist and trust the Alibaba Cloud account 1000000000000001" in note["elements"][0]["text"]
    assert shown.state_values["import_account"]["import_account"]["value"] == UNTRUSTING_ACCOUNT

    type_source(bot, view, SOURCE_ACCOUNT)
    bot.driver.block_action(REQUESTER, "import_account", SOURCE_ACCOUNT, view_id=view.id)
    bot.wait_for_background()
    [note] = [b for b in bot.slack.view(view.id).blocks if b.get("block_id") == "import_access"]
    assert note["elements"][0]["text"] == ":white_check_mark: The bot can assume this role."


def test_malformed_account_and_role_say_what_to_type(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, "2000-0000", role="ram role!")
    result = bot.driver.submit_view(
        REQUESTER,
        view.id,
        {
            "import_region": {"import_region": "cn-hangzhou"},
            "import_instances": {"import_instances": [WEB_1]},
        },
    )
    errors = result.data["errors"]
    assert "2000-0000 is not an account ID: type only the digits" in errors["import_account"]
    assert "ram role! contains space '!'" in errors["import_role"]
    type_source(bot, view, "20000000000002")
    result = bot.driver.submit_view(REQUESTER, view.id)
    assert (
        "20000000000002 has 14 digits; an Alibaba Cloud account ID has 16"
        in result.data["errors"]["import_account"]
    )
    assert bot.cloud.calls("AssumeRole") == []


def test_same_account_hides_the_account_and_role_and_uses_the_bots_own_account(bot: BotUnderTest) -> None:
    view = open_import(bot)
    result = bot.driver.block_action(REQUESTER, "import_scope", "same", view_id=view.id)
    assert result.acked_in_time and not result.problems
    shown = bot.slack.view(view.id)
    assert "import_account" not in block_ids(shown) and "import_role" not in block_ids(shown)
    assert values(options(bot, shown, "import_region")) == ["cn-hangzhou", "cn-shanghai"]
    pick_region(bot, shown, "cn-hangzhou")
    assert "target-linux-01 · i-bp14kzy194uiygtm79ma · 10.10.1.20" in labels(
        options(bot, shown, "import_instances")
    )
    assert bot.cloud.calls("AssumeRole") == []
    assert {c.account_uid for c in bot.cloud.calls("DescribeInstances")} == {DESTINATION_ACCOUNT}
    bot.driver.block_action(REQUESTER, "import_scope", "cross", view_id=view.id)
    assert "import_account" in block_ids(bot.slack.view(view.id))


def test_a_valid_submission_stores_the_batch_and_posts_the_import_thread(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-hangzhou")
    options(bot, view, "import_instances", "web-prod")
    result = submit(bot, view, [WEB_1, WEB_2])
    assert result.acked_in_time and not result.problems, result.problems
    assert result.data["response_action"] == "update"
    started = bot.slack.view(view.id)
    text = started.blocks[0]["text"]["text"]
    assert "started: 2 instances from account `2000000000000002` in `cn-hangzhou`" in text
    batch_id = text.split("`")[1]

    with bot.services.db.unit_of_work() as session:
        batch = repo.get_import_batch(session, batch_id)
        assert batch is not None
        assert (batch.source_account_id, batch.role_name, batch.region_id) == (
            SOURCE_ACCOUNT,
            "ram-role-smc",
            "cn-hangzhou",
        )
        assert (batch.requester, batch.channel_id, batch.cross_account) == (
            REQUESTER,
            MIGRATIONS_CHANNEL,
            True,
        )
        items = repo.import_items(session, batch_id)
        assert [(i.instance_id, i.instance_name, i.private_ip, i.state) for i in items] == [
            (WEB_1, "web-prod-01", "172.16.10.11", ImportItemState.PENDING),
            (WEB_2, "web-prod-02", "172.16.10.12", ImportItemState.PENDING),
        ]
        work = repo.get_outbox(session, f"work:imp:{batch_id}:run")
        assert work is not None and work.kind is OutboxKind.WORK
        assert work.payload == {"task": "import", "batch_id": batch_id}
        [audit] = session.exec(select(AuditEvent).where(AuditEvent.action == "import.submit")).all()
        assert audit.actor == REQUESTER and audit.detail["instance_ids"] == [WEB_1, WEB_2]

    bot.settle()
    [thread] = bot.slack.channel_messages(MIGRATIONS_CHANNEL)
    assert "Import of 2 source servers" in thread.text
    body = "\n".join(b["text"]["text"] for b in thread.blocks if b["type"] == "section")
    assert "from account `2000000000000002` through the role `ram-role-smc` in `cn-hangzhou`" in body
    # One line per instance; its state is the runner's to move on (bot.domain.import_runner).
    assert f"*web-prod-01* `{WEB_1}` (172.16.10.11) — " in body
    assert f"*web-prod-02* `{WEB_2}` (172.16.10.12) — " in body


def test_a_repeated_submission_of_the_same_modal_makes_one_batch(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-hangzhou")
    options(bot, view, "import_instances")
    first = submit(bot, view, [WIN_AD])
    again = bot.driver.replay(first)
    assert again.status == 200
    with bot.services.db.unit_of_work() as session:
        assert len(session.exec(select(ImportBatch)).all()) == 1


def test_an_unchecked_role_is_checked_after_the_ack_then_submitted(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    # Picked without the options ever loading (e.g. another replica answered them): nothing is cached.
    result = bot.driver.submit_view(
        REQUESTER,
        view.id,
        {
            "import_region": {"import_region": "cn-hangzhou"},
            "import_instances": {"import_instances": [WIN_AD]},
        },
    )
    assert result.acked_in_time and not result.problems, result.problems
    assert result.data["response_action"] == "update"
    assert "Checking access to account `2000000000000002`" in result.data["view"]["blocks"][0]["text"]["text"]
    bot.wait_for_background()
    assert "started: 1 instance from account" in bot.slack.view(view.id).blocks[0]["text"]["text"]
    with bot.services.db.unit_of_work() as session:
        [batch] = session.exec(select(ImportBatch)).all()
        [item] = repo.import_items(session, batch.id)
        assert (item.instance_id, item.instance_name, item.private_ip) == (
            WIN_AD,
            "win-ad-01",
            "172.16.20.41",
        )


def test_a_refused_role_found_after_the_ack_shows_the_form_again_with_the_fix(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, UNTRUSTING_ACCOUNT)
    result = bot.driver.submit_view(
        REQUESTER,
        view.id,
        {
            "import_region": {"import_region": "cn-hangzhou"},
            "import_instances": {"import_instances": ["i-bp196hfqqzkz8as8mq0h"]},
        },
    )
    assert result.data["response_action"] == "update"
    bot.wait_for_background()
    shown = bot.slack.view(view.id)
    banner = shown.blocks[1]["text"]["text"]
    assert banner.startswith(":warning: Not imported yet: Cannot assume the RAM role")
    assert f"trust the Alibaba Cloud account {DESTINATION_ACCOUNT}" in banner
    assert shown.state_values["import_instances"]["import_instances"]["selected_options"][0]["value"] == (
        "i-bp196hfqqzkz8as8mq0h"
    )
    # The refusal is now known: a second submission gets the field error in the ack.
    again = bot.driver.submit_view(REQUESTER, view.id)
    assert again.data["response_action"] == "errors" and "policy-smc" in again.data["errors"]["import_role"]


def test_a_role_without_policy_smc_is_refused_with_the_policy_to_attach(bot: BotUnderTest) -> None:
    bot.cloud.faults.set_error_rate(
        "DescribeInstances", 1.0, code="Forbidden.RAM", status=403, message="User not authorized."
    )
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-hangzhou")
    [placeholder] = options(bot, view, "import_instances")
    assert (
        placeholder["text"]["text"] == ":warning: Not allowed (Forbidden.RAM): attach policy-smc to the role"
    )
    result = submit(bot, view, [WEB_1])
    message = result.data["errors"]["import_role"]
    assert "ECS refused DescribeInstances (Forbidden.RAM)" in message
    assert "attach the custom policy 'policy-smc'" in message


def test_a_slow_cloud_answers_loading_then_serves_the_finished_fetch(bot: BotUnderTest) -> None:
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    pick_region(bot, view, "cn-hangzhou")
    bot.cloud.faults.set_latency("DescribeInstances", 3.0)
    [loading] = options(bot, view, "import_instances", "web")
    assert loading["text"]["text"] == ":hourglass_flowing_sand: Loading… type again in a moment"
    assert loading["value"].startswith("!")
    assert bot.services.source_catalog.drain()
    calls = len(bot.cloud.calls("DescribeInstances"))
    assert values(options(bot, view, "import_instances", "web")) == [WEB_1, WEB_2]
    assert len(bot.cloud.calls("DescribeInstances")) == calls
    # Picking the placeholder is refused with what to do.
    result = submit(bot, view, [loading["value"]])
    assert result.data["errors"]["import_instances"] == (
        "Choose at least one instance: type part of its ID, name or private IP to search."
    )


def test_a_slow_cloud_never_delays_an_ack_of_the_import_flow(bot: BotUnderTest) -> None:
    """Latency above Slack's 3 s deadline: anything calling the cloud before its ack would miss it."""
    bot.cloud.faults.set_latency("*", 3.5)
    view = open_import(bot)
    type_source(bot, view, SOURCE_ACCOUNT)
    for result in (
        bot.driver.block_action(REQUESTER, "import_role", "ram-role-smc", view_id=view.id),
        bot.driver.block_action(REQUESTER, "import_scope", "cross", view_id=view.id),
        bot.driver.options(REQUESTER, view.id, "import_region"),
        bot.driver.submit_view(REQUESTER, view.id, picks("cn-hangzhou", [WEB_1])),
    ):
        assert result.acked_in_time and not result.problems, result.problems
    assert result.data["response_action"] == "update"
    bot.cloud.faults.set_latency("*", 0)
    bot.wait_for_background()
    assert "started: 1 instance from account" in bot.slack.view(view.id).blocks[0]["text"]["text"]
