"""A remedy's commands found in its sentence and laid out whole: lines that paste as one working command."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from preflight_action.preflight import remedy_text
from preflight_probe import remedies

PYTHON = "/home/user/projects/training/.venv/bin/python"


def _pasted(lines: list[str]) -> list[str]:
    """What bash makes of ``lines`` pasted after ``printf '%s\\n'``: the arguments, one each."""
    script = "printf '%s\\n' " + "\n".join(line.strip() if i == 0 else line for i, line in enumerate(lines))
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


def test_a_sentence_with_two_commands_is_prose_and_commands_in_order():
    first = remedies.pip_install("torchvision==0.28.*", "cpu", python=PYTHON)
    second = remedies.pip_install("numpy<2", python=PYTHON)
    parts = remedy_text.parts(f"install the pair: {first}; then {second}")
    assert [(p.text, p.command) for p in parts] == [("install the pair:", False), (first, True), ("; then", False), (second, True)]
    assert remedy_text.commands("run python -m torch.utils.collect_env under the same interpreter") == ["python -m torch.utils.collect_env"]
    assert remedy_text.commands("sudo apt-get install -y g++") == ["sudo apt-get install -y g++"]
    assert remedy_text.commands("read the error above; rerun it") == []


@pytest.mark.parametrize("width", [60, 80, 160])
def test_a_long_command_is_broken_only_between_arguments_and_pastes_whole(width: int):
    command = remedies.reinstall("torch", "2.13.0+cpu", python=PYTHON)
    lines = remedy_text.command_lines(command, width, "    ")
    assert all(len(line) <= width for line in lines), lines
    assert _pasted(lines) == shlex.split(command)
    assert not any(line.rstrip(" \\").endswith("--index-url") for line in lines)  # an option stays with its value
    if width >= len(command) + 4:
        assert lines == [f"    {command}"]


def test_on_windows_a_command_stays_on_one_line():
    command = remedies.reinstall("torch", "2.13.0+cpu", python=PYTHON)
    assert remedy_text.command_lines(command, 40, "  ", windows=True) == [f"  {command}"]


def test_a_short_command_in_a_sentence_is_never_split_by_the_wrapping():
    remedy = "reseat the card or check the slot, riser and BIOS PCIe settings; nvidia-smi -q -d PCIE shows the link"
    for width in range(30, 90):
        lines = [line for line, _ in remedy_text.lines(remedy, width)]
        assert any("nvidia-smi -q -d PCIE" in line for line in lines), (width, lines)
