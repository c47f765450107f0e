"""The action's level and budget inputs reach the preflight command line, and bad values name the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.github import action_helper
from preflight_action.github.action_inputs import ActionInputError, RunInputs

BASE = {"PREFLIGHT_DEVICE": "cpu", "PREFLIGHT_PYTHON": "python3", "PREFLIGHT_OUTPUT_PATH": "out/report.json"}


def test_level_and_budget_inputs_become_flags() -> None:
    inputs = RunInputs.from_env({**BASE, "PREFLIGHT_LEVEL": "deep", "PREFLIGHT_BUDGET": "90"})
    command = action_helper.preflight_command("orch", Path("/action"), inputs)
    assert command[command.index("--level") + 1] == "deep"
    assert command[command.index("--budget") + 1] == "90"


def test_empty_inputs_keep_the_standard_level_and_its_default_budget() -> None:
    inputs = RunInputs.from_env(BASE)
    assert inputs.level == "standard"
    command = action_helper.preflight_command("orch", Path("/action"), inputs)
    assert "--level" not in command  # standard is the preflight's own default: the command line stays as it was
    assert "--budget" not in command


@pytest.mark.parametrize(("name", "value"), [("PREFLIGHT_LEVEL", "thorough"), ("PREFLIGHT_BUDGET", "nan"), ("PREFLIGHT_BUDGET", "-1")])
def test_a_bad_level_or_budget_names_the_input(name: str, value: str) -> None:
    with pytest.raises(ActionInputError, match=r"input (level|budget): expected"):
        RunInputs.from_env({**BASE, name: value})


def test_action_yml_passes_level_and_budget_through_env_not_run() -> None:
    text = (Path(__file__).resolve().parents[2] / "action.yml").read_text(encoding="utf-8")
    assert "PREFLIGHT_LEVEL: ${{ inputs.level }}" in text
    assert "PREFLIGHT_BUDGET: ${{ inputs.budget }}" in text
