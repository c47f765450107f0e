"""nox -s preflight: arguments after -- are appended to the defaults; the venv is reused while it matches; torch's source."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from preflight_action.preflight import cli as cli_preflight
from tests.conftest import ROOT


class FakeSession:
    """What the session function touches: posargs, its venv, install, run and log (recorded, nothing installed or run).

    pip's ``--dry-run --report`` answer lists ``plan``: (name, version, a real file whose size pip would download).
    """

    def __init__(self, posargs: list[str], venv: Path | None = None, plan: list[tuple[str, str, Path]] | None = None) -> None:
        self.posargs = posargs
        self.ran: tuple[str, ...] = ()
        self.installed: list[tuple[str, ...]] = []
        self.logged: list[str] = []
        self.name = "preflight"
        self.python = "3.11"
        self.virtualenv = SimpleNamespace(location=str(venv) if venv else None)
        self.plan = plan or []

    def install(self, *args: Any, **kwargs: Any) -> None:
        assert kwargs.get("silent") is False, "pip's progress must show"
        self.installed.append(args)

    def log(self, line: str) -> None:
        self.logged.append(line)

    def run(self, *args: str, **kwargs: Any) -> str | None:
        if "--report" in args:  # pip install --dry-run --report PATH
            items = [{"metadata": {"name": n, "version": v}, "download_info": {"url": p.as_uri()}} for n, v, p in self.plan]
            Path(args[args.index("--report") + 1]).write_text(json.dumps({"install": items}), encoding="utf-8")
            return ""
        if "-c" in args:
            return "2.14.1\n"
        self.ran = args
        return None


@functools.cache
def _noxfile() -> Any:
    """The noxfile as a module, loaded once (nox registers each session when it loads)."""
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
    monkeypatch.setenv("PREFLIGHT_TORCH_INDEX", "default")
    session = FakeSession(["--quiet", "--device", "cpu"], venv=tmp_path / "venv")
    (tmp_path / "venv").mkdir()
    _noxfile().preflight(session)
    argv = list(session.ran[2:])  # after "python scripts/runtime_preflight.py"
    assert session.ran[:2] == ("python", "scripts/runtime_preflight.py")
    monkeypatch.chdir(tmp_path)  # the output paths are checked relative to the working directory
    args = cli_preflight.parse_args(argv)
    assert args.quiet
    assert args.strict, "--quiet after -- must not drop the default --strict"
    assert args.check_torchvision
    assert args.device == "cpu", "a flag given again overrides its default"


def _wheels(tmp_path: Path) -> list[tuple[str, str, Path]]:
    files = []
    for name, version, size in (("torch", "2.14.1", 3_000_000), ("numpy", "2.4.6", 200_000)):
        wheel = tmp_path / f"{name}-{version}.whl"
        wheel.write_bytes(b"\0" * size)
        files.append((name, version, wheel))
    return files


def test_preflight_says_what_it_installs_then_reuses_its_venv_while_it_still_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_TORCH_INDEX", "default")
    noxfile = _noxfile()
    venv = tmp_path / "venv"
    venv.mkdir()
    first = FakeSession([], venv=venv, plan=_wheels(tmp_path))
    noxfile.preflight(first)
    assert first.installed == [("-e", ".[torch]")]
    said = "\n".join(first.logged)
    assert "about to install into" in said
    assert "2 packages, 3.2 MB to download or unpack; largest: torch 2.14.1 (3.0 MB), numpy 2.4.6 (200 KB)" in said
    assert "installed torch 2.14.1 from the default index" in said
    assert first.ran[:2] == ("python", "scripts/runtime_preflight.py")

    second = FakeSession([], venv=venv)
    noxfile.preflight(second)
    assert second.installed == [], "a venv that still matches is reused as it is"
    assert any(line.startswith(f"reusing {venv}") for line in second.logged)
    assert second.ran[:2] == ("python", "scripts/runtime_preflight.py")

    other = FakeSession(["--python", "/usr/bin/python3"], venv=venv)  # diagnosing another interpreter needs no torch here
    noxfile.preflight(other)
    assert other.installed == [], "a venv with torch also serves a run that needs none"

    project = {**noxfile.PYPROJECT["project"], "dependencies": ["new-dependency>=1"]}
    monkeypatch.setattr(noxfile, "PYPROJECT", {**noxfile.PYPROJECT, "project": project})  # pyproject gained a dependency
    third = FakeSession([], venv=venv, plan=_wheels(tmp_path))
    noxfile.preflight(third)
    assert third.installed == [("-e", ".[torch]")]


@pytest.fixture
def index_server() -> Iterator[str]:
    """A package index on 127.0.0.1 that answers every request (as download.pytorch.org/whl/cpu/torch/ does)."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_torch_comes_from_the_cpu_index_without_a_driver_when_it_answers_else_the_default_saying_why(
    index_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFLIGHT_TORCH_INDEX", raising=False)
    noxfile = _noxfile()
    monkeypatch.setattr(noxfile, "CPU_INDEX", index_server)
    args, words = noxfile.torch_source(driver=False, platform="linux")
    assert args == ["--extra-index-url", index_server]
    assert words.startswith(f"the PyTorch CPU index {index_server}")

    monkeypatch.setattr(noxfile, "CPU_INDEX", f"http://127.0.0.1:{_closed_port()}/whl/cpu")
    args, words = noxfile.torch_source(driver=False, platform="linux")
    assert args == []
    assert words.startswith(f"the default index: no NVIDIA driver here, but the PyTorch CPU index {noxfile.CPU_INDEX} cannot be reached (")

    assert noxfile.torch_source(driver=True, platform="linux")[0] == []  # the CUDA build where a driver is loaded
    assert noxfile.torch_source(driver=False, platform="darwin")[0] == []
    monkeypatch.setenv("PREFLIGHT_TORCH_INDEX", index_server)
    assert noxfile.torch_source(driver=True, platform="linux")[0] == ["--extra-index-url", index_server]


def test_a_venv_made_without_torch_is_reinstalled_when_torch_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_TORCH_INDEX", "default")
    noxfile = _noxfile()
    venv = tmp_path / "venv"
    venv.mkdir()
    without = FakeSession(["--python", "/usr/bin/python3"], venv=venv, plan=_wheels(tmp_path))
    noxfile.preflight(without)
    assert without.installed == [("-e", ".")]
    needs = FakeSession([], venv=venv, plan=_wheels(tmp_path))
    noxfile.preflight(needs)
    assert needs.installed == [("-e", ".[torch]")]


def test_a_plan_with_only_this_project_says_there_is_nothing_to_download(tmp_path: Path) -> None:
    noxfile = _noxfile()
    session = FakeSession([], venv=tmp_path, plan=[("preflight-action", "0.1.0", noxfile.ROOT)])
    assert (
        noxfile.install_plan(session, ["-e", "."])
        == "1 package, nothing to download (this project, editable; everything else is installed already)"
    )
