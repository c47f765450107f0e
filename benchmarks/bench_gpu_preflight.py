"""Goal: the standard preflight on a CUDA device costs at most 1.5x `python -c "import torch; torch.zeros(1, device='cuda')"`.

The yardstick is what any CUDA job pays first: torch's import and a CUDA context. The two
commands run in interleaved pairs (yardstick, then preflight) so machine load hits both
alike; the median pair ratio decides. Exit 1 when the goal is missed; on a machine where
torch sees no CUDA device the benchmark says so and exits 0 (nothing to hold to the goal).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_quick_level import measure
from goals import ratio_verdict

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--level", default="standard", choices=("quick", "standard"))
    args = parser.parse_args(argv)
    probe = subprocess.run(
        [args.python, "-c", "import torch; print(torch.cuda.is_available() and torch.cuda.device_count())"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if probe.stdout.strip() in ("", "0", "False"):
        print(f"skipped: torch under {args.python} sees no CUDA device ({(probe.stdout or probe.stderr).strip()[-200:] or 'no output'})")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "gpu.json"
        yard_cmd = [args.python, "-c", "import torch; torch.zeros(1, device='cuda')"]
        pre_cmd = [args.python, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cuda", "--level", args.level]
        pre_cmd += ["--quiet", "--output-path", str(report)]
        measure(yard_cmd)  # page cache and the driver's first-context costs, for both
        measure(pre_cmd)
        rows = []
        for i in range(args.pairs):
            yard, pre = measure(yard_cmd), measure(pre_cmd)
            checks = json.loads(report.read_text(encoding="utf-8"))["checks"]
            failed = [c["id"] for c in checks if c["status"] == "fail"]
            rows.append((yard[0], pre[0]))
            print(
                f"  pair {i + 1}/{args.pairs}: yardstick {yard[0]:.2f} s, preflight {pre[0]:.2f} s, ratio {pre[0] / yard[0]:.3f}",
                flush=True,
            )
            if failed:
                print(f"  (failed checks in that run: {', '.join(failed)})")
    ratio = statistics.median(p / y for y, p in rows)
    print(f"yardstick median {statistics.median(y for y, _ in rows):.2f} s, preflight median {statistics.median(p for _, p in rows):.2f} s")
    return ratio_verdict(ratio, GOAL)


if __name__ == "__main__":
    raise SystemExit(main())
