"""Importing source servers end to end: the real adapters against the sandbox cloud, the worker, Slack."""

from __future__ import annotations

import json

from sqlmodel import select

from sandbox.slack import APPROVER_1, MIGRATIONS_CHANNEL, OUTSIDER, REQUESTER
from storage.enums import AuditOutcome, ImportBatchState, ImportItemState
from storage.models import AuditEvent, ChannelConfig, ImportBatch
from tests.imports.conftest import (
    APP_JAVA_01,
    DB_MYSQL_01,
    LEGACY_ERP_01,
    OTHER_APP_01,
    SOURCE_ACCOUNT,
    TARGET_LINUX_01,
    UNTRUSTING_ACCOUNT,
    WEB_PROD_01,
    WIN_AD_01,
    Imports,
    buttons,
    texts,
)

DESTINATION = "1000000000000001"
WIN_AD_01_SOURCE = "s-bp1knv31zn9d3jznb5y3"


def source_of(imports: Imports, instance_id: str) -> str:
    """The SourceId the simulator registered for an instance in the destination account."""
    found = [
        s.source_id
        for s in imports.cloud.world.source_servers.values()
        if s.instance_id == instance_id and s.account_uid == DESTINATION
    ]
    assert len(found) == 1, found
    return found[0]


def fail_database_command(imports: Imports) -> None:
    imports.cloud.faults.fail_command(DB_MYSQL_01, exit_code=127, output="sh: curl: command not found\n")


def test_three_instances_one_agent_offline_one_command_failing(imports: Imports) -> None:
    fail_database_command(imports)
    batch_id = imports.submit(WEB_PROD_01, DB_MYSQL_01, LEGACY_ERP_01)

    assert imports.states(batch_id) == {
        WEB_PROD_01: ImportItemState.INSTALLING,
        DB_MYSQL_01: ImportItemState.INSTALLING,
        LEGACY_ERP_01: ImportItemState.AGENT_OFFLINE,
    }
    assert imports.wait_until_done(batch_id) is ImportBatchState.PARTIAL

    items = imports.items(batch_id)
    assert items[WEB_PROD_01].state is ImportItemState.ONLINE
    assert items[WEB_PROD_01].source_server_id == source_of(imports, WEB_PROD_01)
    assert items[LEGACY_ERP_01].error_code == "Bot.CloudAssistantOffline"
    assert items[DB_MYSQL_01].state is ImportItemState.FAILED
    assert items[DB_MYSQL_01].error_code == "ExitCodeNonzero"
    assert "curl: command not found" in (items[DB_MYSQL_01].output_tail or "")

    summary = imports.summary(batch_id)
    [summary_text] = texts([summary])
    assert f"online as `{items[WEB_PROD_01].source_server_id}`" in summary_text
    assert "curl: command not found" in summary_text
    assert [b["value"] for b in buttons(summary)] == [batch_id]

    replies = imports.replies(batch_id)
    _, failed, finished = replies
    offline_text, failed_text, finished_text = texts(replies)
    assert "legacy-erp-01" in offline_text and "Bot.CloudAssistantOffline" in offline_text
    assert "Install or start the Cloud Assistant agent" in offline_text
    assert "db-mysql-01" in failed_text and "ExitCodeNonzero" in failed_text
    assert "non-zero exit code" in failed_text  # what it means
    assert "sh: curl: command not found" in failed_text  # the command's output tail
    assert [b["action_id"] for b in buttons(failed)] == ["import_retry"]
    assert "1 of 3 source servers online" in finished_text and finished.reply_broadcast
    assert [c.params["Type"] for c in imports.cloud.calls("RunCommand")] == ["RunShellScript"]


