# Sourced by preflight-healthcheck.sh and preflight-prolog.sh: runs the slurm gate in slurmd's environment and
# logs what it found and did where an admin looks: syslog (logger, facility daemon, tag preflight-gate) and
# $PREFLIGHT_LOG. slurmd discards a prolog's and a health check's stdout and stderr, so nothing is said only there.
# Sets PREFLIGHT_RC, the gate's exit code: 0 healthy, 1 blocking (drained), 2 not judged, 3 this tool is broken,
# 4 blocking but the drain circuit breaker is open (not drained), 130 interrupted, 126/127 the gate cannot be started.

# slurmd runs prologs and health checks with no PATH: settings come from the config file, commands from absolute
# paths or this PATH (the config's PREFLIGHT_PATH replaces it). Every setting in the config file is exported.
CONFIG="${PREFLIGHT_GATE_CONFIG:-/etc/default/preflight-gate}"
if [ -r "$CONFIG" ]; then
  set -a
  # shellcheck source=/dev/null
  . "$CONFIG"
  set +a
fi
export PATH="${PREFLIGHT_PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
preflight_node="${SLURMD_NODENAME:-$(hostname -s)}"
preflight_log_file="${PREFLIGHT_LOG:-/var/log/preflight-gate.log}"

# preflight_log PRIORITY LINE: one line to syslog, the log file and stderr (for a person running the script by hand).
preflight_log() {
  local priority="$1" line="$2"
  local socket=()
  [ -n "${PREFLIGHT_SYSLOG_SOCKET:-}" ] && socket=(--socket "$PREFLIGHT_SYSLOG_SOCKET")
  logger "${socket[@]}" --id=$$ -t preflight-gate -p "daemon.$priority" -- "$line" 2>/dev/null ||
    printf 'preflight-gate: logger could not reach syslog; the line is in %s\n' "$preflight_log_file" >&2
  printf '%s %s preflight-gate[%s] %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$preflight_node" "$$" "$priority" "$line" \
    >>"$preflight_log_file" 2>/dev/null
  printf '%s\n' "$line" >&2
}

# The exit code in words (what happened to the node), and the syslog priority to say it with.
preflight_words() {
  case "$1" in
    0) echo "healthy" ;;
    1) echo "blocking finding: the gate drained the node (or it already was)" ;;
    2) echo "not judged (a check did not finish, or a refused report): the node was left as it is" ;;
    3) echo "the gate could not run (exit 3: this tool is broken or misconfigured, not the node): the node was left as it is" ;;
    4) echo "blocking finding, but the drain circuit breaker is open: the node was NOT drained" ;;
    126) echo "the gate command ${preflight_gate[0]:-?} is not executable (exit 126): the node was NOT checked" ;;
    127) echo "the gate command ${preflight_gate[0]:-?} was not found (exit 127): the node was NOT checked; slurmd gives no PATH, so set PREFLIGHT_GATE in $CONFIG to an absolute path" ;;
    130) echo "the gate was interrupted (exit 130): the node was left as it is" ;;
    *) echo "the gate ended with exit $1, which is no verdict: the node was left as it is" ;;
  esac
}
preflight_priority() {
  case "$1" in
    0) echo info ;;
    1 | 4) echo crit ;;
    2 | 130) echo warning ;;
    *) echo err ;;
  esac
}

read -r -a preflight_gate <<<"${PREFLIGHT_GATE:-/opt/preflight-action/bin/preflight-gate}"
report_dir="${PREFLIGHT_REPORT_DIR:-/var/lib/preflight}"
if [ -n "${PREFLIGHT_FROM_REPORT:-}" ]; then
  # Judge an existing report (e.g. the nightly preflight-fleet.sbatch's); %N is this node's name. The gate refuses
  # (not judged) a report from another node, an old one, an incomplete one or one that fails its schema.
  args=(--gate slurm --node "$preflight_node" --from-report "${PREFLIGHT_FROM_REPORT//%N/$preflight_node}")
else
  mkdir -p "$report_dir" 2>/dev/null
  args=(--gate slurm --node "$preflight_node" --quiet --output-path "$report_dir/preflight.json")
  [ -n "${PREFLIGHT_PYTHON:-}" ] && args+=(--python "$PREFLIGHT_PYTHON")
  [ -n "${PREFLIGHT_PROM_DIR:-}" ] && args+=(--output-prom "$PREFLIGHT_PROM_DIR/preflight.prom")
  read -r -a extra <<<"${PREFLIGHT_ARGS:-}"
  args+=("${extra[@]}")
fi
read -r -a gate_extra <<<"${PREFLIGHT_GATE_ARGS:-}"
args+=("${gate_extra[@]}")

PREFLIGHT_RC=0
preflight_command="${preflight_gate[0]:-}"
if [ -n "$preflight_command" ] && [ "${preflight_command#*/}" != "$preflight_command" ] && [ -e "$preflight_command" ] &&
  { [ -d "$preflight_command" ] || [ ! -x "$preflight_command" ]; }; then
  PREFLIGHT_RC=126 # a path that is there but cannot be run
elif [ -z "$preflight_command" ] || ! command -v -- "$preflight_command" >/dev/null 2>&1; then
  PREFLIGHT_RC=127
else
  preflight_stderr="$(mktemp "${TMPDIR:-/tmp}/preflight-gate.XXXXXX")"
  "${preflight_gate[@]}" "${args[@]}" 2>"$preflight_stderr" || PREFLIGHT_RC=$?
  preflight_priority_now="$(preflight_priority "$PREFLIGHT_RC")"
  while IFS= read -r preflight_line; do
    [ -n "$preflight_line" ] && preflight_log "$preflight_priority_now" "$preflight_line"
  done <"$preflight_stderr"
  rm -f "$preflight_stderr"
fi
