"""``preflight-gate``: the preflight as a Slurm, node-problem-detector or runner-hook gate (see --help).

Exit codes: 0 pass (warnings included), 1 a blocking finding, 2 could not run.
"""

from __future__ import annotations

import sys

from preflight_action.gates.run import gate_main


def main(argv: list[str] | None = None) -> int:
    from preflight_action.preflight import cli

    return gate_main(list(sys.argv[1:] if argv is None else argv), cli.main, cli.parse_args)


if __name__ == "__main__":
    raise SystemExit(main())
