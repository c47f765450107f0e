"""The ``runtime-preflight`` entry point: the worker starts first (``early.launch``), then the CLI loads and runs.

Once the run is over (every report written and closed, the worker reaped) the process ends without the
interpreter's teardown (``exit_now``): unloading the orchestrator's modules took about 17 ms after the
last line was written, for nothing (the floor the quick level is held to skips torch's teardown the same
way). ``preflight-gate`` ends the same way. Kept apart from ``early`` so the CLI, which takes the launched
worker from ``early``, is imported by this module only.
"""

from __future__ import annotations

import os
import sys

from preflight_action.preflight import early


def main() -> int:
    """Exit handlers still run first; an exception or ``SystemExit`` (argparse's --help, a usage error) ends the ordinary way."""
    early.launch(sys.argv[1:], unless=("--from-report",))  # `--gate ... --from-report` judges a report: no run
    try:
        from preflight_action.preflight.cli import main as cli_main

        code = cli_main()
    except KeyboardInterrupt:  # Ctrl-C before the CLI's own handler was in place (or after it was gone)
        print("runtime_preflight: interrupted by SIGINT", file=sys.stderr)
        return 130  # the exit code a SIGINT'd run always has (interrupts.exit_code); the worker is stopped at exit
    return exit_now(code)


def exit_now(code: int) -> int:
    """End the process with ``code`` after exit handlers and a flush of stdout and stderr; return ``code`` when they fail."""
    import atexit

    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or broken stream: leave the exit to the interpreter, which reports it
        return code
    os._exit(code)
