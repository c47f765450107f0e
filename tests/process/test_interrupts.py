"""Ctrl-C and SIGTERM in the middle of a real preflight and a real smoke: one line, a partial artifact, no worker left, exit 130."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from preflight_action import schemas
from preflight_action.process import interrupts
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(os.name != "posix", reason="delivering SIGINT/SIGTERM to one process as tested here is POSIX-only")
PATIENCE_S = 180  # a bound for a stuck run, never a speed expectation


class Running:
    """A CLI started as a user would; its stderr lines arrive on a queue while it runs."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, *words: str) -> None:
        """Until a stderr line holds all of ``words``."""
        while True:
            line = self.lines.get(timeout=PATIENCE_S)
            assert line is not None, f"exited before {words!r}: {''.join(self.stderr)}"
            if all(word in line.split() for word in words):
                return

    def wait_for_file(self, path: Path) -> None:
        """Until ``path`` exists (a fault's mark): a run that ends first fails the wait at once."""
        deadline = time.monotonic() + PATIENCE_S
        while not path.exists():
            assert self.proc.poll() is None, f"exited before {path.name} was written: {''.join(self.stderr)}"
            assert time.monotonic() < deadline, f"no {path.name} after {PATIENCE_S} s"
            time.sleep(0.05)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def finish(self) -> int:
        code = self.proc.wait(timeout=PATIENCE_S)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFLIGHT_INJECT_FAULT", None)
    env.update(extra)
    return env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_check_writes_a_partial_report_and_kills_the_worker(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "report.json"
    md, page = tmp_path / "report.md", tmp_path / "report.html"
    argv = [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cpu", "--output-path", str(out)]
    mark = tmp_path / "fault.mark"
    env = env_with(PREFLIGHT_INJECT_FAULT="tensor.smoke=hang", PREFLIGHT_INJECT_FAULT_MARK=str(mark))
    run = Running([*argv, "--output-md", str(md), "--output-html", str(page)], env)
    run.wait_for_file(mark)  # tensor.smoke hangs in the worker: the checks before it have finished
    workers = run.workers()
    assert workers, "no worker process to stop"
    run.proc.send_signal(sig)
    code = run.finish()

    assert code == 130 == interrupts.exit_code(sig.name)
    assert "Traceback" not in "".join(run.stderr)
    report = json.loads(out.read_text(encoding="utf-8"))
    schemas.validate(report, "preflight_report", str(out))
    assert report["interrupted_by"] == sig.name
    checks = {c["id"]: c for c in report["checks"]}
    not_run = sum(1 for c in checks.values() if c["skip_reason"] == interrupts.not_run_reason(sig.name))
    said = [line for line in run.stderr if "interrupted" in line]
    assert said == [f"runtime_preflight.py: interrupted by {sig.name}: partial report written to {out} ({not_run} checks not run)\n"]
    for done in ("torch.import", "device.resolve", "capabilities.detect"):
        assert checks[done]["status"] == "pass"
    reason = f"not run: the run was interrupted by {sig.name}"
    for check_id in ("tensor.smoke", "dtype.support", "deps.consistency", "gpu.health", "memory.headroom"):
        assert (checks[check_id]["status"], checks[check_id]["skip_reason"]) == ("skip", reason)
    assert checks["compile.smoke"]["skip_reason"].startswith("not requested")  # still says why it would not have run
    assert report["fail_count"] == 0  # an interrupted check did not fail
    text, html = md.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    assert reason in text
    assert reason in html
    assert text.startswith("## Runtime preflight: NOT JUDGED")  # never PASS: the verdict first, what did not finish next
    assert text.index("### Not finished: not judged") < text.index("### Checks")
    assert f"Interrupted by {sig.name}: this report is partial, not a pass." in text
    assert '<p class="verdict not_judged" role="status"><strong>NOT JUDGED</strong>' in html
    assert html.index('id="unfinished"') < html.index('id="checks"')
    assert all(gone(worker) for worker in workers), [w.pid for w in workers if not gone(w)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_case_writes_a_partial_smoke_record_and_kills_the_worker(tmp_path: Path, sig: signal.Signals) -> None:
    argv = [sys.executable, str(ROOT / "scripts" / "smoke.py"), "--output-root", str(tmp_path), "--device", "cpu"]
    argv += ["--models", "transformer", "--dtypes", "float32,bfloat16,float16", "--iterations", "1"]
    run = Running(argv, env_with(PREFLIGHT_SMOKE_INJECT_FAULT="hang:transformer:bfloat16"))
    run.wait_for("transformer", "float32", "pass")  # bfloat16 is in flight, and hangs
    workers = run.workers()
    assert workers, "no smoke worker to stop"
    run.proc.send_signal(sig)
    code = run.finish()

    assert code == 130
    [path] = tmp_path.glob("run.*/smoke_run.json")
    document = schemas.read_json(path, "smoke_run")
    assert (document["outcome"], document["exit_code"], document["interrupted_by"]) == ("interrupted", code, sig.name)
    reason = interrupts.not_run_reason(sig.name)
    assert [(c["dtype"], c["outcome"], c.get("reason")) for c in document["cases"]][1:] == [
        ("bfloat16", "not_run", reason),
        ("float16", "not_run", reason),
    ]
    assert document["cases"][0]["outcome"] == "pass"
    said = [line for line in run.stderr if "interrupted" in line]
    assert said == [f"smoke: interrupted by {sig.name}: partial record written to {path} (2 cases not run)\n"]
    assert "Traceback" not in "".join(run.stderr)
    assert all(gone(worker) for worker in workers), [w.pid for w in workers if not gone(w)]


def test_the_guard_stops_the_child_in_flight_and_one_started_after_the_signal() -> None:
    before = signal.getsignal(signal.SIGINT)
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    with interrupts.Interrupted(grace_s=5) as guard:
        first = subprocess.Popen(sleeper)
        guard.current = first
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs in this (main) thread: no KeyboardInterrupt
        assert first.wait(timeout=60) != 0
        assert (guard.stopped, guard.signal_name, guard.reason) == (True, "SIGINT", "not run: the run was interrupted by SIGINT")
        late = subprocess.Popen(sleeper)
        guard.current = late  # started after the signal landed: stopped at once
        assert late.wait(timeout=60) != 0
    assert signal.getsignal(signal.SIGINT) is before
    assert (interrupts.exit_code("SIGINT"), interrupts.exit_code("SIGTERM")) == (130, 130)
