"""``preflight-gate``: the preflight as a Slurm, node-problem-detector or runner-hook gate (see --help).

Exit codes: 0 healthy (warnings included), 1 blocking, 2 not judged, 130 interrupted.
"""

from __future__ import annotations

import sys


def run_gate(argv: list[str], prog: str = "preflight-gate") -> int:
    """The gate on ``argv`` (``runtime_preflight --gate`` comes here too)."""
    from preflight_action.gates.run import gate_main

    return gate_main(argv, prog)


def main(argv: list[str] | None = None) -> int:
    return run_gate(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
