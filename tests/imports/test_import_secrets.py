"""The activation code never leaves the process: not to Slack, the logs (at DEBUG) or the database."""

from __future__ import annotations

import json
import logging

import pytest

from sandbox.slack import REQUESTER
from storage.enums import ImportBatchState
from tests.imports.conftest import DB_MYSQL_01, LEGACY_ERP_01, WEB_PROD_01, Imports, all_rows

DESTINATION = "1000000000000001"


def test_the_activation_code_reaches_only_the_cloud(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    imports.cloud.faults.fail_command(DB_MYSQL_01, output="[SMC] Registering failed: server refused\n")
    batch_id = imports.submit(WEB_PROD_01, DB_MYSQL_01, LEGACY_ERP_01)
    assert imports.wait_until_done(batch_id) is ImportBatchState.PARTIAL
    imports.cloud.faults.clear_command_failure(DB_MYSQL_01)
    imports.bot.driver.block_action(REQUESTER, "import_retry", batch_id, message=imports.summary(batch_id))
    imports.bot.settle()
    assert imports.wait_until_done(batch_id) is ImportBatchState.PARTIAL

    tokens = [t for t in imports.cloud.world.access_tokens.values() if t.account_uid == DESTINATION]
    codes = [t.code for t in tokens]
    # The code was really used: both servers registered with it.
    assert codes and sum(t.registered_count for t in tokens) == 2

    slack_traffic = [
        json.dumps({"params": c.params, "response": c.response}, default=str) for c in imports.slack.calls()
    ]
    assert slack_traffic and imports.slack.calls("chat.update")
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records] + [caplog.text]
    assert any("install command sent" in line for line in logged)
    stored = [f"{table}: {row}" for table, row in all_rows(imports.bot.services.db)]
    assert any(batch_id in line for line in stored)
    for code in codes:
        assert not [t for t in slack_traffic if code in t], "activation code sent to Slack"
        assert not [line for line in logged if code in line], "activation code logged"
        assert not [line for line in stored if code in line], "activation code stored"
