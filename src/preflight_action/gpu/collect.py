"""NVML readings in a subprocess with a timeout: NVML can hang on a broken driver.

``collect_readings`` runs ``python -m preflight_action.gpu.nvml`` under this
interpreter and returns the schema-valid readings or why there are none; the
preflight's host checks (``preflight.host_checks``) judge them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action.errors import PreflightError
from preflight_action.gpu import policy as gpu_policy

NVML_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Collected:
    """What the NVML subprocess produced: the readings, or why there are none."""

    readings: dict[str, Any] | None
    error: str | None
    elapsed_ms: float


def readings_command() -> list[str]:
    return [sys.executable, "-m", "preflight_action.gpu.nvml"]


def _env() -> dict[str, str]:
    """This environment, with our package importable by the subprocess even from a checkout."""
    env = dict(os.environ)
    root = str(Path(gpu_policy.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def collect_readings(timeout: float, command: list[str] | None = None) -> Collected:
    """Run the NVML reader in a subprocess; a hang, crash or bad document becomes ``error``."""
    from preflight_action import schemas

    argv = command or readings_command()
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env(), check=False)
    except subprocess.TimeoutExpired:
        elapsed = (time.perf_counter() - started) * 1000.0
        return Collected(
            None, f"NVML did not answer within {timeout:g} s (the driver may be hung; nvidia-smi would likely hang too)", elapsed
        )
    except OSError as exc:
        return Collected(None, f"cannot start the NVML reader {argv[0]}: {exc}", (time.perf_counter() - started) * 1000.0)
    elapsed = (time.perf_counter() - started) * 1000.0
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no stderr output"]
        return Collected(None, f"the NVML reader exited with code {done.returncode}: {tail[0][:300]}", elapsed)
    try:
        document = json.loads(done.stdout)
        schemas.validate(document, "nvml_readings", "NVML reader output")
    except (json.JSONDecodeError, PreflightError) as exc:
        return Collected(None, f"the NVML reader printed an invalid document: {str(exc)[:300]}", elapsed)
    return Collected(document, None, elapsed)
