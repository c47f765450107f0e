"""Worker exit descriptions and interpreter resolution."""

from __future__ import annotations

import os
import sys

import pytest

from preflight_action.process import probe_client


@pytest.mark.skipif(os.name == "nt", reason="POSIX signal numbers")
def test_describe_exit_names_signals():
    assert probe_client.describe_exit(-11) == "killed by SIGSEGV (exit -11)"
    assert probe_client.describe_exit(-9) == "killed by SIGKILL (exit -9)"
    assert probe_client.describe_exit(3) == "exit code 3"


def test_resolve_python_defaults_to_this_interpreter():
    assert probe_client.resolve_python(None) == (sys.executable, "sys.executable")
    with pytest.raises(FileNotFoundError):
        probe_client.resolve_python("/no/such/python")
