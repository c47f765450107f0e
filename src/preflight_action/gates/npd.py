"""``--gate npd``: node-problem-detector's custom plugin contract.

Exit 0 OK, 1 NonOK (a problem: the condition turns True), anything else
Unknown; stdout is the condition message (NPD keeps the first
``max_output_length`` characters), so it is one line, worst finding first.
"""

from __future__ import annotations

from preflight_action.gates.verdict import GateVerdict

OK, NON_OK, UNKNOWN = 0, 1, 2


def apply(verdict: GateVerdict) -> int:
    print(verdict.line, flush=True)
    return {0: OK, 1: NON_OK}.get(verdict.code, UNKNOWN)
