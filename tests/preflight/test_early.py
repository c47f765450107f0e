"""The worker the entry point starts before anything else loads: read --python, hand it over, never leave it behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import preflight_entry
from preflight_action.preflight import early

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "runtime_preflight.py"


@pytest.fixture(autouse=True)
def no_leftover() -> Iterator[None]:
    yield
    early.discard()


@pytest.mark.parametrize(
    ("argv", "python"),
    [
        ([], None),
        (["--device", "cpu", "--python", "/opt/py"], "/opt/py"),
        (["--python=/opt/py"], "/opt/py"),
        (["--pyth", "/opt/py"], "/opt/py"),  # argparse takes an unambiguous abbreviation
        (["--python", "/a", "--python", "/b"], "/b"),  # the last one wins, as in argparse
        (["--", "--python", "/opt/py"], None),
        (["--p", "/opt/py"], None),  # ambiguous (--policy): argparse refuses it, nothing to start for
        (["--python"], None),
    ],
)
def test_python_flag_reads_argv_as_argparse_will(argv: list[str], python: str | None) -> None:
    assert early._python_flag(argv) == python


def test_the_session_takes_the_launched_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFLIGHT_NO_EARLY_WORKER", raising=False)
    early.launch(["--device", "cpu"])
    launched = early._launched[0]
    taken = early.start(None)
    assert taken is launched
    assert taken.process.poll() is None
    assert early._launched == []
    message = taken.worker.result("torch.import", 300, taken.torch_import_mark)
    assert message["status"] == "pass", "the torch import it was sent at launch is answered"
    taken.close()
    assert taken.process.returncode is not None


def test_a_worker_for_another_interpreter_is_stopped_not_used(bare_python: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFLIGHT_NO_EARLY_WORKER", raising=False)
    early.launch(["--python", str(bare_python)])
    launched = early._launched[0]
    assert launched.python == str(bare_python)
    fresh = early.start(None)
    assert fresh is not None
    assert fresh is not launched
    assert launched.process.returncode is not None, "the unused worker was stopped and reaped"
    fresh.close()


@pytest.mark.parametrize("flag", ["--help", "-h", "--version"])
def test_help_and_version_start_no_worker(flag: str) -> None:
    early.launch([flag])
    assert early._launched == []


def test_discard_stops_a_worker_nobody_took(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFLIGHT_NO_EARLY_WORKER", raising=False)
    early.launch([])
    launched = early._launched[0]
    early.discard()
    assert launched.process.returncode is not None
    assert early._launched == []


def _workers_from(cache: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(cache) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFLIGHT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True, timeout=300, env=env)


def test_a_usage_error_after_launch_leaves_no_worker(tmp_path: Path) -> None:
    done = _run(tmp_path, "--device", "cpu", "--check-timeout", "-1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("runtime_preflight.py: error: argument --check-timeout")
    time.sleep(0.5)  # a killed worker is reaped by init once its parent is gone
    assert _workers_from(tmp_path / "cache") == []


def test_the_entry_point_writes_everything_and_keeps_the_exit_code(tmp_path: Path) -> None:
    report, markdown = tmp_path / "r.json", tmp_path / "r.md"
    args = ["--device", "cpu", "--level", "quick", "--quiet", "--output-path", str(report), "--output-md", str(markdown)]
    done = _run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    assert {c["id"]: c["status"] for c in document["checks"]}["tensor.smoke"] == "pass"
    assert "tensor.smoke" in markdown.read_text(encoding="utf-8")
    assert _workers_from(tmp_path / "cache") == [], "the worker was reaped before the process ended"
    strict = _run(
        tmp_path, "--device", "cpu", "--level", "quick", "--quiet", "--strict", "--expect-gpus", "4", "--output-path", str(report)
    )
    assert strict.returncode == 1, "a blocking failure under --strict still exits 1 through the fast exit"


@pytest.mark.parametrize("argv", [["--from-report", "r.json"], ["--gate", "slurm", "--from-report=r.json"]])
def test_a_gate_judging_an_existing_report_starts_no_worker(argv: list[str]) -> None:
    early.launch(argv, unless=("--from-report",))
    assert early._launched == []


def test_ctrl_c_before_the_cli_handles_signals_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from preflight_action import main

    def interrupted(argv: list[str] | None = None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "main", interrupted)
    monkeypatch.setattr(sys, "argv", ["runtime-preflight", "--version"])  # starts no worker
    assert preflight_entry.runtime_preflight() == 130
    assert capsys.readouterr().err == "runtime-preflight: interrupted by SIGINT\n"
