"""Runner overhead per step over the adapter's own process time: the no-op adapter, 200 steps.

Goal: at most 50 ms per step, counting everything the runner does around the adapter processes
(planning, spawning, logs, steps.ldjson with fsync, summaries, reports), i.e.
(wall time of `sweep run` - sum of the adapters' spawn-to-exit times) / steps.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import _bootstrap

_bootstrap.ensure_package()

from preflight_action.sweep.cli import main  # noqa: E402

STEPS = 200
GOAL_MS = 50.0


def run_once(tmp: Path) -> tuple[float, list[dict]]:
    flow = tmp / "overhead.yaml"
    reps = ", ".join(str(i) for i in range(STEPS // 10))
    flow.write_text(
        f"name: overhead\nseed: 1\naxes:\n  rep: [{reps}]\nsteps:\n  - name: noop\n    adapter: noop\n    sweep: {{tag: [a, b, c, d, e, f, g, h, i, j]}}\n",
        encoding="utf-8",
    )
    out = tmp / "runs"
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["--output-root", str(out), "run", "--flow", str(flow), "--no-probe", "--yes", "--plain"])
    wall = time.perf_counter() - start
    assert code == 0, f"sweep run exited {code}"
    records = [json.loads(line) for path in out.glob("*/subruns/*/steps.ldjson") for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == STEPS, len(records)
    return wall, records


def main_bench() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        wall, records = run_once(Path(tmp))
    process = sum(r["process_s"] for r in records)
    in_step = sum(r["duration_s"] - r["process_s"] for r in records)
    overhead_ms = (wall - process) / STEPS * 1000
    rows = [
        ("steps", f"{STEPS}", ""),
        ("wall time of `sweep run`", f"{wall:.2f} s", ""),
        ("adapter processes, spawn to exit (sum)", f"{process:.2f} s", f"mean {process / STEPS * 1000:.1f} ms"),
        ("runner work inside steps (logs, metrics, ldjson+fsync)", f"{in_step / STEPS * 1000:.2f} ms/step", ""),
        ("runner overhead per step, end to end", f"{overhead_ms:.2f} ms/step", f"goal <= {GOAL_MS:g} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print("bench_sweep_overhead: no-op adapter, 200 steps (20 points x 10 steps)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>14}  {note}")
    ok = overhead_ms <= GOAL_MS
    print(f"  {'result':<{width}}  {'PASS' if ok else 'FAIL':>14}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main_bench())
