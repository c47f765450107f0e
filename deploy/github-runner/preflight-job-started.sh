#!/bin/bash
# ACTIONS_RUNNER_HOOK_JOB_STARTED for a self-hosted GPU runner: the quick preflight before every job.
# The runner runs this with `bash -e` before the job's first step; a non-zero exit fails the job
# before it starts, and what this prints is in the job's log ("Set up runner").
# Exit 1: a blocking finding (the job does not run). "Could not run" (2) becomes a warning and
# exit 0: our own breakage never fails a job. Settings: environment or the runner's .env file.
set -u
read -r -a gate <<< "${PREFLIGHT_GATE:-preflight-gate}"
report_dir="${PREFLIGHT_REPORT_DIR:-${RUNNER_TEMP:-/tmp}/preflight}"
args=(--gate github-runner --quiet --output-path "$report_dir/preflight.json")
[ -n "${PREFLIGHT_PYTHON:-}" ] && args+=(--python "$PREFLIGHT_PYTHON")
[ -n "${PREFLIGHT_PROM_DIR:-}" ] && args+=(--output-prom "$PREFLIGHT_PROM_DIR/preflight.prom")
read -r -a extra <<< "${PREFLIGHT_ARGS:-}"
rc=0
"${gate[@]}" "${args[@]}" "${extra[@]}" || rc=$?
case "$rc" in
  0) exit 0 ;;
  1) echo "preflight: a blocking finding on runner ${RUNNER_NAME:-$(hostname -s)}: the job will not run (report: $report_dir/preflight.json)"; exit 1 ;;
  *) echo "preflight: could not run (exit $rc): the job runs unjudged on ${RUNNER_NAME:-$(hostname -s)}"; exit 0 ;;
esac
