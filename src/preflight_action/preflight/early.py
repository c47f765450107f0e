"""Start the probe worker, and the torch import in it, before the orchestrator imports anything heavy.

torch's import is the run's floor; everything the orchestrator does before the
worker exists adds to it. ``launch`` is called first thing by the entry points
(``preflight_entry``: ``scripts/runtime_preflight.py``, ``runtime-preflight``; and the gate's):
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

from preflight_action.process.probe_cache import ProbeDirectory
from preflight_action.process.spawn import spawn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this module runs before the worker exists
if TYPE_CHECKING:
    from preflight_action.process.probe_client import ProbeWorker
    from preflight_action.process.spawn import ChildProcess

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
            from preflight_action.process.probe_client import ProbeWorker

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
        from preflight_action.process.probe_client import resolve_python

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
        from preflight_action.process.probe_client import resolve_python

        try:
            wanted = resolve_python(python)[0]
        except FileNotFoundError:
            wanted = None
        if wanted == taken.python and taken.process.poll() is None:
            return taken
        taken.close()
    return _spawn(python, started)
