"""Start the probe worker, and the torch import in it, before the orchestrator imports anything heavy.

torch's import is the run's floor; the Session's own imports (checks, policies,
schemas) then happen while it runs instead of before it starts. Only the
standard library and the small probe client load here. A worker that cannot be
started is left to the Session, which says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from preflight_action.probe_client import ProbeDirectory, ProbeWorker, resolve_python


@dataclass
class EarlyWorker:
    python: str
    directory: ProbeDirectory
    worker: ProbeWorker
    torch_import_mark: int  # the stderr mark of the torch.import request already sent
    started: float  # time.perf_counter() when the run began

    def close(self) -> None:
        """Stop it: the Session never adopted it (it refused the options)."""
        self.worker.close()
        self.directory.cleanup()


def start(python: str | None) -> EarlyWorker | None:
    """A worker importing torch under ``python`` (None: this interpreter); None when it cannot start here."""
    started = time.perf_counter()
    try:
        path, _source = resolve_python(python)
    except FileNotFoundError:
        return None
    directory = ProbeDirectory()
    try:
        worker = ProbeWorker(path, directory)
        mark = worker.request("torch.import", {})
    except OSError:
        directory.cleanup()
        return None
    return EarlyWorker(path, directory, worker, mark, started)
