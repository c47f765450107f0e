"""kernel.log on a log with no event: what every preflight pays (it runs at every level, --device cpu included).

Logs: a GPU node's boot log (tests/data/kernel_log/dmesg_clean.log, with "AER: enabled" lines that hold a
keyword but are no error) repeated with rising timestamps to 10,000 lines (about 1.3 MB: a full 1 MiB ring
buffer), the same without any keyword line, and this machine's own live log (informational). Also timed:
a 500-line Xid storm (the judged path: policy, state file).

Goals: judging the 10,000-line log without an event costs at most 5 ms, with or without keyword lines
(wall time of the whole judge(): read, scan, verdict; best of N, because the machine is shared).
Run: python benchmarks/bench_kernel_log.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from goals import failures_verdict  # noqa: E402
from preflight_action.kernel_log import judge, parse  # noqa: E402

GOAL_MS = 5.0
LINES = 10_000
STORM = "[{t:12.6f}] NVRM: Xid (PCI:0000:3b:00): 31, pid=4242, name=python, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f2e_3a000000"


def boot_log(keywords: bool) -> str:
    """LINES lines of a real boot log's kinds of line, timestamps rising."""
    source = (ROOT / "tests" / "data" / "kernel_log" / "dmesg_clean.log").read_text(encoding="utf-8").splitlines()
    bodies = [line.split("] ", 1)[1] for line in source if keywords or not any(k in line for k in parse.KEYWORDS)]
    return "".join(f"[{i * 0.731:12.6f}] {bodies[i % len(bodies)]}\n" for i in range(LINES))


def best_ms(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        verdict = judge.judge("medium", 5.0)
        times.append((time.perf_counter() - started) * 1000.0)
    assert verdict.status in ("pass", "fail", "skip"), verdict
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PREFLIGHT_CACHE_DIR"] = str(Path(tmp) / "cache")
        (Path(tmp) / "sys").mkdir()
        os.environ["PREFLIGHT_SYSFS_ROOT"] = str(Path(tmp) / "sys")
        print(f"{'log':<52}{'size':>10}{'best ms':>10}")
        for name, text, goal in (
            ("10,000 boot lines, 'AER: enabled' lines among them", boot_log(True), GOAL_MS),
            ("10,000 boot lines, no keyword at all", boot_log(False), GOAL_MS),
            ("500-line Xid 31 storm (judged: policy, state file)", "".join(STORM.format(t=i * 0.5) + "\n" for i in range(500)), None),
        ):
            path = Path(tmp) / "kernel.log"
            path.write_text(text, encoding="utf-8")
            os.environ["PREFLIGHT_KERNEL_LOG"] = str(path)
            ms = best_ms(args.repeat)
            print(f"{name:<52}{len(text) / 1e6:>8.2f}MB{ms:>10.2f}")
            if goal is not None and ms > goal:
                failures.append(f"{name}: {ms:.2f} ms (goal <= {goal} ms)")
        del os.environ["PREFLIGHT_KERNEL_LOG"]
        verdict = judge.judge("medium", 5.0)
        ms = best_ms(args.repeat)
        print(
            f"{'this machine: ' + str(verdict.details.get('source') or verdict.message)[:38]:<52}{verdict.details.get('lines', 0):>7} ln{ms:>10.2f}"
        )
    return failures_verdict(failures)


if __name__ == "__main__":
    raise SystemExit(main())
