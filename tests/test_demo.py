"""`smc-bot demo`: one migration from import to Finished, printed as a transcript and written as HTML.

The demo runs once per module as a real subprocess (the installed console script, in an empty directory,
with its own TMPDIR); the tests read what it printed and left behind, and open the page in headless
Chromium (Debian's `chromium`, which `.ci/run` installs).
"""

from __future__ import annotations

import ast
import io
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

import sandbox.demo
from bot.demo import run_demo
from sandbox.demo.scenario import Plan
from sandbox.slack import DEFAULT_BOT_TOKEN, DEFAULT_SIGNING_SECRET
from tests.harness import DEST_ACCESS_KEY_SECRET

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_CHROMIUM = (
    "apt-get install -y --no-install-recommends chromium fonts-noto-color-emoji (.ci/run does this in CI)"
)
WINDOW = (1280, 3000)
RUN_LIMIT_S = 300
"""A hang guard for the subprocesses, not a timing assertion."""


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    tmpdir: Path

    @property
    def html(self) -> Path:
        return self.workdir / "demo-transcript.html"


def smc_bot() -> str:
    """The console script `pip install -e .` put next to this interpreter."""
    script = Path(sys.executable).with_name("smc-bot")
    assert script.exists(), f"{script} is missing: run `pip install -e .`"
    return str(script)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    workdir = tmp_path_factory.mktemp("demo-cwd")
    tmpdir = tmp_path_factory.mktemp("demo-tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMC_BOT_", "ALIBABA_"))}
    env.update({"TMPDIR": str(tmpdir), "DATABASE_URL": "sqlite:////nonexistent/dir/must-not-be-used.db"})
    done = subprocess.run(
        [smc_bot(), "demo"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    return DemoRun(done.returncode, done.stdout, done.stderr, workdir, tmpdir)


def positions(text: str, steps: list[str]) -> list[int]:
    found = []
    for step in steps:
        assert step in text, f"the transcript never shows {step!r}"
        found.append(text.index(step))
    return found


def test_the_demo_walks_one_migration_from_import_to_finished_in_order(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stderr
    steps = [
        "@ada typed /smc config",
        "@ada changed this channel's SMC approval policy",
        "@riley typed /smc import",
        "@riley submitted “Import source servers”",
        "Source account ID: 2000000000000002",
        "Source account RAM role: ram-role-smc",
        "Import finished: 2 of 2 source servers online",
        "@riley typed /smc migrate s-",
        "Network type: VPC",
        "Transmission speed limit (Mbit/s): 800",
        "State: ⏳ Waiting for approval",
        "Approval needed: Test and Migrate",
        "@alex clicked Approve on “Approval needed: Test and Migrate”",
        "approved by @alex (1 of 1): Test and Migrate goes ahead now",
        "Migration test of r-",
        "created in cn-hangzhou (ClientToken = r-",
        "Syncing — data is being copied",
        "25% of the data synced",
        "50% of the data synced",
        "75% of the data synced",
        "Processing — SMC is building the destination",
        "State: 🎉 Finished",
        "Migration finished (job j-",
        "Verification passed",
        "Demo finished in",
    ]
    found = positions(demo.stdout, steps)
    late = [(steps[i - 1], steps[i]) for i in range(1, len(steps)) if found[i] < found[i - 1]]
    assert late == [], f"shown out of order (earlier, later): {late}"


def test_the_summary_bar_is_edited_in_place_and_the_finish_is_broadcast(demo: DemoRun) -> None:
    edits = [line for line in demo.stdout.splitlines() if "↻ “Migration r-" in line and "updated:" in line]
    shown = [int(p) for line in edits for p in _percentages(line)]
    assert len(shown) > 10 and shown == sorted(shown) and shown[-1] >= 95
    lines = demo.stdout.splitlines()
    finish = next(i for i, line in enumerate(lines) if "Migration finished (job j-" in line)
    assert "in thread “Migration r-" in lines[finish - 1] and "also sent to #migrations" in lines[finish - 1]


def test_the_demo_writes_the_page_and_leaves_nothing_else_behind(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stderr
    assert sorted(p.name for p in demo.workdir.iterdir()) == ["demo-transcript.html"]
    assert list(demo.tmpdir.iterdir()) == []
    page = demo.html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "#migrations" in page
    assert f"Open {demo.html} in a browser" in demo.stdout


def test_the_demo_prints_no_secret_and_no_log_noise(demo: DemoRun) -> None:
    everything = demo.stdout + demo.stderr + demo.html.read_text(encoding="utf-8")
    for secret in (DEST_ACCESS_KEY_SECRET, DEFAULT_BOT_TOKEN, DEFAULT_SIGNING_SECRET, "xoxb-"):
        assert secret not in everything
    assert demo.stderr == ""


def test_html_goes_where_asked_and_quiet_prints_only_the_closing_lines(tmp_path: Path) -> None:
    target = tmp_path / "out" / "walkthrough.html"
    target.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMC_BOT_", "ALIBABA_"))}
    done = subprocess.run(
        [smc_bot(), "demo", "--quiet", "--html", str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "typed /smc" not in done.stdout
    assert done.stdout.strip().startswith("Demo finished in") and str(target) in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_step_that_cannot_happen_fails_with_the_step_and_what_was_seen(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "partial.html"
    status = run_demo(target, out=out, err=err, plan=Plan(instances=("web-prod-09",)))
    assert status == 1
    message = err.getvalue()
    assert "smc-bot demo failed: step “import web-prod-09 from account 2000000000000002” failed" in message
    assert "Instances offers no 'web-prod-09' (it offers: app-java-01 · i-bp1hf2ry17av5x2n1ud2" in message
    assert f"The transcript up to the failure is in {target}" in message
    assert "@riley typed /smc import" in out.getvalue()
    assert "Import source servers" in target.read_text(encoding="utf-8")


def test_an_unwritable_html_path_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = run_demo(tmp_path / "missing" / "x.html", out=out, err=err)
    assert status == 1
    assert f"cannot write {tmp_path / 'missing' / 'x.html'}: {tmp_path / 'missing'} is not a directory" in (
        err.getvalue()
    )
    assert out.getvalue() == ""


def test_the_scripted_people_import_nothing_of_the_bot() -> None:
    demo_package = Path(sandbox.demo.__file__).parent
    offending = {
        path.name: module
        for path in sorted(demo_package.glob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] in {"bot", "handlers", "storage", "tests"}
    }
    assert (demo_package / "scenario.py").exists() and offending == {}


# -- the page in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[list[str]]:
    """Headless Chromium with a throw-away profile; fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it: {INSTALL_CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="smc-demo-chromium-") as profile:
        yield [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
        ]


def test_chromium_renders_the_page_as_a_real_screenshot(
    demo: DemoRun, browser: list[str], tmp_path: Path
) -> None:
    shot = tmp_path / "demo.png"
    done = subprocess.run(
        [*browser, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", demo.html.as_uri()],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    png = read_png(shot.read_bytes())
    assert (png.width, png.height) == WINDOW
    # The top of the page: aubergine sidebar, header, the intro, avatars, a modal card — many colours.
    colours = png.colours(rows=400)
    assert len(colours) > 50, f"only {len(colours)} colours: the page looks blank"
    assert (0x3F, 0x0E, 0x40) in colours  # the sidebar


def test_chromium_shows_the_channel_the_buttons_the_progress_bar_and_the_finish(
    demo: DemoRun, browser: list[str]
) -> None:
    done = subprocess.run(
        [*browser, "--dump-dom", demo.html.as_uri()],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    visible = visible_text(done.stdout)
    for text in (
        "#migrations",
        "smc-bot demo: everything below ran on this machine",
        "Import finished: 2 of 2 source servers online",
        "Approval needed: Test and Migrate",
        "Approve",
        "Migration test of r-",
        "Finished",
        "Migration finished",
        "Verification passed",
    ):
        assert text in visible, f"{text!r} is not visible in the rendered page"
    assert "▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓ 100%" in visible
    assert 'class="bar-on"' in done.stdout  # the bar is drawn, not just typed


# -- helpers ---------------------------------------------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def _percentages(line: str) -> list[str]:
    return re.findall(r"[░▓]{20} (\d+)%", line)


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    data: bytes
    """The zlib stream of the IDAT chunks."""

    def colours(self, *, rows: int) -> set[tuple[int, int, int]]:
        """Distinct RGB colours of the first `rows` scanlines (PNG filters undone)."""
        stride = self.width * self.channels
        raw = zlib.decompressobj().decompress(self.data, (stride + 1) * rows)
        previous = bytearray(stride)
        found: set[tuple[int, int, int]] = set()
        for row in range(min(rows, len(raw) // (stride + 1))):
            start = row * (stride + 1)
            kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
            _unfilter(kind, line, previous, self.channels)
            for x in range(0, stride, self.channels * 4):
                found.add((line[x], line[x + 1], line[x + 2]))
            previous = line
        return found


def read_png(blob: bytes) -> Png:
    """Signature, IHDR and IDAT of an 8-bit RGB(A) PNG, read with the standard library."""
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, header, idat = 8, b"", b""
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        kind = blob[offset + 4 : offset + 8]
        body = blob[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", blob[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    return Png(width, height, 3 if colour_type == 2 else 4, idat)


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = previous[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + pred) & 0xFF


VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "source"})
INVISIBLE = frozenset({"head", "title", "style", "script", "template"})


class _Visible(HTMLParser):
    """Text a reader sees: not in <head> or <style>, not inside a closed <details> (its <summary> shows)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []
        """(tag, visible, is a closed <details>) of each open element."""
        self.parts: list[str] = []

    def _shows(self, tag: str) -> bool:
        if not self.stack:
            return True
        _, visible, closed = self.stack[-1]
        return visible and (not closed or tag == "summary")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        closed = tag == "details" and all(name != "open" for name, _ in attrs)
        self.stack.append((tag, self._shows(tag) and tag not in INVISIBLE, closed))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._shows("#text"):
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())
