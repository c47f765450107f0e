"""The HTML sweep report in a real headless Chromium: it loads without console errors and shows the table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from preflight_action.sweep.cli import main
from tests.support import headless_chromium

pytestmark = [pytest.mark.integration, headless_chromium.requires_chromium]
FLOW = """name: browser
seed: 3
axes:
  batch: [1, 8, 32]
  kind: [x, y]
steps:
  - name: work
    adapter: noop
    params: {tag: "${kind}"}
  - name: flaky
    adapter: noop
    params: {exit_code: 1}
report: {step: work, metric: seed, x: batch, series: kind}
"""


def _chromium(tmp_path: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    return headless_chromium.run(page, tmp_path / "profile", "--enable-logging=stderr", "--v=0", *mode)


def _console(stderr: str, page: Path) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line and page.as_uri() in line]


def test_report_renders_in_headless_chromium_without_console_errors(tmp_path: Path) -> None:
    # Control: the console check sees a broken page's errors, so an empty result below means something.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>console.error('control'); missingFunction();</script></body></html>", encoding="utf-8")
    assert len(_console(_chromium(tmp_path, broken, "--dump-dom").stderr, broken)) == 2

    flow = tmp_path / "browser.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain"]) == 1
    (run,) = list(out.iterdir())
    page = run / "report.html"

    done = _chromium(tmp_path, page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr, page) == []
    dom = done.stdout
    table = re.search(r'<table id="points">.*?</table>', dom, re.S)
    assert table is not None
    assert len(re.findall(r'<tr class="row-failed">', table.group(0))) == 6
    assert '<table id="problems">' in dom
    assert "exit code 1" in dom
    assert "<svg" in dom
    assert dom.count("<polyline") == 2

    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, page, "--hide-scrollbars", "--window-size=1280,1200", f"--screenshot={shot}")
    assert done.returncode == 0
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
