"""cli_args.SCRIPTS names every console script pyproject declares, each with the scripts/*.py files that run it."""

from __future__ import annotations

import tomllib

from preflight_action import cli_args
from tests.conftest import ROOT

DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
NOT_COMMANDS = {"_bootstrap.py", "check_dist.py", "check_installed.py"}  # helpers of the checkout and the release


def test_every_console_script_has_an_entry_and_no_entry_is_unknown() -> None:
    assert sorted(cli_args.SCRIPTS) == sorted(DECLARED)


def test_every_command_script_in_the_checkout_is_listed_once_and_exists() -> None:
    listed = [name for files in cli_args.SCRIPTS.values() for name in files]
    assert len(listed) == len(set(listed))
    on_disk = {path.name for path in (ROOT / "scripts").glob("*.py")} - NOT_COMMANDS
    assert set(listed) == on_disk


def test_a_command_typed_as_its_script_is_named_so(monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["/repo/scripts/diff.py"])
    assert cli_args.prog("preflight-diff") == "diff.py"
    monkeypatch.setattr("sys.argv", ["/repo/scripts/gang.py"])
    assert cli_args.prog("preflight-gang") == "gang.py"
    monkeypatch.setattr("sys.argv", ["-c"])
    assert cli_args.prog("preflight-diff") == "preflight-diff"
