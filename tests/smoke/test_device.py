"""Real smoke on a CUDA GPU (pytest -m device): float32, float16 and bfloat16 pass with CUDA peak memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action import schemas
from preflight_action.smoke import cli

pytestmark = pytest.mark.device


def test_cuda_smoke_passes_in_every_dtype_with_cuda_memory_figures(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    code = cli.main(["--device", "cuda", "--require-real", "--output-root", str(tmp_path), "--quiet"])
    (run_dir,) = tmp_path.glob("run.*")
    record = schemas.read_json(run_dir / "smoke_run.json", "smoke_run")
    expected = {"float32", "float16"} | ({"bfloat16"} if torch.cuda.is_bf16_supported() else set())
    passed = {c["dtype"] for c in record["cases"] if c["outcome"] == "pass"}
    assert code == 0, record["cases"]
    assert record["outcome"] == "pass", record["cases"]
    assert passed == expected
    for case in record["cases"]:
        if case["outcome"] == "pass":
            assert case["memory"]["kind"] == "cuda_max_memory_allocated"
            assert case["memory"]["peak_bytes"] > 0
            assert case["forward"]["max_rel_error"] <= case["forward"]["tolerance"]
    assert record["guard"]["memory_source"].endswith("free memory")
