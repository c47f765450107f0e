"""Goal: `--device cpu --check-torchvision` costs at most 1.2x `python -c "import torch, torchvision"`.

Both are measured side by side in one run, interleaved so machine load hits both alike;
the ratio of medians decides. Exit code 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goals import ratio_verdict

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.2


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        baseline_cmd = [args.python, "-c", "import torch, torchvision"]
        # The same imports without torch's interpreter teardown (~1 s): the preflight skips that
        # teardown by killing its worker, so this is the stricter floor to compare with.
        import_only_cmd = [args.python, "-c", "import os, torch, torchvision; os._exit(0)"]
        preflight_cmd = [
            args.python,
            str(ROOT / "scripts" / "runtime_preflight.py"),
            "--device",
            "cpu",
            "--check-torchvision",
            "--quiet",
            "--output-path",
            str(Path(tmp) / "bench.json"),
        ]
        wall(baseline_cmd)  # warm the page cache for both
        wall(preflight_cmd)
        base, pre, floor = [], [], []
        report_path = Path(tmp) / "bench.json"
        for i in range(args.repeats):
            base.append(wall(baseline_cmd))
            floor.append(wall(import_only_cmd))
            pre.append(wall(preflight_cmd))
            ran = {c["id"]: c["status"] for c in json.loads(report_path.read_text())["checks"]}
            if ran.get("torch.import") != "pass" or ran.get("torchvision.import") != "pass":
                print(f"the preflight did not really run its checks: {ran}", file=sys.stderr)
                return 2
            print(
                f"  run {i + 1}/{args.repeats}: import {base[-1]:.2f} s, import-only {floor[-1]:.2f} s, preflight {pre[-1]:.2f} s",
                flush=True,
            )
    b, p, f = statistics.median(base), statistics.median(pre), statistics.median(floor)
    ratio = p / b
    print(f"{'measure':<44}{'median s':>10}{'min s':>8}{'max s':>8}")
    print(f"{'python -c import torch, torchvision':<44}{b:>10.2f}{min(base):>8.2f}{max(base):>8.2f}")
    print(f"{'same, os._exit (no teardown)':<44}{f:>10.2f}{min(floor):>8.2f}{max(floor):>8.2f}")
    print(f"{'preflight --device cpu --check-torchvision':<44}{p:>10.2f}{min(pre):>8.2f}{max(pre):>8.2f}")
    print(f"ratio to the import without teardown: {p / f:.2f}x (informational)")
    return ratio_verdict(ratio, GOAL, "ratio of medians")


if __name__ == "__main__":
    raise SystemExit(main())
