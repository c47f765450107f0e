#!/usr/bin/env bash
# Issues 18 and 29 in one go on a GPU machine: every CUDA and NVML path run for real, its readings and figures kept.
#
#   bash scripts/gpu_truth.sh                 # run everything (at most 8 minutes: GPU_TRUTH_BUDGET_S=480); outputs in $OUT
#   bash scripts/gpu_truth.sh --fetch-wheels  # here, with PyPI: the packages the GPU image lacks, into .whl/
#
# The GPU image has torch, NVML and most of our dependencies but no network; the rest travel as wheels in
# .whl/ (ignored by git; pass it in the device tool's carry). Everything is written under $WORK and packed into
# $OUT/gpu_truth.tgz at the end, also when a step fails or the run is cut short (the tool returns 8 files at most).
# Each step has its own timeout and its line in steps.txt: name, exit code, seconds. Nothing here fails the run:
# a failed step is a finding to read, not a reason to stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
BUDGET_S=${GPU_TRUTH_BUDGET_S:-480}  # the whole run: steps that would start past it are skipped, saying so
case $BUDGET_S in
  '' | *[!0-9]*) echo "gpu_truth: GPU_TRUTH_BUDGET_S must be a whole number of seconds, got '$BUDGET_S'" >&2; exit 2 ;;
esac
WHEELS="jsonschema-rs==0.61.2 orjson==3.13.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
  rpds-py==2026.9.1 rfc3339-validator==0.1.4 junitparser==5.0.3 time-machine==3.6.0 packaging==25.0"

if [ "${1:-}" = "--fetch-wheels" ]; then
  mkdir -p .whl
  for spec in $WHEELS; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform any -d .whl "$spec" || echo "could not fetch $spec"
  done
  du -sh .whl
  exit 0
fi

OUT=${OUT:-outputs/gpu_truth}
WORK=${WORK:-/tmp/gpu_truth}
rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
pack() { tar czf "$OUT/gpu_truth.tgz" -C "$WORK" . 2>/dev/null; cp "$WORK/steps.txt" "$OUT/steps.txt" 2>/dev/null; }
trap pack EXIT

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >"$WORK/wheels.log" 2>&1 || echo "wheel install failed: see wheels.log"
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PREFLIGHT_CACHE_DIR="$WORK/cache"

DEADLINE=$((SECONDS + BUDGET_S))
step() {  # step NAME TIMEOUT_S COMMAND...: stdout+stderr to NAME.log, one line in steps.txt
  local name=$1 limit=$2 start end rc left=$((DEADLINE - SECONDS))
  shift 2
  if [ "$left" -lt 10 ]; then
    printf '%-28s skipped: the %d s budget of this script ran out\n' "$name" "$BUDGET_S" | tee -a "$WORK/steps.txt"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  start=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  end=$(date +%s%N)
  printf '%-28s rc=%-4s %6d ms\n' "$name" "$rc" "$(((end - start) / 1000000))" | tee -a "$WORK/steps.txt"
}

{
  date -u +%FT%TZ; uname -a; "$PY" --version
  "$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'vision', torchvision.__version__)"
  "$PY" -c "import torch; print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))"
  "$PY" -c "import importlib; [print(m, 'missing') for m in ('jsonschema_rs', 'orjson', 'jsonschema', 'junitparser', 'yaml', 'jinja2', 'rich', 'psutil', 'pynvml', 'cpuinfo') if importlib.util.find_spec(m) is None]"
} >"$WORK/environment.txt" 2>&1
step nvidia-smi 30 nvidia-smi -q
step nvml-idle 60 "$PY" -m preflight_action.gpu.nvml
record() {  # record KIND: the reader's document as a test fixture, marked recorded (tests/data/nvml_*.json's format)
  [ -s "$WORK/nvml-$1.log" ] || return 0
  "$PY" - "$WORK/nvml-$1.log" "$WORK/nvml_recorded_$1.json" "$1" <<'EOF'
import datetime, json, sys
source, target, kind = sys.argv[1:]
doc = json.load(open(source))
names = sorted({gpu.get("name") or "?" for gpu in doc.get("gpus") or []}) or ["no GPU"]
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
load = "idle" if kind == "idle" else "under an 8192^3 bf16 matmul loop"
head = {"schema_version": doc.get("schema_version"), "provenance": f"recorded {when} on {', '.join(names)} (scripts/gpu_truth.sh)"}
head["description"] = f"{', '.join(names)} {load}"
json.dump({**head, **{k: v for k, v in doc.items() if k not in head}}, open(target, "w"), indent=2)
EOF
}
record idle

