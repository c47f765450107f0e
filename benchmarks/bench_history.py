"""The run history at fleet scale: 1,000 nodes x 365 nights (365,000 records) read, updated and summarised.

``prepare`` writes a synthetic history (realistic records: 19 checks with status
and duration, perf.matmul TFLOP/s for three dtypes, perf.bandwidth, SKU, torch,
driver; each record's inventory by reference, its parts (400 packages, the
CUDA variables, the platform facts) defined again every 19 nights as
history.changes does; one node drops 30% on the last night with NCCL_ALGO
newly set, and the update must say so; 2% of check runs flip) and
``once`` does what one nightly ``summarize --history`` does with it: read the
recent runs, judge tonight's 1,000 reports (regressions, flaky checks, charts),
append them, prune by age and size, write the file back atomically. Without a
sub-command it prepares 10%, 50% and 100% of the nights in a temp dir and times
``once`` on each (wall seconds, best of --repeat) to show how the cost grows.
Goal: under 3 s for 365,000 records, and no worse than linear in records.

Run: python benchmarks/bench_history.py [--nodes 1000] [--nights 365] [--repeat 3] [--without-inventory]
     python benchmarks/bench_history.py prepare --dir D; farm-bench -- python benchmarks/bench_history.py once --dir D
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from goals import failures_verdict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

GOAL_S = 3.0
LINEAR_GOAL = 1.5
CHECKS = (
    "torch.import", "device.resolve", "capabilities.detect", "tensor.smoke", "dtype.support", "deps.consistency",
    "device.placement", "perf.matmul", "perf.bandwidth", "gpu.health", "gpu.clocks", "gpu.ecc", "gpu.pcie", "gpu.mig",
    "gpu.driver", "dtype.select", "memory.headroom", "torchvision.import", "compile.smoke",
)  # fmt: skip
SKU, TORCH, DRIVER = "NVIDIA H100 80GB HBM3", "2.14.1+cu130", "575.51.03"
WINDOW = 20  # policy/history.yaml's window_runs: a part is defined again when its definition would leave it


def inventory(nccl_algo: str | None = None) -> Any:
    """The fleet's inventory as parts: 400 packages, the CUDA variables, the platform facts (diff.parts)."""
    from preflight_action.diff.parts import Parts

    versions = {f"package-{i:03d}": f"1.{i % 17}.{i % 5}" for i in range(392)}
    versions.update(torch="2.14.1", torchvision="0.29.1", numpy="2.4.6", triton="3.6.0")
    versions.update({f"nvidia-{n}": "13.0.88" for n in ("cublas", "cudnn-cu13", "nccl-cu13", "cuda-runtime")})
    variables = {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "NCCL_SOCKET_IFNAME": "eth0", "OMP_NUM_THREADS": "8"}
    if nccl_algo:
        variables["NCCL_ALGO"] = nccl_algo
    facts = {
        "os_distribution": "Ubuntu",
        "os_version": "22.04",
        "os_release": "5.15.0-105-generic",
        "libc": "glibc",
        "libc_version": "2.35",
    }
    facts.update(device_name=SKU, torch_version=TORCH, cuda_driver_version=DRIVER, torch_cuda_build="13.0", python_version="3.12.4")
    facts.update(cpu_isa=["avx", "avx2", "avx512f", "amx_bf16"], cxx_compiler="/usr/bin/g++", torch_cxx11_abi=True)
    return Parts({"versions": versions}, {"variables": variables}, {"facts": facts})


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(node: str, at: datetime, rng: random.Random, slow: float = 1.0, key: str | None = None) -> dict[str, Any]:
    checks: dict[str, dict[str, float]] = {"pass": {}, "fail": {}, "skip": dict.fromkeys(CHECKS[17:], 0.0)}
    for check_id in CHECKS[:17]:
        checks["fail" if rng.random() < 0.02 else "pass"][check_id] = round(rng.uniform(0.5, 400.0), 1)
    noise = 1 + rng.gauss(0, 0.01)
    return {
        "at": iso(at),
        "node": node,
        "backend": "cuda",
        "finished_at": iso(at - timedelta(minutes=5)),
        "sku": SKU,
        "torch": TORCH,
        "driver": DRIVER,
        "python": "3.12.4",
        "status": "fail" if checks["fail"] else "pass",
        "run_url": "https://github.com/octo/fleet/actions/runs/1234567890",
        "checks": checks,
        "figures": {
            "perf.matmul": {
                "bf16": round(780 * noise * slow, 1),
                "fp16": round(780 * noise * slow, 1),
                "tf32": round(390 * noise * slow, 1),
            },
            "perf.bandwidth": {"copy_tbs": round(3.0 * noise, 3)},
        },
        "schema_version": "1.0",
        **({"inventory": key} if key else {}),
    }