def test_retry_of_the_failed_instance_after_the_fix_brings_it_online(imports: Imports) -> None:
    fail_database_command(imports)
    batch_id = imports.submit(WEB_PROD_01, DB_MYSQL_01)
    assert imports.wait_until_done(batch_id) is ImportBatchState.PARTIAL
    imports.cloud.faults.clear_command_failure(DB_MYSQL_01)
    failure = imports.replies(batch_id)[0]

    answer = imports.bot.driver.block_action(REQUESTER, "import_retry", batch_id, message=failure)
    assert answer.status == 200
    imports.bot.settle()

    assert imports.batch(batch_id).state is ImportBatchState.RUNNING
    assert any("retried the import of 1 server" in t for t in texts(imports.replies(batch_id)))
    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    items = imports.items(batch_id)
    assert items[DB_MYSQL_01].state is ImportItemState.ONLINE
    assert items[DB_MYSQL_01].source_server_id == source_of(imports, DB_MYSQL_01)
    assert items[DB_MYSQL_01].attempts == 2
    # The first run's activation code still had a use left: no second code; one more command, for one server.
    assert len(imports.cloud.calls("CreateAccessToken")) == 1
    commands = imports.cloud.calls("RunCommand")
    assert len(commands) == 2
    assert commands[1].params.get("InstanceId.1") == DB_MYSQL_01 and "InstanceId.2" not in commands[1].params
    assert "3 of 3" not in texts(imports.replies(batch_id))[-1]
    assert "2 of 2 source servers online" in texts(imports.replies(batch_id))[-1]


def test_someone_who_is_not_requester_approver_or_admin_cannot_retry(imports: Imports) -> None:
    fail_database_command(imports)
    batch_id = imports.submit(DB_MYSQL_01)
    assert imports.wait_until_done(batch_id) is ImportBatchState.FAILED
    failure = imports.replies(batch_id)[0]

    imports.bot.driver.block_action(OUTSIDER, "import_retry", batch_id, message=failure)
    imports.bot.settle()

    assert imports.batch(batch_id).state is ImportBatchState.FAILED
    assert imports.states(batch_id) == {DB_MYSQL_01: ImportItemState.FAILED}
    [refusal] = imports.slack.ephemerals(OUTSIDER)
    assert "Only whoever asked for this import" in refusal.text
    with imports.bot.services.db.unit_of_work() as session:
        audited = session.exec(select(AuditEvent).where(AuditEvent.action == "import.retry")).all()
        assert [(e.actor, e.outcome) for e in audited] == [(OUTSIDER, AuditOutcome.REFUSED)]


def test_an_approver_of_the_channel_may_retry(imports: Imports) -> None:
    with imports.bot.services.db.unit_of_work() as session:
        session.add(
            ChannelConfig(
                channel_id=MIGRATIONS_CHANNEL, team_id="T0SANDBOX", approver_usergroups=["S0SMCAPPROVERS"]
            )
        )
    fail_database_command(imports)
    batch_id = imports.submit(DB_MYSQL_01)
    assert imports.wait_until_done(batch_id) is ImportBatchState.FAILED
    imports.cloud.faults.clear_command_failure(DB_MYSQL_01)

    imports.bot.driver.block_action(APPROVER_1, "import_retry", batch_id, message=imports.summary(batch_id))
    imports.bot.settle()
    # A second click (or a Slack retry) while the new run is under way changes nothing.
    imports.bot.driver.block_action(
        APPROVER_1, "import_retry", batch_id, message=imports.replies(batch_id)[0]
    )
    imports.bot.settle()

    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    assert len(imports.cloud.calls("RunCommand")) == 2
    assert "Nothing to retry" in imports.slack.ephemerals(APPROVER_1)[0].text
    with imports.bot.services.db.unit_of_work() as session:
        audited = session.exec(select(AuditEvent).where(AuditEvent.action == "import.retry")).all()
        assert [(e.actor, e.outcome) for e in audited] == [(APPROVER_1, AuditOutcome.OK)]


def test_a_source_that_never_comes_online_times_out(imports: Imports) -> None:
    imports.cloud.world.timings.source_register_delay = 3600.0
    batch_id = imports.submit(APP_JAVA_01)

    imports.advance(14 * 60)
    assert imports.states(batch_id) == {APP_JAVA_01: ImportItemState.WAITING_ONLINE}
    assert imports.wait_until_done(batch_id) is ImportBatchState.FAILED

    item = imports.items(batch_id)[APP_JAVA_01]
    assert item.state is ImportItemState.TIMED_OUT
    assert item.error_code == "Bot.SourceImportTimeout"
    assert "did not come online within 15 minutes" in (item.error_message or "")
    failure_text = texts(imports.replies(batch_id))[0]
    assert "Bot.SourceImportTimeout" in failure_text and "Retry import" in failure_text


