"""Crash and re-run safety of the import task; cloud errors are shown in the thread, never a silent hang."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.domain.import_plan import run_key, token_name
from bot.domain.import_runner import ImportRunner, ImportSettings
from bot.import_script import InstallScripts
from bot.services import cloud_gateway
from sandbox.slack import REQUESTER
from storage.enums import ImportBatchState, ImportItemState
from storage.models import ImportBatch, ImportItem, Outbox
from storage.types import utcnow
from tests.imports.conftest import DB_MYSQL_01, POLL, WEB_PROD_01, Imports, buttons, texts


def calls(imports: Imports, action: str) -> int:
    return len(imports.cloud.calls(action))


def test_running_the_task_again_never_makes_a_second_code_or_command(imports: Imports) -> None:
    batch_id = imports.submit(WEB_PROD_01, DB_MYSQL_01)
    payload = {"task": "import", "batch_id": batch_id}
    assert (calls(imports, "CreateAccessToken"), calls(imports, "RunCommand")) == (1, 1)

    # The same task again at once (a duplicate delivery of the intent): it only polls.
    assert imports.bot.services.import_runner.run(payload) == POLL

    # Its holder died mid-run: the lease ran out and the worker claims the intent again.
    polls = calls(imports, "DescribeInvocations")
    with imports.bot.services.db.unit_of_work() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.key == run_key(batch_id, 0))  # type: ignore[arg-type]
            .values(lease_owner="dead-replica:1", lease_expires_at=utcnow(), next_attempt_at=utcnow())
        )
    imports.bot.settle()
    assert calls(imports, "DescribeInvocations") > polls

    # A new process, whose memory holds no activation code, picks the batch up.
    settings = imports.bot.services.settings
    restarted = ImportRunner(
        imports.bot.services.db,
        cloud_gateway(settings),
        InstallScripts.load(),
        ImportSettings(),
        clock=imports.clock,
        kick=lambda: None,
    )
    assert restarted.run(payload) == POLL

    assert (calls(imports, "CreateAccessToken"), calls(imports, "RunCommand")) == (1, 1)
    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    assert (calls(imports, "CreateAccessToken"), calls(imports, "RunCommand")) == (1, 1)
    [command] = imports.cloud.calls("RunCommand")
    assert {command.params["InstanceId.1"], command.params["InstanceId.2"]} == {WEB_PROD_01, DB_MYSQL_01}
    assert len([t for t in texts(imports.replies(batch_id)) if "Import finished" in t]) == 1


def test_a_code_created_just_before_a_crash_is_deleted_not_left_usable(imports: Imports) -> None:
    batch_id = imports.submit(WEB_PROD_01, settle=False)
    name = token_name(batch_id, 0)
    orphan = imports.bot.services.cloud.destination().create_access_token(name=name, count=1, ttl_days=1)

    imports.bot.settle()

    named = [t for t in imports.cloud.world.access_tokens.values() if t.name == name]
    assert [t.token_id for t in named] != [orphan.id] and len(named) == 1
    assert imports.batch(batch_id).access_token_id == named[0].token_id
    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED


def test_instances_claimed_before_a_crash_are_never_sent_twice(imports: Imports) -> None:
    batch_id = imports.submit(WEB_PROD_01, settle=False)
    # What the runner records just before RunCommand; then the process died without an answer.
    with imports.bot.services.db.unit_of_work() as session:
        session.execute(update(ImportBatch).values(state=ImportBatchState.RUNNING))
        session.execute(
            update(ImportItem).values(
                state=ImportItemState.INSTALLING,
                deadline_at=imports.clock() + timedelta(minutes=15),
                attempts=1,
            )
        )

    imports.bot.settle()
    assert calls(imports, "RunCommand") == 0
    assert imports.wait_until_done(batch_id) is ImportBatchState.FAILED

    assert calls(imports, "RunCommand") == 0
    item = imports.items(batch_id)[WEB_PROD_01]
    assert item.state is ImportItemState.TIMED_OUT
    assert "restarted while it was sending the install command" in (item.error_message or "")


def test_throttling_beyond_the_adapters_retries_is_shown_with_a_retry_button(imports: Imports) -> None:
    imports.cloud.faults.throttle("RunCommand", times=10, retry_after_ms=1)
    batch_id = imports.submit(WEB_PROD_01)

    assert imports.batch(batch_id).state is ImportBatchState.FAILED
    item = imports.items(batch_id)[WEB_PROD_01]
    assert (item.state, item.error_code) == (ImportItemState.FAILED, "Throttling.User")
    error = imports.replies(batch_id)[0]
    error_text = texts([error])[0]
    assert "sending the install command" in error_text and "`Throttling.User`" in error_text
    assert "What to do" in error_text and [b["value"] for b in buttons(error)] == [batch_id]

    imports.cloud.faults.clear()
    imports.bot.driver.block_action(REQUESTER, "import_retry", batch_id, message=error)
    imports.bot.settle()
    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    assert calls(imports, "CreateAccessToken") == 1


def test_an_internal_error_creating_the_activation_code_is_shown_in_the_thread(imports: Imports) -> None:
    imports.cloud.faults.set_error_rate("CreateAccessToken", 1.0, times=1)
    batch_id = imports.submit(WEB_PROD_01)

    assert imports.batch(batch_id).state is ImportBatchState.FAILED
    assert imports.items(batch_id)[WEB_PROD_01].error_code == "InternalError"
    error_text = texts(imports.replies(batch_id))[0]
    assert "creating the activation code in SMC" in error_text
    assert "SMC had an internal error" in error_text and "Retry import" in error_text
    assert calls(imports, "RunCommand") == 0


def test_a_poll_that_fails_is_reported_once_and_the_import_carries_on(imports: Imports) -> None:
    batch_id = imports.submit(WEB_PROD_01)
    imports.cloud.faults.set_error_rate("DescribeInvocations", 1.0, times=8)  # two polls' worth of retries

    assert imports.wait_until_done(batch_id) is ImportBatchState.COMPLETED
    poll_errors = [t for t in texts(imports.replies(batch_id)) if "checking on the install commands" in t]
    assert len(poll_errors) == 1 and "InternalError" in poll_errors[0]
    assert "keeps checking" in poll_errors[0]
