#!/bin/bash
# Slurm Prolog: exit 1 on a blocking finding (the gate drained the node; Slurm requeues the job),
# exit 0 when healthy or when the preflight could not run (never hold a node because our tool broke).
set -u
here="$(dirname "$(readlink -f "$0")")"
# shellcheck source=preflight-gate-common.sh
. "$here/preflight-gate-common.sh"
case "$PREFLIGHT_RC" in
  0) exit 0 ;;
  1) echo "preflight prolog: blocking finding on ${SLURMD_NODENAME:-$(hostname -s)} for job ${SLURM_JOB_ID:-?}" >&2; exit 1 ;;
  *) echo "preflight prolog: could not run (exit $PREFLIGHT_RC): job allowed, node left as it is" >&2; exit 0 ;;
esac
