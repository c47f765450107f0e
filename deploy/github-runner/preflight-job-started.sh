#!/bin/bash
# ACTIONS_RUNNER_HOOK_JOB_STARTED for a self-hosted GPU runner: the quick preflight before every job.
# The runner runs this with `bash -e` before the job's first step; a non-zero exit fails the job before it
# starts, and what this prints is in the job's log ("Set up runner").
# The gate's exit code decides, never its output: 1 (blocking) fails the job; 0 runs it; every other code runs it
# with a ::warning:: saying why the runner was not judged: 2 not judged (a check did not finish), 3 this tool
# is broken (never the runner's fault), 126/127 the gate command cannot be started, 130 interrupted.
# Settings: environment or the runner's .env file.
set -u
read -r -a gate <<< "${PREFLIGHT_GATE:-preflight-gate}"
report_dir="${PREFLIGHT_REPORT_DIR:-${RUNNER_TEMP:-/tmp}/preflight}"
runner="${RUNNER_NAME:-$(hostname -s)}"
args=(--gate github-runner --quiet --output-path "$report_dir/preflight.json")
[ -n "${PREFLIGHT_PYTHON:-}" ] && args+=(--python "$PREFLIGHT_PYTHON")
[ -n "${PREFLIGHT_PROM_DIR:-}" ] && args+=(--output-prom "$PREFLIGHT_PROM_DIR/preflight.prom")
read -r -a extra <<< "${PREFLIGHT_ARGS:-}"
rc=0
"${gate[@]}" "${args[@]}" "${extra[@]}" || rc=$?
case "$rc" in
  0) exit 0 ;;
  1) echo "preflight: a blocking finding on runner $runner: the job will not run (report: $report_dir/preflight.json)"; exit 1 ;;
  2) why="not judged: a check did not finish (see the gate's warning above)" ;;
  3) why="the gate could not run: this tool is broken or misconfigured, not the runner" ;;
  126) why="the gate command ${gate[0]} is not executable" ;;
  127) why="the gate command ${gate[0]} was not found (set PREFLIGHT_GATE to its absolute path)" ;;
  130) why="the gate was interrupted" ;;
  *) why="the gate ended with exit $rc, which is no verdict" ;;
esac
echo "::warning title=preflight gate on $runner::preflight: $why (exit $rc): the job runs unjudged"
echo "preflight: could not run (exit $rc): the job runs unjudged on $runner"
exit 0
