"""The `smc-bot` command line: every mistake is one line with the fix, a non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.__main__ import EXIT_CONFIG, EXIT_USAGE, main
from bot.config import ConfigError, load_settings
from storage.db import Database


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(  # noqa: PLW1510 - the exit code is what the tests inspect
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("serve", "simulate", "demo", "db", "check"):
        assert command in result.stdout


def test_unknown_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run(["bogus"], tmp_path)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.count("\n") == 1
    assert "invalid choice: 'bogus'" in result.stderr and "smc-bot --help" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_database_url_names_the_variable_and_the_fix(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], tmp_path, {"DATABASE_URL": "mysql://root@localhost/x"})
    assert result.returncode == EXIT_CONFIG
    assert "DATABASE_URL uses the unsupported backend 'mysql'" in result.stderr
    assert "postgresql+psycopg://" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_database_is_one_line_with_the_fix(tmp_path: Path) -> None:
    result = _run(
        ["db", "upgrade"], tmp_path, {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x"}
    )
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.count("\n") == 1
    assert "cannot reach the database" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_then_check_reports_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert _run(["db", "upgrade"], tmp_path, {"DATABASE_URL": url}).returncode == 0
    result = _run(["check"], tmp_path, {"DATABASE_URL": url})
    assert result.returncode == 1  # Slack and the cloud are not configured: their lines say FIX
    assert "database     OK" in result.stdout
    assert "slack        FIX SLACK_BOT_TOKEN is not set" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_newer_schema_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    database = Database(url)
    database.upgrade()
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    database.dispose()
    before = (tmp_path / "bot.db").read_bytes()
    result = _run(["db", "upgrade"], tmp_path, {"DATABASE_URL": url})
    assert result.returncode == EXIT_CONFIG
    assert "newer than this smc-bot knows" in result.stderr and result.stderr.count("\n") == 1
    assert (tmp_path / "bot.db").read_bytes() == before


def test_malformed_settings_are_reported_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMC_BOT_POLL_SECONDS", "often")
    monkeypatch.setenv("PORT", "70000")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-not-a-bot-token")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("SMC_BOT_POLL_SECONDS") and "between 5 and 3600" in line for line in lines)
    assert any(line.startswith("PORT") and "65535" in line for line in lines)
    assert any(line.startswith("SLACK_BOT_TOKEN") and "xoxb-" in line for line in lines)
    assert "xoxp-user-token-not-a-bot-token" not in str(caught.value)


def test_secrets_are_never_printed_by_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-111-222-secretvalue")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ak-secret-value")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    main(["check"])
    out = capsys.readouterr()
    for secret in ("secretvalue", "signing-secret-value", "ak-secret-value"):
        assert secret not in out.out + out.err
    assert "SLACK_BOT_TOKEN                  set" in out.out


def test_require_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"SLACK_SIGNING_SECRET is not set: copy the Signing Secret"):
        load_settings().require("SLACK_SIGNING_SECRET")


def test_simulate_starts_the_sandbox_cloud_and_prints_what_a_user_needs(tmp_path: Path) -> None:
    import signal
    import time
    import urllib.request

    from tests.harness import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "simulate", "--port", str(port), "--time-scale", "60"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the simulator did not come up"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in out
    assert "SMC_BOT_CLOUD_ENDPOINT" in out and "LTAI5tSandboxDest00001" in out
    assert "acs:ram::2000000000000002:role/ram-role-smc" in out
