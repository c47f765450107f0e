# Sourced by preflight-healthcheck.sh and preflight-prolog.sh: runs the slurm gate, sets PREFLIGHT_RC.
CONFIG="${PREFLIGHT_GATE_CONFIG:-/etc/default/preflight-gate}"
# shellcheck source=/dev/null
[ -r "$CONFIG" ] && . "$CONFIG"
read -r -a gate <<< "${PREFLIGHT_GATE:-preflight-gate}"
report_dir="${PREFLIGHT_REPORT_DIR:-/var/lib/preflight}"
mkdir -p "$report_dir"
args=(--gate slurm --quiet --output-path "$report_dir/preflight.json")
[ -n "${PREFLIGHT_PYTHON:-}" ] && args+=(--python "$PREFLIGHT_PYTHON")
[ -n "${PREFLIGHT_PROM_DIR:-}" ] && args+=(--output-prom "$PREFLIGHT_PROM_DIR/preflight.prom")
read -r -a extra <<< "${PREFLIGHT_ARGS:-}"
PREFLIGHT_RC=0
"${gate[@]}" "${args[@]}" "${extra[@]}" || PREFLIGHT_RC=$?
