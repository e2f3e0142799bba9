"""`/smc config`: who may open it, what it validates in the modal, what a save changes and announces."""

from __future__ import annotations

import json
from typing import Any

from sandbox.slack import (
    ADMIN,
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    MIGRATIONS_CHANNEL,
    OUTSIDER,
    REQUESTER,
    ViewSnapshot,
)
from storage import repository as repo
from storage.enums import AuditOutcome
from tests.approval.conftest import audit, configure
from tests.harness import BotUnderTest

VALID: dict[str, dict[str, Any]] = {
    "cfg_approver_groups": {"cfg_approver_groups": [APPROVERS_GROUP]},
    "cfg_quorum": {"cfg_quorum": "1"},
    "cfg_expiry_hours": {"cfg_expiry_hours": "24"},
}


def open_config(bot: BotUnderTest, user: str = ADMIN) -> ViewSnapshot:
    result = bot.driver.slash_command(user, MIGRATIONS_CHANNEL, text="config")
    assert result.acked_in_time and not result.problems
    view = bot.slack.open_view(user)
    assert view is not None and view.callback_id == "channel_config"
    return view


def submit(bot: BotUnderTest, view: ViewSnapshot, **changes: Any) -> dict[str, str]:
    """Submit the modal with VALID plus `changes` ({block: value}); the field errors, if any."""
    values = {**VALID, **{block: {block: value} for block, value in changes.items()}}
    result = bot.driver.submit_view(ADMIN, view.id, values)
    assert result.acked_in_time and not result.problems
    data = result.data or {}
    errors: dict[str, str] = data.get("errors", {}) if data.get("response_action") == "errors" else {}
    return errors


def stored(bot: BotUnderTest) -> Any:
    with bot.services.db.unit_of_work() as s:
        return repo.get_channel_config(s, MIGRATIONS_CHANNEL)


def test_someone_who_is_not_an_admin_is_refused_and_the_refusal_is_audited(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    result = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="config")
    assert result.acked_in_time
    assert bot.slack.open_view(REQUESTER) is None
    assert any("Only this channel's admins" in e.text for e in bot.slack.ephemerals(REQUESTER))
    refused = [e for e in audit(bot.services.db) if e.outcome is AuditOutcome.REFUSED]
    assert [(e.actor, e.action) for e in refused] == [(REQUESTER, "config.opened")]


def test_a_workspace_admin_opens_the_modal_with_the_user_groups_and_current_values(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2, users=[APPROVER_1], expiry_hours=12)
    view = open_config(bot)
    text = json.dumps(view.blocks)
    assert "@smc-approvers" in text and APPROVERS_GROUP in text
    assert view.state_values["cfg_quorum"]["cfg_quorum"]["value"] == "2"
    assert view.state_values["cfg_expiry_hours"]["cfg_expiry_hours"]["value"] == "12"
    assert view.state_values["cfg_approver_users"]["cfg_approver_users"]["selected_users"] == [APPROVER_1]
    assert "every job whose destination is an existing instance" in text


def test_a_quorum_below_one_is_refused_in_the_modal(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    errors = submit(bot, open_config(bot), cfg_quorum="0")
    assert "at least 1" in errors["cfg_quorum"]
    assert stored(bot) is None


def test_a_quorum_more_people_than_can_approve_is_refused_as_unreachable(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    errors = submit(bot, open_config(bot), cfg_quorum="3")
    assert "can never be reached" in errors["cfg_quorum"] and "only 2 people" in errors["cfg_quorum"]
    assert stored(bot) is None


def test_expiry_must_be_between_one_hour_and_a_week(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    view = open_config(bot)
    assert "1 to 168" in submit(bot, view, cfg_expiry_hours="0")["cfg_expiry_hours"]
    assert "1 to 168" in submit(bot, view, cfg_expiry_hours="169")["cfg_expiry_hours"]
    assert stored(bot) is None


def test_at_least_one_approver_is_required(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    errors = submit(bot, open_config(bot), cfg_approver_groups=[])
    assert "at least one approver" in errors["cfg_approver_groups"]


def test_malformed_defaults_say_what_to_type(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    errors = submit(
        bot,
        open_config(bot),
        cfg_default_region="Hangzhou!",
        cfg_default_source_account="12ab",
        cfg_poll_seconds="2",
    )
    assert "cn-hangzhou" in errors["cfg_default_region"]
    assert "digits only" in errors["cfg_default_source_account"]
    assert "5 to 3600" in errors["cfg_poll_seconds"]


def test_a_valid_save_is_stored_audited_announced_and_warns_about_an_unreachable_quorum_for_approvers(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    view = open_config(bot)
    errors = submit(
        bot,
        view,
        cfg_quorum="2",
        cfg_expiry_hours="8",
        cfg_approval_methods=["test_only"],
        cfg_default_region="cn-shanghai",
        cfg_default_network="vpc",
    )
    assert errors == {}
    config = stored(bot)
    assert config.approver_usergroups == [APPROVERS_GROUP] and config.quorum == 2
    assert config.expiry_hours == 8 and config.approval_methods == ["test_only"] and not config.self_approval
    assert config.default_region == "cn-shanghai" and config.default_network == "vpc"
    assert config.updated_by == ADMIN

    saved = bot.slack.open_view(ADMIN)
    assert saved is not None and "Saved" in json.dumps(saved.blocks)
    assert "only 1 others can approve" in json.dumps(saved.blocks), "2 approvers, quorum 2, no self-approval"

    [change] = [e for e in audit(bot.services.db) if e.action == "config.changed"]
    assert change.actor == ADMIN and change.detail["changed"]["quorum"] == {"from": None, "to": 2}

    bot.settle()
    [notice] = [m for m in bot.slack.channel_messages(MIGRATIONS_CHANNEL) if "approval policy" in m.text]
    assert f"<@{ADMIN}>" in notice.text and "Quorum:* 2" in json.dumps(notice.blocks)


def test_self_approval_and_approver_users_are_saved(approval_bot: BotUnderTest) -> None:
    bot = approval_bot
    errors = submit(
        bot,
        open_config(bot),
        cfg_approver_groups=[],
        cfg_approver_users=[APPROVER_1, APPROVER_2],
        cfg_self_approval=["allowed"],
    )
    assert errors == {}
    config = stored(bot)
    assert config.approver_users == [APPROVER_1, APPROVER_2] and config.self_approval


def test_configured_admins_replace_the_workspace_admins_and_must_include_the_one_saving(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    view = open_config(bot)
    assert "Include yourself" in submit(bot, view, cfg_admin_users=[APPROVER_1])["cfg_admin_users"]
    assert submit(bot, view, cfg_admin_users=[ADMIN, APPROVER_1]) == {}

    open_config(bot, APPROVER_1)  # a configured admin who is not a workspace admin
    bot.driver.slash_command(OUTSIDER, MIGRATIONS_CHANNEL, text="config")
    assert bot.slack.open_view(OUTSIDER) is None
