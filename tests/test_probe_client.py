"""Worker exit descriptions and interpreter resolution."""

from __future__ import annotations

import os
import sys

import pytest

from preflight_action import probe_client


@pytest.mark.skipif(os.name == "nt", reason="POSIX signal numbers")
def test_describe_exit_names_signals():
    assert probe_client.describe_exit(-11) == "killed by SIGSEGV (exit -11)"
    assert probe_client.describe_exit(-9) == "killed by SIGKILL (exit -9)"
    assert probe_client.describe_exit(3) == "exit code 3"


def test_resolve_python_defaults_to_this_interpreter():
    assert probe_client.resolve_python(None) == (sys.executable, "sys.executable")
    with pytest.raises(FileNotFoundError):
        probe_client.resolve_python("/no/such/python")


def test_probe_directory_holds_only_the_probe(tmp_path):
    probe = probe_client.ProbeDirectory()
    try:
        assert sorted(p.name for p in probe.root.iterdir()) == ["preflight_probe", "preflight_probe_boot.py"]
        assert not (probe.root / "preflight_probe" / "__pycache__").exists()
    finally:
        probe.cleanup()
    assert not probe.root.exists()
