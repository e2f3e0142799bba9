"""`smc-bot check`: configuration and connectivity, one line each with OK or the fix, against the sandbox
cloud and the Slack stand-in; never a secret, never a traceback, exit 0 only when everything is OK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.check import run_check
from handlers.ids import BOT_SCOPES
from sandbox.cloud import CloudSimulator
from sandbox.slack import SlackStandIn
from sandbox.slack.webapi import DEFAULT_SCOPES
from storage.db import Database
from tests.harness import DEST_ACCESS_KEY_SECRET, process_env, sandbox_env, settings_for

ROOT = Path(__file__).resolve().parents[1]
WRONG_SECRET = "not-the-secret-of-this-key-0123456789"


def verdicts(output: str) -> dict[str, str]:
    """`name -> "OK …"/"FIX …"` for the connectivity lines."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        name, rest = line[:12].strip(), line[13:]
        if rest.startswith(("OK ", "FIX ")):
            found[name] = rest
    return found


def check(settings: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], str]:
    code = run_check(settings)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, verdicts(out.out), out.out + out.err


def assert_no_secret(output: str, slack: SlackStandIn, *extra: str) -> None:
    for secret in (slack.bot_token, slack.signing_secret, DEST_ACCESS_KEY_SECRET, *extra):
        assert secret not in output


def test_everything_ok_against_the_sandbox_exits_0(
    tmp_path: Path, db: Database, slack: SlackStandIn, cloud: CloudSimulator
) -> None:
    """The real command line, as a user runs it."""
    env = process_env(tmp_path, **sandbox_env(slack, cloud, db.url))
    result = subprocess.run(  # noqa: PLW1510 - our own CLI; the exit code is what is inspected
        [sys.executable, "-m", "bot", "check"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    found = verdicts(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(found) == {"slack", "slack scopes", "sts", "smc", "database"}
    assert all(v.startswith("OK ") for v in found.values()), found
    assert "@smc-bot" in found["slack"] and "T0SANDBOX" in found["slack"]
    assert "account 1000000000000001" in found["sts"]
    assert "2 source servers" in found["smc"]
    assert "at schema" in found["database"]
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_secret(result.stdout + result.stderr, slack)


def test_a_wrong_accesskey_secret_is_a_fix_line_naming_the_variable(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(db, slack, cloud, ALIBABA_CLOUD_ACCESS_KEY_SECRET=WRONG_SECRET)
    code, found, output = check(settings, capsys)
    assert code == 1
    assert (
        found["sts"].startswith("FIX SignatureDoesNotMatch")
        and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in found["sts"]
    )
    assert found["smc"].startswith("FIX ")
    assert found["slack"].startswith("OK ") and found["database"].startswith("OK ")
    assert_no_secret(output, slack, WRONG_SECRET)


def test_an_unreachable_cloud_endpoint_is_a_fix_line_naming_the_endpoint_setting(
    db: Database, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(db, slack, None, SMC_BOT_CLOUD_ENDPOINT="http://127.0.0.1:1")
    code, found, output = check(settings, capsys)
    assert code == 1
    for name in ("sts", "smc"):
        assert found[name].startswith("FIX cannot reach http://127.0.0.1:1/")
        assert "Connection refused" in found[name] and "SMC_BOT_CLOUD_ENDPOINT" in found[name]
    assert_no_secret(output, slack)


def test_a_bad_slack_token_is_a_fix_line_saying_where_to_copy_it(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "xoxb-0000000000-not-the-installed-token"
    settings = settings_for(db, slack, cloud, SLACK_BOT_TOKEN=wrong)
    code, found, output = check(settings, capsys)
    assert code == 1
    assert found["slack"].startswith("FIX Slack refused SLACK_BOT_TOKEN (invalid_auth)")
    assert "OAuth & Permissions" in found["slack"]
    assert "slack scopes" not in found
    assert found["sts"].startswith("OK ") and found["smc"].startswith("OK ")
    assert_no_secret(output, slack, wrong)


def test_an_unreachable_slack_is_a_fix_line_naming_slack_api_url(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(db, slack, cloud, SLACK_API_URL="http://127.0.0.1:1/api/")
    code, found, _ = check(settings, capsys)
    assert code == 1
    assert found["slack"].startswith("FIX cannot reach Slack at http://127.0.0.1:1/api/")
    assert "SLACK_API_URL" in found["slack"]


def test_scopes_the_token_lacks_are_named_with_the_reinstall_fix(
    db: Database, cloud: CloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with SlackStandIn(scopes=DEFAULT_SCOPES - {"files:write", "usergroups:read"}) as narrow:
        code, found, _ = check(settings_for(db, narrow, cloud), capsys)
    assert code == 1
    assert found["slack"].startswith("OK ")
    assert found["slack scopes"].startswith("FIX the token lacks files:write, usergroups:read")
    assert "reinstall the app" in found["slack scopes"]


def test_a_missing_token_and_an_unreachable_database_each_say_what_to_do(
    db: Database, slack: SlackStandIn, cloud: CloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(
        db, slack, cloud, SLACK_BOT_TOKEN=None, DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    code, found, _ = check(settings, capsys)
    assert code == 1
    assert found["slack"].startswith("FIX SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token")
    assert found["database"].startswith("FIX cannot reach the database")


def test_the_scopes_check_compares_against_exactly_the_manifests_scopes() -> None:

    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
