#!/bin/bash
# Slurm Prolog: the quick preflight gate before each job (settings: /etc/default/preflight-gate).
# exit 1 only on a blocking finding: the gate drained the node with a "preflight:" reason and Slurm requeues the
# job (held) instead of running it on a bad node. Every other outcome lets the job run and is logged (syslog and
# $PREFLIGHT_LOG), because a prolog's non-zero exit makes Slurm drain the node itself with "Prolog error", a
# reason no health check resumes:
#   2 not judged (a check cut by the budget, an interrupted run, a refused report): nothing is known against the
#     node; the health check judges it again within HealthCheckInterval. Holding every job on it would turn a
#     too-small budget into a drained fleet.
#   3, 126, 127 the tool itself is broken or not installed: never a finding against the node.
#   4 the drain circuit breaker is open: too many nodes failed at once, the likelier cause is fleet-wide.
set -u
here="$(dirname "$(readlink -f "$0")")"
# shellcheck source=preflight-gate-common.sh
. "$here/preflight-gate-common.sh"
job="job ${SLURM_JOB_ID:-?}"
if [ "$PREFLIGHT_RC" -eq 1 ]; then
  preflight_log crit "preflight prolog on $preflight_node: $(preflight_words 1); $job requeued and held"
  exit 1
fi
preflight_log "$(preflight_priority "$PREFLIGHT_RC")" "preflight prolog on $preflight_node: $(preflight_words "$PREFLIGHT_RC"); $job allowed"
exit 0
