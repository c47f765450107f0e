"""Every console script pyproject declares answers --version with '<command> <version>' and exit 0, starting no worker."""

from __future__ import annotations

import subprocess
import sys

import nox.project
import pytest

import preflight_action
from tests.conftest import ROOT

SCRIPTS = nox.project.load_toml(ROOT / "pyproject.toml")["project"]["scripts"]


@pytest.mark.parametrize(("command", "target"), sorted(SCRIPTS.items()))
def test_version_names_the_command_and_the_package_version(command: str, target: str) -> None:
    module, function = target.split(":")
    # What the installed console script does: argv[0] is the command, main() from the entry point, its return the exit code.
    code = f"import sys; sys.argv = [{command!r}, '--version']; from {module} import {function}; sys.exit({function}())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{command} {preflight_action.__version__}\n", "")


def test_every_console_script_is_checked() -> None:
    assert set(SCRIPTS) == {
        "runtime-preflight",
        "preflight-summarize",
        "preflight-sweep",
        "preflight-smoke",
        "preflight-matrix",
        "preflight-export",
        "preflight-gate",
        "preflight-diff",
        "preflight-gang",
    }
