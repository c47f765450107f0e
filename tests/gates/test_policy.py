"""policy/gates.yaml: the drain limit as a count or a share of the partition, --max-drained's parsing, --help's numbers."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from preflight_action.errors import InputError
from preflight_action.gates import policy
from tests.support.gate_reports import GATE


@pytest.mark.parametrize(
    ("text", "nodes", "limit"),
    [("0", 100, 0), ("3", 100, 3), ("10%", 16, 2), ("10%", 1, 1), ("10%", 10, 1), ("25%", 8, 2), ("0%", 50, 0), ("100%", 7, 7)],
)
def test_a_limit_is_a_count_or_a_share_rounded_up(text: str, nodes: int, limit: int) -> None:
    assert policy.drain_limit(text).nodes(nodes) == limit


@pytest.mark.parametrize("text", ["-1", "ten", "10 %", "101%", "1.5", ""])
def test_a_bad_limit_says_what_a_limit_is(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"neither a whole number of nodes nor a percentage|at least 0"):
        policy.drain_limit_type(text)


def test_the_shipped_policy_and_a_replacement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = policy.load()
    assert (shipped.max_report_age_s, str(shipped.max_drained)) == (21600.0, "10%")
    document = yaml.safe_load(Path(shipped.source).read_text())
    document["slurm"]["max_drained"] = 4
    replacement = tmp_path / "gates.yaml"
    replacement.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("PREFLIGHT_GATES_POLICY", str(replacement))
    assert policy.load().max_drained.nodes(1000) == 4
    document["slurm"]["max_drained"] = "half"
    replacement.write_text(yaml.safe_dump(document))
    with pytest.raises(InputError, match=r"^\$PREFLIGHT_GATES_POLICY: .*/slurm/max_drained"):
        policy.load()


def test_gate_help_states_the_policy_numbers() -> None:
    done = subprocess.run([sys.executable, str(GATE), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "--from-report refuses a report older than 6 h (from_report.max_age_s 21600)" in done.stdout
    assert "--gate slurm drains no more with 10% already drained (slurm.max_drained)" in done.stdout
    for word in ("healthy", "blocking", "not judged", "tool broken", "breaker"):
        assert f"\n  {word} " in done.stdout
    assert "exit 4" in done.stdout