def test_a_role_that_does_not_trust_the_bot_fails_the_batch_with_a_clear_message(imports: Imports) -> None:
    batch_id = imports.submit(OTHER_APP_01, account=UNTRUSTING_ACCOUNT)

    assert imports.batch(batch_id).state is ImportBatchState.FAILED
    item = imports.items(batch_id)[OTHER_APP_01]
    assert (item.state, item.error_code) == (ImportItemState.FAILED, "NoPermission")
    error, finished = imports.replies(batch_id)
    error_text = texts([error])[0]
    assert "`NoPermission`" in error_text
    assert f"acs:ram::{UNTRUSTING_ACCOUNT}:role/ram-role-smc" in error_text  # what Alibaba Cloud refused
    assert "AliyunSTSAssumeRoleAccess" in error_text  # what to do
    assert buttons(error) and "none of the 1 source servers" in texts([finished])[0]
    assert imports.cloud.calls("CreateAccessToken") == [] and imports.cloud.calls("RunCommand") == []


def test_a_same_account_import_uses_the_bots_own_credentials(imports: Imports) -> None:
    batch_id = imports.submit(TARGET_LINUX_01, account=None, role=None)

    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    assert imports.items(batch_id)[TARGET_LINUX_01].source_server_id == source_of(imports, TARGET_LINUX_01)
    assert imports.cloud.calls("AssumeRole") == []
    assert {c.account_uid for c in imports.cloud.calls("RunCommand")} == {DESTINATION}


def test_linux_and_windows_get_one_command_each_of_their_own_type(imports: Imports) -> None:
    batch_id = imports.submit(WEB_PROD_01, WIN_AD_01)

    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    commands = imports.cloud.calls("RunCommand")
    assert sorted((c.params["Type"], c.params["InstanceId.1"]) for c in commands) == [
        ("RunPowerShellScript", WIN_AD_01),
        ("RunShellScript", WEB_PROD_01),
    ]
    assert all(c.params["EnableParameter"].lower() == "true" for c in commands)
    assert all(
        set(json.loads(c.params["Parameters"])) == {"accessTokenId", "accessTokenCode"} for c in commands
    )
    assert len({c.params["ClientToken"] for c in commands}) == 2
    # win-ad-01 was already a source of the destination: re-importing it keeps its SourceId.
    assert imports.items(batch_id)[WIN_AD_01].source_server_id == WIN_AD_01_SOURCE
    [token] = imports.cloud.calls("CreateAccessToken")
    assert token.params["Count"] == "2" and token.params["TimeToLiveInDays"] == "1"


def test_an_import_submitted_through_the_modal_ends_with_its_source_online(imports: Imports) -> None:
    bot = imports.bot
    opened = bot.driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="import")
    assert opened.acked_in_time and not opened.problems, opened.problems
    bot.wait_for_background()
    view = bot.slack.open_view(REQUESTER)
    assert view is not None
    bot.driver.fill(
        REQUESTER,
        view.id,
        {
            "import_account": {"import_account": SOURCE_ACCOUNT},
            "import_role": {"import_role": "ram-role-smc"},
        },
    )
    bot.driver.options(REQUESTER, view.id, "import_region")
    bot.driver.fill(REQUESTER, view.id, {"import_region": {"import_region": "cn-hangzhou"}})
    bot.driver.options(REQUESTER, view.id, "import_instances", value="web-prod-01")
    submitted = bot.driver.submit_view(
        REQUESTER, view.id, {"import_instances": {"import_instances": [WEB_PROD_01]}}
    )
    assert submitted.acked_in_time and not submitted.problems, submitted.problems
    bot.wait_for_background()
    bot.settle()

    with bot.services.db.unit_of_work() as session:
        [batch_id] = session.exec(select(ImportBatch.id)).all()
    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    source_id = source_of(imports, WEB_PROD_01)
    assert f"online as `{source_id}`" in texts([imports.summary(batch_id)])[0]
