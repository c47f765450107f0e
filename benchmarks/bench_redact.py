"""Scrub realistic report documents: cost per report, and how it grows with the number of secrets.

Documents: 20 checks each, with multi-line stderr tails (tracebacks, paths, numbers), details
and a fingerprint payload of environment variables, about 40 KB of JSON a report. Secrets: 1,
10, 50 and 200 values of secret-named variables, each scrubbed with every encoding the Actions
runner masks (base64 at three alignments, standard and URL-safe; JSON, URL, HTML and quote
escapes), plus the token shapes.

Goals: with 10 secrets (a typical CI job) scrubbing a report costs at most 3x json.dumps-ing it
and no more than the old per-value str.replace loop did for the values alone; the cost grows
well below linearly with the number of secrets (one prefix-tree regex, whose top level is bounded
by the alphabet of first characters, not a pass per secret and encoding): 4x the secrets (200
against 50) cost at most 2.5x. CPU time
(process_time), best of N, because the machine is shared.
Run: python benchmarks/bench_redact.py [--reports 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from preflight_action import redact  # noqa: E402

TAIL = """Traceback (most recent call last):
  File "/opt/venv/lib/python3.12/site-packages/torch/cuda/__init__.py", line {n}, in _lazy_init
    torch._C._cuda_init()
RuntimeError: CUDA driver initialization failed, you might not have a CUDA gpu. (error {n})
W1201 12:00:{n:02d}.123 process_group.cpp:{n}] NCCL_DEBUG=INFO rank {n} of 8 on node-{n}
"""


def document(rng: random.Random) -> dict[str, Any]:
    checks = []
    for index in range(20):
        tail = "".join(TAIL.format(n=rng.randint(10, 99)) for _ in range(4))
        checks.append(
            {
                "id": f"check.n{index}",
                "status": rng.choice(["pass", "fail", "skip"]),
                "duration_ms": rng.random() * 1000,
                "details": {"device": "cuda:0", "values": [rng.random() for _ in range(8)], "note": "tensor ok " * 10},
                "error": f"the worker was killed by SIGSEGV\nlast stderr lines:\n{tail}",
                "skip_reason": None,
            }
        )
    environment = {f"VAR_{i}": f"/usr/local/lib/path-{i}:/opt/other/{i}" for i in range(60)}
    return {"checks": checks, "env_fingerprint": {"payload": {"environment": environment}}}


def secrets(count: int, rng: random.Random) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+/"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(20, 60))) for _ in range(count)]


def old_scrub(document: Any, values: list[str]) -> Any:
    """The scrub before the encodings and shapes: one str.replace pass per value."""
    if isinstance(document, str):
        for value in values:
            if value in document:
                document = document.replace(value, redact.REDACTED)
        return redact.URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{redact.REDACTED}@", document)
    if isinstance(document, dict):
        return {old_scrub(str(k), values): old_scrub(v, values) for k, v in document.items()}
    if isinstance(document, list):
        return [old_scrub(v, values) for v in document]
    return document


def best(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    docs = [document(rng) for _ in range(args.reports)]
    size = sum(len(json.dumps(d)) for d in docs) / len(docs)
    dumps = best(lambda: [json.dumps(d) for d in docs], args.repeat)
    print(f"{args.reports} reports, {size / 1024:.1f} KB each; json.dumps: {dumps / args.reports * 1e3:.3f} ms/report")
    per_report = {}
    old_per_report = {}
    for count in (1, 10, 50, 200):
        values = secrets(count, rng)
        redact.scrub("warm the compiled pattern", values)
        new = best(lambda values=values: [redact.scrub(d, values) for d in docs], args.repeat)
        old = best(lambda values=values: [old_scrub(d, values) for d in docs], args.repeat)
        per_report[count] = new / args.reports
        old_per_report[count] = old / args.reports
        print(
            f"{count:>2} secrets: scrub {new / args.reports * 1e3:.3f} ms/report "
            f"({new / dumps:.2f}x json.dumps); old replace loop (values only) {old / args.reports * 1e3:.3f} ms/report"
        )
    typical = per_report[10] <= 3 * dumps / args.reports and per_report[10] <= old_per_report[10]
    bounded = per_report[200] <= 2.5 * per_report[50]
    print(
        f"goal: 10 secrets <= 3x json.dumps ({per_report[10] * args.reports / dumps:.2f}x) and <= the old loop "
        f"({per_report[10] / old_per_report[10]:.2f}x); 200 secrets <= 2.5x 50 ({per_report[200] / per_report[50]:.2f}x): "
        f"{'met' if typical and bounded else 'MISSED'}"
    )
    ok = typical and bounded
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
