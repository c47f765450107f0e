"""The smoke worker's protocol and its client: honest skips, a private protocol stream, a scrubbed worker.log."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

import preflight_probe
from preflight_action import redact
from preflight_action.smoke.client import Deadline, SmokeWorker, WorkerGone
from preflight_probe import smoke_worker as runner

PROBE_ROOT = Path(runner.__file__).resolve().parent.parent  # src/, where preflight_probe lives


def _real_error(fn: Any) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("expected the call to raise")


def test_a_kernel_missing_for_a_dtype_is_skipped() -> None:
    uint16 = torch.ones(2, 2, dtype=torch.uint16)
    outcome, reason = runner.classify_error(_real_error(lambda: uint16 @ uint16))  # torch's own NotImplementedError
    assert outcome == "skipped"
    assert "not implemented for 'UInt16'" in reason
    # Older torch raises the same message as a RuntimeError.
    assert runner.classify_error(RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'"))[0] == "skipped"
    assert runner.classify_error(NotImplementedError("no MPS kernel"))[0] == "skipped"


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: operation not supported\nCUDA kernel errors might be asynchronously reported",
        "HIP error: hipErrorNotSupported: operation not supported on this device",
        "Unsupported cuDNN version",
        "not implemented for this build",
    ],
)
def test_other_not_supported_errors_fail_instead_of_hiding_as_skips(message: str) -> None:
    outcome, reason = runner.classify_error(RuntimeError(message))
    assert outcome == "fail"
    assert reason == f"RuntimeError: {message.splitlines()[0]}"


def _stub_spec(device: str) -> dict[str, Any]:
    return {"op": "stub", "device": device, "models": ["transformer"], "dtypes": ["float32"], "seed": 0}


def _drain(smoke: SmokeWorker) -> list[dict[str, Any]]:
    messages = []
    deadline = Deadline(60)
    try:
        while True:
            messages.append(smoke.next(deadline))
            if messages[-1]["type"] == "inspect":
                smoke.send("run")
            if messages[-1]["type"] == "done":
                return messages
    except WorkerGone as gone:
        raise AssertionError(f"{gone.reason}: {gone.stderr}") from None


def test_worker_log_never_holds_a_secret_the_worker_echoes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-smoke-planted-4242"
    monkeypatch.setenv("SMOKE_TEST_API_TOKEN", secret)
    log = tmp_path / "worker.log"
    # The worker echoes its requested device into the inspect line; here that is the secret.
    smoke = SmokeWorker(sys.executable, _stub_spec(secret), log)
    try:
        messages = _drain(smoke)
    finally:
        smoke.close()
    assert messages[1]["backend"] == secret, "the worker did echo it: the protocol itself is not scrubbed"
    text = log.read_text(encoding="utf-8")
    assert secret not in text
    assert f'"backend": "{redact.REDACTED}"' in text
    assert [json.loads(line)["type"] for line in text.splitlines()] == ["hello", "inspect", "start", "case", "done"]


def test_a_line_written_after_close_is_dropped_without_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process the worker left behind keeps its stdout and writes after close() gave up waiting (2 s)."""
    fake = tmp_path / "fake" / "preflight_probe"
    fake.mkdir(parents=True)
    late = 'import sys, time; time.sleep(2.5); sys.stdout.write(\'{"type": "late"}\\n\'); sys.stdout.flush()'
    (fake / "smoke_worker.py").write_text(
        "import json, subprocess, sys\n"
        "def main():\n"
        f"    subprocess.Popen([sys.executable, '-c', {late!r}], stderr=subprocess.DEVNULL)\n"
        "    print(json.dumps({'type': 'hello'}), flush=True)\n"
        "    return 0\n",
        encoding="utf-8",
    )
    (fake / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(preflight_probe, "__file__", str(fake / "__init__.py"))  # the package ProbeDirectory copies
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    log = tmp_path / "worker.log"
    smoke = SmokeWorker(sys.executable, {}, log)
    assert smoke.next(Deadline(30)) == {"type": "hello"}
    smoke.close()
    for thread in smoke._child._threads:
        thread.join(timeout=10)
    assert errors == []
    assert log.read_text(encoding="utf-8") == '{"type": "hello"}\n'


def test_the_stdout_pump_drops_lines_once_the_log_is_closed(tmp_path: Path) -> None:
    smoke = SmokeWorker(sys.executable, _stub_spec("cpu"), tmp_path / "worker.log")
    smoke.close()
    smoke._child._pump_stdout(io.StringIO('{"type": "late"}\n'))  # what the pump thread does with a late line
    assert "late" not in (tmp_path / "worker.log").read_text(encoding="utf-8")


def test_library_output_cannot_corrupt_the_protocol(tmp_path: Path) -> None:
    """Prints (Python or C level) inside the worker go to stderr; stdout carries only protocol lines."""
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(PROBE_ROOT)!r})\n"
        "from preflight_probe import smoke_worker as runner\n"
        "read = runner.read_command\n"
        "def chatty():\n"
        "    print('library chatter without a newline', end='', flush=True)\n"
        "    os.write(1, b'C-level chatter\\n')\n"
        "    return read()\n"
        "runner.read_command = chatty\n"
        f"raise SystemExit(runner.main([{json.dumps(_stub_spec('cpu'))!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps({"op": "run"}) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["type"] for line in done.stdout.splitlines()] == ["hello", "inspect", "start", "case", "done"]
    assert "library chatter without a newline" in done.stderr
    assert "C-level chatter" in done.stderr
