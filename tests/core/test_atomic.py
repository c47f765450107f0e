"""Output writers respect what a path is: a file is replaced atomically (through a symlink, which stays a link);
a device, a FIFO or this process's own stream is written in place, never replaced by a plain file.

Device nodes are made in the test's own directory (``mknod``, root only), never the host's /dev: a writer
that replaced them would replace only the test's copies.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from preflight_action import atomic, cli_args
from tests.support import report_factory
from tests.support.gate_reports import EXPORT

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")


def _char_device(where: Path, minor: int) -> Path:
    """A private copy of /dev/null (minor 3) or /dev/full (minor 7)."""
    os.mknod(where, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    return where


def test_a_regular_file_is_replaced_atomically_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temporary file left


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real" / "preflight.prom"
    real.parent.mkdir()
    real.write_text("old\n")
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    link = textfiles / "preflight.prom"
    link.symlink_to(Path("..") / "real" / "preflight.prom")
    atomic.write_text(link, "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
    assert sorted(p.name for p in textfiles.iterdir()) == ["preflight.prom"]
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "real" / "made-here.json")
    atomic.write_text(dangling, "{}\n")
    assert dangling.is_symlink()
    assert (tmp_path / "real" / "made-here.json").read_text() == "{}\n"


@needs_root
def test_a_device_is_written_in_place_and_a_full_one_is_an_error(tmp_path: Path) -> None:
    null = _char_device(tmp_path / "null", 3)
    atomic.write_text(null, "discarded\n")
    assert stat.S_ISCHR(null.stat().st_mode)
    full = _char_device(tmp_path / "full", 7)
    with pytest.raises(OSError, match="No space left on device"):
        atomic.write_text(full, "x" * 10)
    assert stat.S_ISCHR(full.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]
    assert cli_args.file_problem(full) is None  # a writable device is a valid output (it fails when written, one line)


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic.write_text(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1", "link-to-stdout"])
def test_own_stdout_is_written_through_its_descriptor_keeping_append(tmp_path: Path, name: str) -> None:
    """``--output-md /dev/stdout >> log``: appended to the log, which stays the file the shell opened."""
    log = tmp_path / "log.txt"
    log.write_text("before\n")
    if name == "link-to-stdout":
        (tmp_path / "link-to-stdout").symlink_to("/proc/self/fd/1")
        name = str(tmp_path / "link-to-stdout")
    code = f"from preflight_action import atomic; atomic.write_text({name!r}, 'written\\n')"
    with log.open("a") as out:
        done = subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "before\nwritten\n"
    assert not log.is_symlink()
    if name.endswith("link-to-stdout"):
        assert Path(name).is_symlink()


def test_preflight_export_onto_a_symlinked_textfile_and_a_device(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(report_factory.report_doc(node="gpu-01")))
    real = tmp_path / "real.prom"
    link = tmp_path / "textfile.prom"
    link.symlink_to(real)
    junit = tmp_path / "junit-link.xml"
    junit.symlink_to("/proc/self/fd/1")
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(report), "--output-prom", str(link), "--output-junit", str(junit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert junit.is_symlink()
    assert "preflight_report_verdict" in real.read_text()
    assert done.stdout.startswith('<?xml version="1.0" encoding="utf-8"?>')  # the JUnit went to the export's stdout


@needs_root
def test_runtime_preflight_markdown_onto_a_full_device_is_one_line_and_the_device_stays(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    full = _char_device(tmp_path / "full", 7)
    null = _char_device(tmp_path / "null", 3)
    report = tmp_path / "preflight.json"
    argv = [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cpu", "--level", "quick", "--quiet"]
    argv += ["--output-path", str(report), "--output-md", str(full), "--output-junit", str(null)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"runtime_preflight.py: error: --output-md {full}: cannot write it (No space left on device)"
    ]
    assert stat.S_ISCHR(full.stat().st_mode)
    assert stat.S_ISCHR(null.stat().st_mode)
    assert json.loads(report.read_text())["verdict"] == "healthy"  # the report was written all the same


def test_export_refuses_to_write_over_its_own_input(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    text = json.dumps(report_factory.report_doc())
    report.write_text(text)
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(report), "--output-junit", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"export.py: error: --output-junit {report} is the --from-report file itself: writing it would destroy the report"
    ]
    assert report.read_text() == text


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"\x7fELF\x02\x01\x01", "ELF executable"), (b"#!/bin/sh\nexec python3", "script"), (b"MZ\x90\x00", "Windows executable")],
)
def test_a_program_is_never_replaced_by_an_output(tmp_path: Path, head: bytes, kind: str) -> None:
    """--output-path "$(which python)" once wrote a report over the interpreter: a program's file is refused, kept byte for byte."""
    program = tmp_path / "python3.11"
    program.write_bytes(head + b"rest of the program")
    link = tmp_path / "python"
    link.symlink_to(program.name)  # a venv's bin/python is a link to the interpreter
    for path in (program, link):
        with pytest.raises(OSError, match=rf"it is a program \({kind}\), not a file this tool writes: refusing to replace it"):
            atomic.write_text(path, "{}")
    assert program.read_bytes() == head + b"rest of the program"
    assert link.is_symlink()


def test_the_cli_refuses_an_output_that_is_the_interpreter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from preflight_action import main as cli_preflight

    interpreter = tmp_path / "python"
    interpreter.write_bytes(b"\x7fELF\x02\x01\x01 an interpreter")
    with pytest.raises(SystemExit) as exited:
        cli_preflight.main(["--device", "cpu", "--level", "quick", "--output-path", str(interpreter)])
    assert exited.value.code == 2
    assert f"--output-path: {interpreter}: it is a program (ELF executable)" in capsys.readouterr().err
    assert interpreter.read_bytes() == b"\x7fELF\x02\x01\x01 an interpreter"
