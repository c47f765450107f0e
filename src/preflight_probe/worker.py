"""Worker loop: read one JSON request per line on stdin, answer one JSON line per check.

Results go to a private duplicate of the original stdout; fd 1 is pointed at
stderr so anything torch or a library prints cannot corrupt the stream.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import time
import traceback
from typing import Any

from preflight_probe import PROTOCOL_VERSION, faults, secret_names, surroundings
from preflight_probe.channel import private_stdout
from preflight_probe.outcome import Outcome
from preflight_probe.registry import CHECKS


def evidence_line() -> None:
    """What the orchestrator needs to judge a crash it cannot ask us about: our limits and where our packages are."""
    facts = {"rlimits": surroundings.rlimits(), "sys_path": sys.path}
    print(f"preflight_probe: evidence {json.dumps(facts)}", file=sys.stderr, flush=True)


def run_one(check_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run a check by id and return its result record (never raises)."""
    start = time.perf_counter()
    evidence_line()
    func = CHECKS.get(check_id)
    faults.maybe_inject(check_id)
    if func is None:
        outcome = Outcome.fail(f"the probe has no check named {check_id!r}")
    else:
        try:
            outcome = func(params)
        except BaseException as exc:  # a check must never take the worker down
            if isinstance(exc, KeyboardInterrupt):
                raise
            tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
            outcome = Outcome.fail(f"{type(exc).__name__}: {exc}", traceback_tail=tail.strip())
    record = outcome.to_record(check_id)
    record["duration_ms"] = round((time.perf_counter() - start) * 1000.0, 3)
    return record


def main() -> int:
    out = private_stdout()
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is not None and sys.platform != "win32":  # the client asks for every thread's stack before it kills a hung check
        faulthandler.register(usr1, all_threads=True)
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "executable": sys.executable,
        "python": sys.version.split()[0],
        "secrets": secret_names.secret_values(os.environ),  # to scrub, never to show: the client takes them out
    }
    out.write(json.dumps(hello) + "\n")
    out.flush()
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        request = json.loads(line)
        if request.get("type") == "exit":
            break
        record = run_one(str(request["id"]), dict(request.get("params") or {}))
        record["type"] = "result"
        out.write(json.dumps(record, default=str) + "\n")
        out.flush()
    return 0
