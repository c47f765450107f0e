"""End to end with real torch on the CPU: the probe picks the profile, real adapters report metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight_action import schemas
from preflight_action.sweep.cli import main

pytestmark = pytest.mark.integration
FLOW = """name: torch_tiny
seed: 4
axes:
  dtype: [bfloat16]
steps:
  - name: matmul
    adapter: matmul_bench
    params: {dtype: "${dtype}", batch: 2, size: 16, iters: 2, warmup: 1, device: "${device}", threads: 1}
  - name: model
    adapter: model_smoke
    params: {model: tiny_mlp, dtype: "${dtype}", batch: 2, image_size: 16, iters: 1, device: "${device}", threads: 1, backward: true}
report: {step: matmul, metric: tflops, x: dtype}
"""


def test_probe_selects_the_cpu_profile_and_torch_adapters_report_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["--output-root", str(out), "run", "--flow", str(flow), "--device", "cpu", "--yes", "--plain"]) == 0
    printed = capsys.readouterr().out
    assert "profile:  cpu-generic" in printed
    assert "(probe)" in printed
    (run,) = list(out.iterdir())
    info = schemas.read_json(run / "sysinfo.json", "sysinfo")
    assert info["method"] == "probe"
    assert info["backend"] == "cpu"
    assert info["errors"] == []
    assert info["facts"]["torch_version"]
    assert info["memory_mb"] > 0
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["profile"]["name"] == "cpu-generic"
    bf16 = summary["points"][0]
    assert bf16["axes"] == {"dtype": "bfloat16"}
    assert bf16["metrics"]["matmul"]["dtype"] == "bfloat16"
    assert bf16["metrics"]["matmul"]["ms_per_iter"] > 0
    assert bf16["metrics"]["matmul"]["max_rel_error"] < 0.05
    assert bf16["metrics"]["model"]["output_finite"] is True
    record = json.loads((run / "subruns" / "p000" / "steps.ldjson").read_text(encoding="utf-8").splitlines()[0])
    assert record["argv"][record["argv"].index("--threads") + 1] == "1"
    assert "<svg" in (run / "report.html").read_text(encoding="utf-8")


def test_an_unavailable_device_stops_the_run_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code = main(["--output-root", str(out), "run", "--flow", "noop", "--device", "mps", "--yes", "--plain"])
    err = capsys.readouterr().err
    if code == 0:
        pytest.skip("this machine has an MPS device")
    assert code == 2
    assert "--device mps: device.resolve: --device mps was requested but is not available" in err
    assert not out.exists()


@pytest.mark.device
def test_cuda_sweep_selects_an_nvidia_profile_and_runs_on_the_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("[bfloat16]", "[float16, bfloat16]"), encoding="utf-8")
    out = tmp_path / "runs"
    assert main(["--output-root", str(out), "run", "--flow", str(flow), "--device", "cuda", "--yes", "--plain"]) == 0
    (run,) = list(out.iterdir())
    info = schemas.read_json(run / "sysinfo.json", "sysinfo")
    assert info["backend"] == "cuda"
    assert info["device_name"]
    assert info["memory_mb"] > 0
    summary = schemas.read_json(run / "summary.json", "sweep_summary")
    assert summary["profile"]["name"].startswith("nvidia-")
    for point in summary["points"]:
        assert point["metrics"]["matmul"]["device"] == "cuda"
        assert point["metrics"]["matmul"]["peak_memory_mb"] > 0
