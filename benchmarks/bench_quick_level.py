"""Goal: `--level quick` costs at most 1.05x `python -c "import torch, os; os._exit(0)"` (the physical floor).

The floor is torch's import without the interpreter's teardown (the preflight kills its
worker instead of waiting for that teardown). The two commands run in interleaved pairs,
floor then quick, so machine load hits both alike; each pair gives a ratio and the median
pair ratio decides (wall time; CPU time, user + system of the whole process tree, is
printed beside it: on a saturated machine wall time tracks CPU, on an idle one the
orchestrator's work overlaps the worker's torch import). Exit 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goals import ratio_verdict

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.05
QUICK_CHECKS = ("torch.import", "device.resolve", "capabilities.detect", "tensor.smoke", "deps.consistency")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and everything it waited for)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    subprocess.run(argv, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu_before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if os.name != "posix":
        print("this benchmark reads CPU time with resource.getrusage (POSIX only)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "quick.json"
        floor_cmd = [args.python, "-c", "import torch, os; os._exit(0)"]
        quick_cmd = [args.python, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", args.device, "--level", "quick"]
        quick_cmd += ["--quiet", "--output-path", str(report)]
        measure(floor_cmd)  # warm the page cache for both
        measure(quick_cmd)
        rows = []
        for i in range(args.pairs):
            floor = measure(floor_cmd)
            quick = measure(quick_cmd)
            ran = {c["id"]: c["status"] for c in json.loads(report.read_text(encoding="utf-8"))["checks"]}
            if any(ran.get(check) != "pass" for check in QUICK_CHECKS):
                print(f"the quick level did not really run its checks: {ran}", file=sys.stderr)
                return 2
            rows.append((floor, quick))
            print(
                f"  pair {i + 1}/{args.pairs}: floor {floor[0]:.2f} s, quick {quick[0]:.2f} s, ratio {quick[0] / floor[0]:.3f}", flush=True
            )
    wall_ratios = [q[0] / f[0] for f, q in rows]
    cpu_ratios = [q[1] / f[1] for f, q in rows]
    floors, quicks = [f[0] for f, _ in rows], [q[0] for _, q in rows]
    print(f"{'measure':<46}{'median s':>10}{'min s':>8}{'max s':>8}")
    print(f"{'python -c import torch, os; os._exit(0)':<46}{statistics.median(floors):>10.2f}{min(floors):>8.2f}{max(floors):>8.2f}")
    print(f"{'runtime_preflight --level quick --quiet':<46}{statistics.median(quicks):>10.2f}{min(quicks):>8.2f}{max(quicks):>8.2f}")
    ratio = statistics.median(wall_ratios)
    print(f"cpu ratio (median of pairs): {statistics.median(cpu_ratios):.3f}x (informational)")
    return ratio_verdict(ratio, GOAL)


if __name__ == "__main__":
    raise SystemExit(main())
