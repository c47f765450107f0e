"""scripts/smoke.py end to end: real CPU runs, the guard's fallback and abort, stub without torch, honest outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.smoke import cli

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--device", "cpu", "--models", "transformer", "--iterations", "1", "--quiet"]


def run_smoke(root: Path, *args: str) -> tuple[int, dict[str, Any], Path]:
    code = cli.main(["--output-root", str(root), *args])
    runs = sorted(root.glob("run.*"))
    record_path = runs[-1] / "smoke_run.json"
    return code, schemas.read_json(record_path, "smoke_run"), runs[-1]


@pytest.fixture(scope="module")
def real_cpu(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    return run_smoke(tmp_path_factory.mktemp("smoke"), *FAST, "--dtypes", "float32,bfloat16", "--keep")


def test_real_cpu_smoke_passes_with_figures(real_cpu: tuple[int, dict[str, Any], Path]) -> None:
    code, record, _ = real_cpu
    assert code == 0
    assert record["outcome"] == "pass"
    assert record["mode"] == "real"
    assert not record["simulated"]
    assert record["device"]["backend"] == "cpu"
    assert record["interpreter"]["torch"]
    assert [(c["model"], c["dtype"], c["outcome"]) for c in record["cases"]] == [
        ("transformer", "float32", "pass"),
        ("transformer", "bfloat16", "pass"),
    ]
    fp32, bf16 = record["cases"]
    assert fp32["forward"]["max_rel_error"] == 0.0  # same device and dtype as the reference
    assert 0.0 < bf16["forward"]["max_rel_error"] <= bf16["forward"]["tolerance"]
    for case in record["cases"]:
        assert case["forward"]["finite"]
        assert case["train"]["finite"]
        assert case["train"]["params_updated"]
        assert case["forward"]["samples_per_s"] > 0
        assert case["train"]["step_ms"] > 0
        assert case["memory"]["kind"] == "process_peak_rss_delta"
        assert case["memory"]["peak_bytes"] is not None
    if sys.platform == "linux":  # the peak is reset per case, so the first case's own allocations show
        assert record["cases"][0]["memory"]["peak_bytes"] > 0
        assert "VmHWM" in record["cases"][0]["memory"]["note"]
        assert case["params"] == 77_194
    assert record["guard"]["fits"]
    assert record["guard"]["need_bytes"] > 0


def test_keep_pins_the_run_and_the_worker_log_is_kept(real_cpu: tuple[int, dict[str, Any], Path]) -> None:
    _, record, run_dir = real_cpu
    assert record["pinned"]
    assert (run_dir / ".keep").exists()
    kinds = [json.loads(line)["type"] for line in (run_dir / "worker.log").read_text().splitlines()]
    assert kinds[:2] == ["hello", "inspect"]
    assert kinds[-1] == "done"
    assert kinds.count("case") == 2


def test_guard_shortfall_falls_back_to_simulated_never_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, record, _ = run_smoke(
        tmp_path,
        "--device",
        "cpu",
        "--models",
        "transformer",
        "--mem-reserve-gb",
        "1000000",
        "--profile",
        "t4-linux",
        "--dtypes",
        "bfloat16",
    )
    err = capsys.readouterr().err
    assert "short by" in err
    assert "falling back to simulated" in err
    assert code == 0
    assert record["requested_mode"] == "real"
    assert record["mode"] == "simulated"
    assert record["simulated"]
    assert record["outcome"] == "simulated"
    assert record["counts"]["pass"] == 0
    assert "short by" in record["fallback_reason"]
    assert record["guard"]["shortfall_bytes"] > 0
    assert not record["guard"]["proceed"]
    (case,) = record["cases"]
    assert case["outcome"] == "simulated"
    assert case["effective_dtype"] == "float16"
    assert record["device"]["backend"] == "cuda"
    assert record["profile"]["name"] == "t4-linux"


def test_require_real_aborts_instead_of_falling_back(tmp_path: Path) -> None:
    code, record, _ = run_smoke(tmp_path, *FAST, "--dtypes", "float32", "--mem-reserve-gb", "1000000", "--require-real")
    assert code == 1
    assert record["outcome"] == "aborted"
    assert record["mode"] == "real"
    assert all(c["outcome"] == "not_run" and "--require-real" in c["reason"] for c in record["cases"])


def test_allow_high_mem_runs_for_real_despite_the_shortfall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_SMOKE_ALLOW_HIGH_MEM", "1")
    code, record, _ = run_smoke(tmp_path, *FAST, "--dtypes", "float32", "--mem-reserve-gb", "1000000")
    assert code == 0
    assert record["outcome"] == "pass"
    assert record["guard"]["bypassed"]
    assert not record["guard"]["fits"]


@pytest.mark.integration
def test_without_torch_a_real_run_is_skipped_not_passed(tmp_path: Path, bare_python: Path) -> None:
    code, record, _ = run_smoke(tmp_path, *FAST, "--python", str(bare_python))
    assert code == 0
    assert record["outcome"] == "skipped"
    assert record["interpreter"]["torch"] is None
    assert all(c["outcome"] == "skipped" and "torch is not importable" in c["reason"] for c in record["cases"])
    code, record, _ = run_smoke(tmp_path, *FAST, "--python", str(bare_python), "--require-real")
    assert code == 1
    assert record["outcome"] == "skipped"


@pytest.mark.integration
def test_stub_mode_runs_the_script_plumbing_under_a_bare_interpreter(tmp_path: Path, bare_python: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            "--mode",
            "stub",
            "--python",
            str(bare_python),
            "--output-root",
            str(tmp_path),
            "--keep-recent",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.glob("run.*")
    record = schemas.read_json(run_dir / "smoke_run.json", "smoke_run")
    assert record["mode"] == "stub"
    assert record["device"]["backend"] == "unknown"  # stub never resolves a device
    assert record["outcome"] == "skipped"
    assert len(record["cases"]) == 6
    assert all("stub mode" in c["reason"] for c in record["cases"])
    assert record["guard"] is not None
    assert record["cases"][0]["params"] == 11_181_642
    assert "outcome skipped (not a real pass)" in result.stderr


@pytest.mark.integration
def test_timeout_guard_ends_the_smoke_and_records_what_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_SMOKE_INJECT_FAULT", "hang:transformer:bfloat16")
    # The guard covers torch's import and the first case too: 45 s leaves a loaded 2-core machine room for both.
    code, record, _ = run_smoke(tmp_path, *FAST, "--dtypes", "float32,bfloat16,float16", "--timeout", "45")
    assert code == 1
    assert record["outcome"] == "timeout"
    assert record["timed_out"]
    assert [c["outcome"] for c in record["cases"]] == ["pass", "not_run", "not_run"]
    assert "in flight" in record["cases"][1]["reason"]
    assert "after 45 s" in record["cases"][2]["reason"]


@pytest.mark.integration
def test_a_worker_crash_fails_that_case_and_keeps_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_SMOKE_INJECT_FAULT", "crash:transformer:bfloat16")
    code, record, _ = run_smoke(tmp_path, *FAST, "--dtypes", "float32,bfloat16")
    assert code == 1
    assert record["outcome"] == "fail"
    first, crashed = record["cases"]
    assert first["outcome"] == "pass"
    assert crashed["outcome"] == "fail"
    assert "SIGABRT" in crashed["reason"]
    assert "injected crash" in crashed["reason"]


def test_retention_keeps_the_newest_runs(tmp_path: Path) -> None:
    for _ in range(3):
        code = cli.main(
            [
                "--output-root",
                str(tmp_path),
                "--mode",
                "stub",
                "--quiet",
                "--keep-recent",
                "2",
                "--models",
                "transformer",
                "--dtypes",
                "float32",
            ]
        )
        assert code == 0
    assert len(list(tmp_path.glob("run.*"))) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtypes", "float8"], "--dtypes must be a comma list"),
        (["--timeout", "-1"], "argument --timeout: must be at least 0 s, got -1"),
        (["--timeout", "nan"], "argument --timeout: must be a finite number of seconds, got 'nan'"),
        (["--mem-factor", "nan"], "argument --mem-factor: must be a finite multiplier, got 'nan'"),
        (["--mem-factor", "0"], "argument --mem-factor: must be above 0, got 0"),
        (["--retention-secs", "inf"], "argument --retention-secs: must be a finite number of seconds, got 'inf'"),
        (["--mode", "simulated", "--profile", "h100-linx"], "did you mean 'h100-linux'"),
        (["--python", "/no/such/python"], "no such interpreter"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    try:
        code = cli.main(["--output-root", str(tmp_path), *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert not list(tmp_path.glob("run.*"))


@pytest.mark.skipif(sys.platform == "darwin", reason="MPS may exist on macOS; the test needs a device that is certainly absent")
def test_an_absent_device_is_skipped_with_the_reason(tmp_path: Path) -> None:
    code, record, _ = run_smoke(tmp_path, "--device", "mps", "--models", "transformer", "--dtypes", "float32", "--quiet")
    assert code == 0
    assert record["outcome"] == "skipped"
    assert record["counts"]["skipped"] == 1
    assert "mps was requested but torch" in record["cases"][0]["reason"]
    assert record["guard"] is None  # nothing ran, so nothing was guarded
