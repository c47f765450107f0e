"""kill_tree: one process-tree stop for the probe worker, the smoke worker, sweep steps and the action helper."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from preflight_action.process.tree import kill_tree

SLEEPER = "import time; time.sleep(60)"


def _alive(pid: int) -> bool:
    """Running, on any OS (a zombie waiting for its reaper counts as dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
        return False
    return True


def _wait_for(path: Path, within_s: float = 30.0) -> str:
    deadline = time.monotonic() + within_s
    while not (path.exists() and path.read_text(encoding="utf-8").endswith("\n")):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text(encoding="utf-8").strip()


def _parent(marker: Path, child_code: str) -> subprocess.Popen[bytes]:
    """A process that starts a child in a session of its own (out of reach of any group kill) and waits."""
    code = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}], start_new_session=True); "
        f"open({str(marker)!r}, 'w').write(f'{{c.pid}}\\n'); time.sleep(60)"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def test_kill_tree_kills_descendants_in_other_sessions_and_reaps_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    proc = _parent(marker, SLEEPER)
    grandchild = int(_wait_for(marker))
    started = time.monotonic()
    kill_tree(proc)
    assert proc.returncode is not None, "kill_tree reaps the child"
    assert _wait_dead(grandchild), "a grandchild in its own session survived"
    assert time.monotonic() - started < 5


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX-only")
def test_kill_tree_reaches_orphans_left_in_the_group_the_child_leads(tmp_path: Path) -> None:
    marker = tmp_path / "orphan.pid"
    # The middle process exits at once, so its child is reparented and psutil no longer links it to proc.
    middle = f"import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}]); open({str(marker)!r}, 'w').write(f'{{c.pid}}\\n')"
    done = tmp_path / "middle.done"
    code = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {middle!r}]); open({str(done)!r}, 'w').write('exited\\n'); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    orphan = int(_wait_for(marker))
    _wait_for(done)
    kill_tree(proc)
    assert _wait_dead(orphan), "an orphan in the child's process group survived"


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM handlers are POSIX-only; terminate() is a kill on Windows")
def test_graceful_asks_first_then_kills_what_ignores_it(tmp_path: Path) -> None:
    said = tmp_path / "said.txt"
    ignorer = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    marker = tmp_path / "ignorer.pid"
    # The direct child cleans up on SIGTERM (writes a line, then exits); its child ignores SIGTERM.
    code = (
        "import signal, subprocess, sys, time\n"
        f"c = subprocess.Popen([sys.executable, '-c', {ignorer!r}], start_new_session=True)\n"
        f"def bye(*_): open({str(said)!r}, 'w').write('terminated\\n'); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"open({str(marker)!r}, 'w').write(f'{{c.pid}}\\n')\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    ignoring = int(_wait_for(marker))
    time.sleep(0.2)  # let the child's ignore-SIGTERM line run
    started = time.monotonic()
    kill_tree(proc, graceful=True, grace_s=1.5)
    assert time.monotonic() - started < 1.0, "graceful returns at once (signal handlers call it)"
    assert proc.wait(timeout=10) == 3
    assert _wait_for(said) == "terminated"
    assert _alive(ignoring), "the grace period has not passed yet"
    assert _wait_dead(ignoring, within_s=5.0), "the escalation after grace_s did not kill the SIGTERM-ignoring process"


def test_kill_tree_on_a_finished_process_is_harmless() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    kill_tree(proc)
    kill_tree(proc, graceful=True, grace_s=0.01)
    assert proc.returncode == 0
