"""``preflight-gate``: the preflight as a Slurm, node-problem-detector or runner-hook gate (see --help).

Exit codes: 0 pass (warnings included), 1 a blocking finding, 2 could not run.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """From the entry points (``argv`` None) the preflight's worker starts first and the process skips teardown, as
    ``runtime-preflight`` does (``preflight.early``): the gate runs in a prolog, before every job."""
    entry = argv is None
    args = list(sys.argv[1:] if argv is None else argv)
    if entry:
        from preflight_action.preflight import early

        early.launch(args, unless=("--from-report",))
    from preflight_action.gates.run import gate_main
    from preflight_action.preflight import cli

    code = gate_main(args, cli.main, cli.parse_args)
    if not entry:
        return code
    from preflight_action.preflight.entry import exit_now

    return exit_now(code)


if __name__ == "__main__":
    raise SystemExit(main())
