"""nox -s preflight: arguments after -- are appended to the defaults, so they add flags and can override one."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from preflight_action.preflight import cli as cli_preflight
from tests.conftest import ROOT


class FakeSession:
    """What the session function touches: posargs, install, run (recorded, nothing installed or run)."""

    def __init__(self, posargs: list[str]) -> None:
        self.posargs = posargs
        self.ran: tuple[str, ...] = ()

    def install(self, *args: Any, **kwargs: Any) -> None:
        pass

    def run(self, *args: str, **kwargs: Any) -> None:
        self.ran = args


def _noxfile() -> Any:
    pytest.importorskip("nox")
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extra_preflight_args_keep_the_defaults_and_the_last_flag_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFLIGHT_LEVEL", raising=False)
    monkeypatch.delenv("PREFLIGHT_BUDGET", raising=False)
    session = FakeSession(["--quiet", "--device", "cpu"])
    _noxfile().preflight(session)
    argv = list(session.ran[2:])  # after "python scripts/runtime_preflight.py"
    assert session.ran[:2] == ("python", "scripts/runtime_preflight.py")
    monkeypatch.chdir(tmp_path)  # the output paths are checked relative to the working directory
    args = cli_preflight.parse_args(argv)
    assert args.quiet
    assert args.strict, "--quiet after -- must not drop the default --strict"
    assert args.check_torchvision
    assert args.device == "cpu", "a flag given again overrides its default"
