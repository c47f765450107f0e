#!/bin/bash
# Slurm HealthCheckProgram: drain this node on a blocking preflight finding, resume it when preflight drained it
# (settings: /etc/default/preflight-gate). slurmd ignores this program's exit status and discards its output:
# the gate changes the node's state itself, and every outcome is logged (syslog and $PREFLIGHT_LOG).
set -u
here="$(dirname "$(readlink -f "$0")")"
# shellcheck source=preflight-gate-common.sh
. "$here/preflight-gate-common.sh"
preflight_log "$(preflight_priority "$PREFLIGHT_RC")" "preflight healthcheck on $preflight_node: $(preflight_words "$PREFLIGHT_RC")"
exit 0