# Raw NVML readings under load: a bf16 matmul loop for 20 s, read after 12 s (clocks, power, throttle reasons busy).
"$PY" -c "
import time, torch
a = torch.randn(8192, 8192, device='cuda', dtype=torch.bfloat16); end = time.time() + 20
while time.time() < end:
    for _ in range(20): a @ a
    torch.cuda.synchronize()
" >"$WORK/load.log" 2>&1 &
LOAD=$!
sleep 12
step nvml-busy 60 "$PY" -m preflight_action.gpu.nvml
record busy
wait $LOAD

# The files that hold device tests (pytest imports every file it is given, and the image lacks some test-only packages).
DEVICE_TESTS=$(grep -rl --include="test_*.py" "mark.device" tests | tr '\n' ' ')
# shellcheck disable=SC2086  # one word per file
step device-tests 240 "$PY" -m pytest -q -p no:cacheprovider -m device --continue-on-collection-errors \
  --junitxml="$WORK/device-tests.xml" $DEVICE_TESTS
for level in quick standard; do
  step "preflight-$level" 240 "$PY" scripts/runtime_preflight.py --device auto --level "$level" --check-torchvision --check-compile --check-distributed \
    --output-path "$WORK/preflight-$level.json" --output-md "$WORK/preflight-$level.md"
done
step preflight-deep 150 "$PY" scripts/runtime_preflight.py --device auto --level deep --budget 120 --check-torchvision \
  --output-path "$WORK/preflight-deep.json" --output-md "$WORK/preflight-deep.md"
step bench-gpu-probe 120 "$PY" benchmarks/bench_gpu_probe.py
step bench-gpu-preflight 120 "$PY" benchmarks/bench_gpu_preflight.py --pairs 3
step smoke-real 180 "$PY" scripts/smoke.py --device cuda --require-real --dtypes float32,float16,bfloat16 --output-root "$WORK/smoke"
step sweep-dtype-batch 180 "$PY" scripts/sweep.py --output-root "$WORK/sweeps" run --flow dtype_batch_matmul --device cuda --yes --plain
step runtime-safety-demo 60 "$PY" examples/runtime_safety_demo.py
# What a user on a broken GPU host meets: the device hidden from CUDA.
step hidden-cuda 120 env CUDA_VISIBLE_DEVICES= "$PY" scripts/runtime_preflight.py --device cuda --level quick --strict \
  --output-path "$WORK/hidden-cuda.json"
step hidden-auto 120 env CUDA_VISIBLE_DEVICES= "$PY" scripts/runtime_preflight.py --device auto --level quick \
  --output-path "$WORK/hidden-auto.json"
# The checks added since issue 18 that read the GPU host (issue 29): the NPD DaemonSet's read-only level (NVML, no CUDA
# context), the kernel log's Xid/SXid/AER lines and the IB ports (kernel.log runs at every level; this host's real
# /dev/kmsg), the nvidia-* wheels against pip's RECORD and the libraries the loader took (install.record,
# loader.libraries), the inventory of the CUDA runtime wheels (preflight-diff between two levels' reports), and the
# NCCL path of the gang all-reduce with one member (one GPU here: NCCL takes one GPU per rank).
step preflight-watch 120 "$PY" scripts/runtime_preflight.py --device auto --level watch --output-path "$WORK/preflight-watch.json"
step gang-nccl-1 180 "$PY" scripts/gang.py --device cuda --rdzv-endpoint 127.0.0.1:29511 --nnodes 1 --node-rank 0 \
  --rdzv-conf join_timeout=60 --collective-timeout 60 --output-path "$WORK/gang-nccl-1.json"
step diff-quick-standard 60 "$PY" scripts/diff.py "$WORK/preflight-quick.json" "$WORK/preflight-standard.json" \
  --output-md "$WORK/diff-quick-standard.md" --output-json "$WORK/diff-quick-standard.json"

# One line per check of each preflight: status, duration, the figures that matter.
"$PY" - "$WORK" >"$WORK/figures.txt" 2>&1 <<'EOF'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
for path in sorted(work.glob("preflight-*.json")) + sorted(work.glob("hidden-*.json")) + sorted(work.glob("gang-*.json")):
    doc = json.loads(path.read_text())
    print(f"== {path.name}: {doc['resolved_device']} in {doc['duration_ms'] / 1000:.1f} s, blocking: {doc['triage']['blocking']}")
    for check in doc["checks"]:
        figures = {k: v for k, v in (check.get("details") or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        words = check.get("error") or check.get("skip_reason") or ""
        print(f"  {check['status']:<4} {check['id']:<22} {check['duration_ms']:9.1f} ms  {words[:120]}  {json.dumps(figures)[:300]}")
EOF
