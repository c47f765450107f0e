"""Summarize 1,000 and 10,000 realistic reports: schema validation on vs merely json.load-ing the files.

Realistic reports: the real preflight runs once on this machine (--device cpu),
then copies are mutated (node, backend, failing checks with real-looking
errors re-triaged by the shipped policy, timestamps, simulated flag) and
written to a temp dir in the project's JSON format.

Goals: reading the reports with schema validation on (glob, read, parse,
validate, typed records) takes at most 3x the CPU time of json.load-ing the
same files, the whole summarize with the PR delta on (--baseline: a previous
summary of the same fleet) takes at most 3x json.load at the largest size, and
the whole summarize's cost per report at 10k is within 1.5x of that at 1k
(linear). The whole summarize (also merge, render, write Markdown + JSON) is
timed without and with the delta, side by side. CPU time (process_time), best of N
interleaved runs, because the machine is shared.
Run: python benchmarks/bench_summarize.py [--sizes 1000 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from goals import failures_verdict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from preflight_action import atomic, schemas  # noqa: E402
from preflight_action.preflight import severity as policy_module  # noqa: E402
from preflight_action.preflight import triage  # noqa: E402
from preflight_action.preflight.report import Report  # noqa: E402
from preflight_action.summary import cli as cli_summarize  # noqa: E402
from preflight_action.summary import load as summary_load  # noqa: E402

RATIO_GOAL = 3.0
LINEAR_GOAL = 1.5
BACKENDS = ("cpu", "cuda", "cuda", "rocm", "mps", "xpu")
ERRORS = {
    "device.resolve": "RuntimeError: No CUDA GPUs are available (CUDA_VISIBLE_DEVICES='')",
    "tensor.smoke": "RuntimeError: CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be asynchronously reported",
    "dtype.support": "bfloat16 matmul relative error 0.31 exceeds tolerance 0.02 on this device",
    "torchvision.import": "ModuleNotFoundError: No module named 'torchvision'",
    "compile.smoke": "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised: CalledProcessError: gcc not found",
    "deps.consistency": "torchvision 0.19.0 was built for torch 2.4.* but torch 2.14.1 is installed @ml-infra",
    "capabilities.detect": "check timed out after 120 s (worker killed); last stderr: nvidia-smi hung",
}


def real_report(work: Path) -> dict[str, object]:
    out = work / "real.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "runtime_preflight.py"),
            "--device",
            "cpu",
            "--check-torchvision",
            "--quiet",
            "--output-path",
            str(out),
        ],
        check=True,
        timeout=600,
    )
    return json.loads(out.read_text(encoding="utf-8"))


def variants(base: dict[str, object], count: int, seed: int = 7) -> list[str]:
    """``count`` mutated copies of ``base`` as JSON text, each schema-valid (checked on a sample)."""
    rng = random.Random(seed)
    policy = policy_module.load()
    now = datetime.now(timezone.utc)
    texts = []
    for index in range(count):
        doc = copy.deepcopy(base)
        backend = BACKENDS[index % len(BACKENDS)]
        node = f"runner-{index % max(1, count // 4):05d}"
        doc["host"]["node_id"] = node  # type: ignore[index]
        doc["host"]["hostname"] = node  # type: ignore[index]
        doc["requested_device"] = backend
        doc["backend"] = backend
        doc["resolved_device"] = backend if backend == "cpu" else f"{backend}:0"
        finished = now - timedelta(hours=rng.choice((0.2, 1, 3, 30)) if index % 10 == 0 else rng.uniform(0, 2))
        doc["finished_at"] = finished.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        doc["started_at"] = (finished - timedelta(seconds=6)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        doc["simulated"] = index % 50 == 0
        failing = rng.sample(sorted(ERRORS), k=rng.choice((0, 0, 0, 1, 1, 2)))
        for check in doc["checks"]:  # type: ignore[union-attr]
            if check["id"] in failing:
                check.update(status="fail", error=ERRORS[check["id"]], skip_reason=None)
        report = Report.from_dict(doc)  # type: ignore[arg-type]
        scored = triage.score_checks(report.checks, policy, backend)
        report = replace(report, checks=scored, triage=triage.build(scored, policy, backend, "medium"))
        document = report.to_dict()
        if index % 500 == 0:
            schemas.validate(document, "preflight_report", f"variant {index}")
        texts.append(atomic.dumps(document))
    return texts


def time_json_load(pattern: str) -> float:
    started = time.process_time()
    for name in sorted(glob.glob(pattern)):
        with open(name, encoding="utf-8") as handle:
            json.load(handle)
    return time.process_time() - started


def time_load_reports(pattern: str) -> float:
    """Read, parse, validate every report and build the typed records (what validation adds to json.load)."""
    started = time.process_time()
    summary_load.load_reports(summary_load.expand([pattern]))
    return time.process_time() - started


def time_summarize(pattern: str, out: Path, baseline: Path | None = None) -> float:
    argv = ["--input-glob", pattern, "--output-md", str(out / "summary.md"), "--output-json", str(out / "summary.json"), "--quiet"]
    if baseline is not None:
        argv += ["--baseline", str(baseline)]
    started = time.process_time()
    code = cli_summarize.main(argv)
    elapsed = time.process_time() - started
    if code != 0:
        raise SystemExit(f"summarize exited {code}")
    return elapsed


def time_reference_validation(pattern: str, limit: int) -> float:
    """Pure-Python jsonschema on the first ``limit`` files: what validation costs without the fast path."""
    names = sorted(glob.glob(pattern))[:limit]
    started = time.process_time()
    for name in names:
        schemas.read_json(name, "preflight_report")
    return (time.process_time() - started) / len(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5, help="best of N interleaved timings (default 5)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-summarize-") as tmp:
        work = Path(tmp)
        print("running the real preflight once (--device cpu) ...", flush=True)
        base = real_report(work)
        texts = variants(base, max(args.sizes))
        reference_ms = 0.0
        for size in args.sizes:
            folder = work / f"n{size}"
            folder.mkdir()
            for index, text in enumerate(texts[:size]):
                (folder / f"report-{index:05d}.json").write_text(text, encoding="utf-8")
            pattern = str(folder / "*.json")
            time_json_load(pattern)  # warm the page cache
            time_summarize(pattern, work / f"out{size}")  # and our caches (compiled validator, template)
            baseline = work / f"baseline{size}.json"
            baseline.write_bytes((work / f"out{size}" / "summary.json").read_bytes())
            times: dict[str, list[float]] = {"load": [], "validated": [], "summarize": [], "delta": []}
            for _ in range(args.repeat):  # interleaved, best of N: the machine is shared, noise hits all alike
                times["load"].append(time_json_load(pattern))
                times["validated"].append(time_load_reports(pattern))
                times["summarize"].append(time_summarize(pattern, work / f"out{size}"))
                times["delta"].append(time_summarize(pattern, work / f"out{size}", baseline))
            if not reference_ms:
                reference_ms = time_reference_validation(pattern, 200) * 1000
            rows.append((size, min(times["load"]), min(times["validated"]), min(times["summarize"]), min(times["delta"])))
            print(f"  {size} reports measured", flush=True)
    print()
    print("CPU seconds (process_time), best of", args.repeat)
    print(
        f"{'reports':>8} | {'json.load':>9} | {'read+validate':>13} | {'ratio':>5} | {'summarize':>9} | {'ratio':>5} "
        f"| {'+delta':>7} | {'ratio':>5} | {'summarize ms/report':>19}"
    )
    print(f"{'-' * 8}-+-{'-' * 9}-+-{'-' * 13}-+-{'-' * 5}-+-{'-' * 9}-+-{'-' * 5}-+-{'-' * 7}-+-{'-' * 5}-+-{'-' * 19}")
    for size, load, validated, summ, delta in rows:
        print(
            f"{size:>8} | {load:>9.3f} | {validated:>13.3f} | {validated / load:>5.2f} | {summ:>9.3f} | {summ / load:>5.2f} "
            f"| {delta:>7.3f} | {delta / load:>5.2f} | {summ / size * 1000:>19.3f}"
        )
    print("read+validate: glob, read, parse, validate each report against the schema, build the typed records")
    print("summarize: the whole CLI (read+validate, merge, matrix view, render Markdown, write Markdown + JSON)")
    print("+delta: the same with --baseline (a previous summary JSON of the same fleet: read, validate, compare)")
    print(f"reference: pure-Python jsonschema validation alone costs {reference_ms:.3f} ms/report")
    failures = []
    worst = max(validated / load for _, load, validated, _, _ in rows)
    if worst > RATIO_GOAL:
        failures.append(f"reading with schema validation took {worst:.2f}x json.load (goal <= {RATIO_GOAL}x)")
    size, load, _, _, delta = rows[-1]
    if delta / load > RATIO_GOAL:
        failures.append(f"summarize with the delta took {delta / load:.2f}x json.load at {size} reports (goal <= {RATIO_GOAL}x)")
    if len(rows) > 1:
        (small, _, _, s_small, _), (big, _, _, s_big, _) = rows[0], rows[-1]
        growth = (s_big / big) / (s_small / small)
        print(f"summarize cost per report at {big} vs {small}: {growth:.2f}x (goal <= {LINEAR_GOAL}x: linear)")
        if growth > LINEAR_GOAL:
            failures.append(f"per-report cost grew {growth:.2f}x from {small} to {big} (goal <= {LINEAR_GOAL}x)")
    return failures_verdict(failures)


if __name__ == "__main__":
    raise SystemExit(main())