def prepare(directory: Path, nodes: int, nights: int, end: datetime, with_inventory: bool = True) -> Path:
    import orjson

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "history.jsonl"
    rng = random.Random(11)
    names = [f"node-{i:04d}" for i in range(nodes)]
    from preflight_action.diff.parts import ref

    parts = inventory()
    refs = parts.refs if with_inventory else {}
    key = ref(refs)
    definitions = {key: refs, **{refs[name]: parts.part(name) for name in refs}}
    with path.open("wb") as out:
        for night in range(nights):
            at = end - timedelta(days=nights - night)
            lines = [record(n, at, rng, key=key if refs else None) for n in names]
            if refs and night % (WINDOW - 1) == 0:  # as history.changes.link does: defined again before it leaves the window
                lines[0]["inventory_parts"] = definitions
            out.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def tonight(nodes: int) -> list[tuple[Any, str]]:
    """Tonight's reports as typed records: every node healthy but node-0017, 30% slower (and NCCL_ALGO set there)."""
    from preflight_action.preflight.report import CheckResult, Fingerprint, Host, Interpreter, Report, RunOptions, Tool, Triage

    rng = random.Random(3)
    now = datetime.now(timezone.utc)
    out = []
    for index in range(nodes):
        rec = record(f"node-{index:04d}", now, rng, slow=0.7 if index == 17 else 1.0)
        checks = [
            CheckResult(c, "skip" if s == "skip" else "pass", d, details={"figures": rec["figures"][c]} if c in rec["figures"] else {})
            for s, group in rec["checks"].items()
            for c, d in group.items()
        ]
        checks = [c for c in checks if c.id != "capabilities.detect"]
        checks.insert(
            2,
            CheckResult(
                "capabilities.detect", "pass", 40.0, details={"device_name": SKU, "torch_version": TORCH, "cuda_driver_version": DRIVER}
            ),
        )
        report = Report(
            tool=Tool("preflight-action", "0.1.0"),
            started_at=iso(now - timedelta(seconds=9)),
            finished_at=iso(now),
            duration_ms=9000.0,
            requested_device="cuda",
            resolved_device="cuda:0",
            backend="cuda",
            options=RunOptions(False, False, False, "high", 120.0, "policy/severity.yaml"),
            interpreter=Interpreter("/usr/bin/python3", "3.12.4", "sys.executable"),
            host=Host(rec["node"], rec["node"], "Linux", "x86_64"),
            ci=None,
            checks=checks,
            env_fingerprint=Fingerprint({}, ""),
            triage=Triage([], {}, None, False, []),
        )
        out.append((report, "cuda"))
    return out


def once(directory: Path, nodes: int, with_inventory: bool = True) -> dict[str, float]:
    """One nightly update of ``directory``/history.jsonl; wall seconds of each part."""
    started = time.perf_counter()
    from preflight_action.history import policy as history_policy
    from preflight_action.history import update

    reports = tonight(nodes)
    fleet, changed = inventory(), inventory(nccl_algo="Ring")
    parts = [changed if index == 17 else fleet for index in range(len(reports))] if with_inventory else None  # node-0017
    built = time.perf_counter()
    gc.disable()  # as summarize runs (its main disables the cyclic GC for thousands of acyclic records)
    now = datetime.now(timezone.utc)
    found = update.update(directory / "history.jsonl", reports, iso(now), now, history_policy.load(), None, [], parts)
    done = time.perf_counter()
    gc.enable()
    slow = [r for r in found.regressions if r.node_id == "node-0017"]
    if not slow or len(found.regressions) > 5:
        raise SystemExit(f"wrong verdict: {len(found.regressions)} regressions, node-0017 flagged: {bool(slow)}")
    said = [c.words for c in found.changes if c.node_id == "node-0017"]
    if with_inventory and said != ["changed since the last good run on this node: NCCL_ALGO set (Ring)"]:
        raise SystemExit(f"wrong changed-since for node-0017: {said}")
    return {"update": done - built, "reports": built - started, "records_read": found.records_read, "regressions": len(found.regressions)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("prepare", "once"), help="prepare a history / time one update of it")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--without-inventory", action="store_true", help="records without inventory references (what the history cost before them)"
    )
    args = parser.parse_args(argv)
    end = datetime.now(timezone.utc) - timedelta(hours=1)
    if args.command == "prepare":
        path = prepare(args.dir, args.nodes, args.nights, end, not args.without_inventory)
        print(f"wrote {args.nodes * args.nights} records ({path.stat().st_size / 1e6:.1f} MB) to {path}")
        return 0
    if args.command == "once":
        figures = once(args.dir, args.nodes, not args.without_inventory)
        print(
            f"update {figures['update']:.3f} s (tonight's reports built in {figures['reports']:.3f} s); {figures['records_read']} recent records read"
        )
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        for nights in sorted({max(1, args.nights // 10), max(1, args.nights // 2), args.nights}):
            folder = Path(tmp) / f"n{nights}"
            path = prepare(folder / "seed", args.nodes, nights, end, not args.without_inventory)
            size = path.stat().st_size
            best = float("inf")
            for _ in range(args.repeat):
                shutil.rmtree(folder / "run", ignore_errors=True)
                (folder / "run").mkdir()
                shutil.copyfile(path, folder / "run" / "history.jsonl")
                best = min(best, once(folder / "run", args.nodes, not args.without_inventory)["update"])
            rows.append((nights * args.nodes, size, best))
            print(f"  {nights * args.nodes} records measured", flush=True)
    print()
    print(
        f"wall seconds of one nightly update (read recent runs, judge {args.nodes} reports, append, prune, write back), best of {args.repeat}"
    )
    print(f"{'records':>8} | {'file MB':>7} | {'update s':>8} | {'us/record':>9}")
    for records, size, best in rows:
        print(f"{records:>8} | {size / 1e6:>7.1f} | {best:>8.3f} | {best / records * 1e6:>9.2f}")
    failures = []
    records, _, best = rows[-1]
    if best > GOAL_S:
        failures.append(f"{records} records took {best:.2f} s (goal < {GOAL_S} s)")
    (small, _, t_small), (big, _, t_big) = rows[0], rows[-1]
    growth = (t_big / big) / (t_small / small)
    print(f"cost per record at {big} vs {small}: {growth:.2f}x (goal <= {LINEAR_GOAL}x: no worse than linear)")
    if growth > LINEAR_GOAL:
        failures.append(f"cost per record grew {growth:.2f}x (goal <= {LINEAR_GOAL}x)")
    return failures_verdict(failures)


if __name__ == "__main__":
    raise SystemExit(main())
