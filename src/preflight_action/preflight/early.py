"""Start the probe worker, and the torch import in it, before the orchestrator imports anything heavy.

torch's import is the run's floor; everything the orchestrator does before the
worker exists adds to it. ``launch`` is called first thing by the entry points
(``scripts/runtime_preflight.py``, the ``runtime-preflight`` console script):
it reads ``--python`` from the raw arguments, starts the worker with only
``os`` and ``sys`` loaded (``spawn.py``), and sends the torch import at once.
Argument parsing, the session's imports and the policies then overlap with it.
``start`` hands that worker to the session when it diagnoses the same
interpreter (and starts one otherwise); one nobody takes is stopped at exit.
A worker that cannot be started is left to the Session, which says why.
"""

from __future__ import annotations

import os
import sys
import time

from preflight_action.probe_cache import ProbeDirectory
from preflight_action.spawn import spawn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this module runs before the worker exists
if TYPE_CHECKING:
    from preflight_action.probe_client import ProbeWorker
    from preflight_action.spawn import ChildProcess

# The first request, as probe_client.ProbeWorker.request writes it (json is not loaded yet here).
TORCH_IMPORT_REQUEST = '{"type": "check", "id": "torch.import", "params": {}}\n'
NO_WORKER_FLAGS = ("-h", "--help", "--version")  # answered by argparse alone


class EarlyWorker:
    """A worker started before the session, its torch import already requested."""

    def __init__(self, python: str, directory: ProbeDirectory, process: ChildProcess, started: float) -> None:
        self.python = python
        self.directory = directory
        self.process = process
        self.started = started  # time.perf_counter() when the run began
        self.torch_import_mark = 0  # the stderr mark of the torch.import request: a fresh worker's first
        self._worker: ProbeWorker | None = None

    @property
    def worker(self) -> ProbeWorker:
        """The process as a ``ProbeWorker`` (its reader threads start on first use)."""
        if self._worker is None:
            from preflight_action.probe_client import ProbeWorker

            self._worker = ProbeWorker(self.python, self.directory, started=self.process)
        return self._worker

    def close(self) -> None:
        """Stop it: no session took it over (it refused the options, or diagnoses another interpreter)."""
        self.worker.close()
        self.directory.cleanup()


_launched: list[EarlyWorker] = []  # the one worker ``launch`` started, until ``start`` or ``discard`` takes it


def _python_flag(argv: list[str]) -> str | None:
    """``--python``'s value as argparse will read it (its unambiguous abbreviations included); None: not given."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        name, equals, value = arg.partition("=")
        if len(name) >= len("--py") and "--python".startswith(name):
            if equals:
                found = value
            elif index + 1 < len(argv):
                found = argv[index + 1]
    return found


def _spawn(python: str | None, started: float) -> EarlyWorker | None:
    if python:
        from preflight_action.probe_client import resolve_python

        try:
            path, _source = resolve_python(python)
        except FileNotFoundError:
            return None
    else:
        path = sys.executable
    try:
        directory = ProbeDirectory()
    except OSError:
        return None
    try:
        process = spawn([path, directory.boot_path])
    except OSError:
        directory.cleanup()
        return None
    assert process.stdin
    try:
        process.stdin.write(TORCH_IMPORT_REQUEST)
        process.stdin.flush()
    except OSError:
        pass  # a child that died at once: the session's first result says why
    return EarlyWorker(path, directory, process, started)


def launch(argv: list[str], unless: tuple[str, ...] = ()) -> None:
    """From an entry point, before anything else: start the worker the coming run will use.

    ``unless``: more flags that mean no preflight will run (the gate's ``--from-report``).
    """
    started = time.perf_counter()
    skip = NO_WORKER_FLAGS + unless
    if _launched or any(arg.partition("=")[0] in skip for arg in argv) or os.environ.get("PREFLIGHT_NO_EARLY_WORKER"):
        return
    worker = _spawn(_python_flag(argv), started)
    if worker is not None:
        import atexit

        _launched.append(worker)
        atexit.register(discard)


def discard() -> None:
    """Stop a launched worker nobody took (a usage error, --help spelt another way, a gate that never ran)."""
    while _launched:
        _launched.pop().close()


def start(python: str | None) -> EarlyWorker | None:
    """The launched worker when it runs ``python`` (None: this interpreter), else a new one; None when none starts."""
    started = time.perf_counter()
    if _launched:
        taken = _launched.pop()
        from preflight_action.probe_client import resolve_python

        try:
            wanted = resolve_python(python)[0]
        except FileNotFoundError:
            wanted = None
        if wanted == taken.python and taken.process.poll() is None:
            return taken
        taken.close()
    return _spawn(python, started)


def main() -> int:
    """The ``runtime-preflight`` entry point: the worker starts first, then the CLI loads and runs.

    Once the run is over (every report written and closed, the worker reaped) the process ends without the
    interpreter's teardown: unloading the orchestrator's modules took about 17 ms after the last line was
    written, for nothing (the floor the quick level is held to skips torch's teardown the same way).
    Exit handlers still run first; an exception or ``SystemExit`` (argparse's --help, a usage error) ends
    the ordinary way.
    """
    launch(sys.argv[1:], unless=("--from-report",))  # `--gate ... --from-report` judges a report: no run
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
