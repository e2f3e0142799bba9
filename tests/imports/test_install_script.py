"""The install script: built-in per OS family, replaceable by a file the settings check, sent as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cloud.aliyun import AliyunCloudGateway, CloudConfig
from bot.cloud.ports import CommandType, OsType, Secret
from bot.config import ConfigError, load_settings
from bot.domain.import_runner import ImportRunner, ImportSettings
from bot.import_script import InstallScripts, default_text, load_script, script_problem
from sandbox.cloud import CloudSimulator
from storage.db import Database
from storage.enums import ImportItemState
from storage.models import ImportBatch, ImportItem
from storage.types import utcnow
from tests.harness import DEST_ACCESS_KEY_ID, DEST_ACCESS_KEY_SECRET

WEB_PROD_01 = "i-bp1g89ubw2sb4krcndqk"
CUSTOM = """#!/bin/sh
# our own client build
/opt/smc/install --id '{{accessTokenId}}' --code '{{ accessTokenCode }}' --dir {{ACS::InstanceId}}
"""


@pytest.mark.parametrize("os_type", [OsType.LINUX, OsType.WINDOWS])
def test_the_built_in_scripts_take_the_code_as_parameters_only(os_type: OsType) -> None:
    script = load_script(os_type)
    assert script_problem(script.text) is None
    assert script.text.count("{{accessTokenCode}}") == 1 and script.text.count("{{accessTokenId}}") == 1
    assert script.command_type is (CommandType.POWERSHELL if os_type is OsType.WINDOWS else CommandType.SHELL)
    assert script.origin == "built-in" and script.text == default_text(os_type)


def test_a_replacement_script_must_use_both_parameters_and_nothing_the_bot_does_not_send(
    tmp_path: Path,
) -> None:
    assert script_problem(CUSTOM) is None
    assert "{{accessTokenCode}}" in (script_problem("run --id {{accessTokenId}}") or "")
    assert "{{region}}" in (script_problem(CUSTOM + "echo {{region}}") or "")
    assert "bytes" in (script_problem(CUSTOM + "#" * 20_000) or "")
    assert script_problem("  \n") == "the file is empty"


def test_settings_refuse_an_unusable_script_file_with_the_variable_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "install.sh"
    broken.write_text("curl https://example.invalid/install | sh\n")
    monkeypatch.setenv("SMC_BOT_IMPORT_SCRIPT_LINUX", str(broken))
    monkeypatch.setenv("SMC_BOT_IMPORT_SCRIPT_WINDOWS", str(tmp_path / "missing.ps1"))

    with pytest.raises(ConfigError) as refused:
        load_settings()

    lines = str(refused.value).splitlines()
    assert any(
        line.startswith("SMC_BOT_IMPORT_SCRIPT_LINUX")
        and "{{accessTokenCode}}" in line
        and "bot/scripts" in line
        for line in lines
    )
    assert any(
        line.startswith("SMC_BOT_IMPORT_SCRIPT_WINDOWS") and "cannot be read" in line for line in lines
    )


def test_settings_take_a_usable_script_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "install.sh"
    custom.write_text(CUSTOM)
    monkeypatch.setenv("SMC_BOT_IMPORT_SCRIPT_LINUX", str(custom))
    monkeypatch.setenv("SMC_BOT_IMPORT_TIMEOUT_MINUTES", "30")

    settings = load_settings()

    assert settings.import_script_linux == custom and settings.import_timeout_minutes == 30
    assert settings.import_poll_seconds == 20 and settings.import_script_windows is None


def test_the_runner_sends_the_operators_script_as_written(
    tmp_path: Path, db: Database, cloud: CloudSimulator
) -> None:
    cloud.set_time_scale(0)
    custom = tmp_path / "install.sh"
    custom.write_text(CUSTOM)
    with db.unit_of_work() as session:
        session.add(
            ImportBatch(
                id="imp-custom01",
                team_id="T0SANDBOX",
                channel_id="C0MIGRATE",
                requester="U0REQUESTER",
                cross_account=True,
                source_account_id="2000000000000002",
                role_name="ram-role-smc",
                region_id="cn-hangzhou",
            )
        )
        session.add(ImportItem(batch_id="imp-custom01", instance_id=WEB_PROD_01))
    gateway = AliyunCloudGateway(
        CloudConfig(
            endpoint=cloud.url,
            access_key_id=DEST_ACCESS_KEY_ID,
            access_key_secret=Secret(DEST_ACCESS_KEY_SECRET),
        )
    )
    runner = ImportRunner(
        db, gateway, InstallScripts.load(linux=custom), ImportSettings(), clock=utcnow, kick=lambda: None
    )
    payload = {"task": "import", "batch_id": "imp-custom01"}

    runner.run(payload)
    cloud.advance(120)
    runner.run(payload)

    [invocation] = cloud.world.invocations.values()
    assert invocation.content == CUSTOM
    assert set(invocation.parameters) == {"accessTokenId", "accessTokenCode"}
    with db.unit_of_work() as session:
        item = session.get(ImportItem, 1)
        assert item is not None and item.state is ImportItemState.ONLINE
        assert item.instance_name == "web-prod-01"  # filled in from DescribeInstances
