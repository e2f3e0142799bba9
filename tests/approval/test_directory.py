"""Live approver membership from Slack's user groups, cached briefly; admins from users.info."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk import WebClient

from bot.domain.directory import DirectoryUnavailable
from bot.slack_directory import SlackDirectory
from sandbox.slack import (
    ADMIN,
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    APPROVERS_HANDLE,
    OUTSIDER,
    REQUESTER,
    SlackStandIn,
)
from storage.enums import RequestState
from tests.approval.conftest import (
    MovableClock,
    add_request,
    ask,
    card,
    configure,
    ephemeral_texts,
    request,
    votes,
)
from tests.harness import BotUnderTest


@pytest.fixture
def directory(slack: SlackStandIn, clock: MovableClock) -> SlackDirectory:
    return SlackDirectory(WebClient(token=slack.bot_token, base_url=slack.api_url), clock=clock)


def test_a_group_change_takes_effect_for_votes_once_the_cache_expires(
    approval_bot: BotUnderTest, clock: MovableClock
) -> None:
    bot = approval_bot
    configure(bot.services.db, quorum=2)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.slack.set_usergroup(APPROVERS_HANDLE, [APPROVER_1, OUTSIDER])

    bot.driver.block_action(OUTSIDER, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert any("not an approver" in t for t in ephemeral_texts(bot.slack, OUTSIDER)), "cached for a minute"

    clock.advance(timedelta(seconds=61))
    bot.driver.block_action(APPROVER_2, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert any("not an approver" in t for t in ephemeral_texts(bot.slack, APPROVER_2)), (
        "removed from the group"
    )
    bot.driver.block_action(OUTSIDER, "approve", message=card(bot.slack, rid))
    assert request(bot.services.db, rid).state is RequestState.APPROVED
    assert sorted(v.voter for v in votes(bot.services.db, rid)) == sorted([APPROVER_1, OUTSIDER])


def test_when_slack_cannot_say_who_is_in_the_group_the_click_is_refused_and_can_be_repeated(
    approval_bot: BotUnderTest,
) -> None:
    bot = approval_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)
    bot.slack.fail_next("usergroups.users.list", status=500)
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    bot.settle()
    assert any("could not check the approver group" in t for t in ephemeral_texts(bot.slack, APPROVER_1))
    assert votes(bot.services.db, rid) == []
    bot.driver.block_action(APPROVER_1, "approve", message=card(bot.slack, rid))
    assert request(bot.services.db, rid).state is RequestState.APPROVED


def test_members_are_fetched_once_per_ttl(
    directory: SlackDirectory, slack: SlackStandIn, clock: MovableClock
) -> None:
    assert directory.members_of(APPROVERS_GROUP) == {APPROVER_1, APPROVER_2}
    assert directory.members_of(APPROVERS_GROUP) == {APPROVER_1, APPROVER_2}
    assert len(slack.calls("usergroups.users.list")) == 1
    clock.advance(timedelta(seconds=61))
    directory.members_of(APPROVERS_GROUP)
    assert len(slack.calls("usergroups.users.list")) == 2


def test_an_unknown_group_has_no_members(directory: SlackDirectory) -> None:
    assert directory.members_of("S0NOSUCHGROUP") == frozenset()


def test_an_older_answer_is_used_only_when_slack_fails(
    directory: SlackDirectory, slack: SlackStandIn, clock: MovableClock
) -> None:
    directory.members_of(APPROVERS_GROUP)
    clock.advance(timedelta(minutes=5))
    slack.fail_next("usergroups.users.list", status=500)
    assert directory.members_of(APPROVERS_GROUP) == {APPROVER_1, APPROVER_2}
    slack.fail_next("users.info", status=500)
    with pytest.raises(DirectoryUnavailable):
        directory.is_workspace_admin(ADMIN)


def test_workspace_admins_and_owners_come_from_users_info(directory: SlackDirectory) -> None:
    assert directory.is_workspace_admin(ADMIN)
    assert not directory.is_workspace_admin(REQUESTER)
    assert not directory.is_workspace_admin("U0NOBODY")


def test_listing_the_groups_also_fills_the_membership_cache(
    directory: SlackDirectory, slack: SlackStandIn
) -> None:
    [group] = directory.usergroups()
    assert (group.id, group.handle) == (APPROVERS_GROUP, APPROVERS_HANDLE)
    assert group.members == {APPROVER_1, APPROVER_2}
    assert directory.members_of(APPROVERS_GROUP) == {APPROVER_1, APPROVER_2}
    assert slack.calls("usergroups.users.list") == []
