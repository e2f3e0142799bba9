"""`simulate` runs the simulator in the foreground, prints what a user needs, and stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from sandbox.cloud.cli import main
from tests.sandbox.test_cloud_support import KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_simulate_prints_endpoint_accounts_and_env_then_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cloud.cli", "--port", "0", "--time-scale", "600"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        banner = "\n".join(lines)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert match is not None, banner
        url = match.group(1)
        for key_id, secret in KEYS.values():
            assert key_id in banner
            assert secret in banner
        assert f"export SMC_BOT_CLOUD_ENDPOINT={url}" in banner
        assert "export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tSandboxDest00001" in banner
        assert "export ALIBABA_CLOUD_ACCESS_KEY_SECRET=sandbox-dest-secret-do-not-use-in-prod" in banner
        assert "acs:ram::2000000000000002:role/ram-role-smc" in banner
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=10) as response:
            health = json.loads(response.read())
        assert (health["status"], health["time_scale"]) == ("ok", 600.0)
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "stopped" in remaining


def test_simulate_refuses_a_broken_world_file(tmp_path: Path) -> None:
    world = tmp_path / "world.yaml"
    world.write_text("regions: []\n", encoding="utf-8")
    assert main(["--world", str(world), "--port", "0"]) == 2
