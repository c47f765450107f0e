#!/bin/bash
# Slurm HealthCheckProgram: drain this node on a blocking preflight finding, resume it when preflight drained it.
# slurmd ignores this program's exit status; the gate itself changes the node's state.
set -u
here="$(dirname "$(readlink -f "$0")")"
# shellcheck source=preflight-gate-common.sh
. "$here/preflight-gate-common.sh"
case "$PREFLIGHT_RC" in
  0) ;;
  1) echo "preflight healthcheck: blocking finding on ${SLURMD_NODENAME:-$(hostname -s)}: node drained" >&2 ;;
  *) echo "preflight healthcheck: could not run (exit $PREFLIGHT_RC): node left as it is" >&2 ;;
esac
exit 0
