"""The posix_spawn child the early worker uses: what subprocess.Popen would do, for the calls our clients make."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from preflight_action.process import spawn
from preflight_action.process.lines import JsonLineProcess
from preflight_action.process.tree import kill_tree

pytestmark = pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="os.posix_spawn is POSIX only (Windows uses subprocess.Popen)")


STARTED: list[spawn.SpawnedChild] = []


@pytest.fixture(autouse=True)
def _close_pipes() -> Iterator[None]:
    """Like Popen's, a SpawnedChild's pipes are its user's to close (JsonLineProcess closes them)."""
    yield
    while STARTED:
        child = STARTED.pop()
        child.kill()
        child.wait(timeout=30)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _child(code: str) -> spawn.SpawnedChild:
    child = spawn.spawn([sys.executable, "-c", code])
    assert isinstance(child, spawn.SpawnedChild)
    STARTED.append(child)
    return child


def test_pipes_carry_text_both_ways_and_the_exit_code_comes_back() -> None:
    child = _child("import sys; line = sys.stdin.readline(); print(line.upper(), end=''); sys.stderr.write('é\\n'); sys.exit(3)")
    assert child.stdin
    assert child.stdout
    assert child.stderr
    child.stdin.write("ping\n")
    child.stdin.flush()
    assert child.stdout.readline() == "PING\n"
    assert child.stderr.readline() == "é\n"
    assert child.wait(timeout=60) == 3
    assert child.poll() == 3


def test_a_running_child_polls_none_and_a_wait_can_time_out() -> None:
    child = _child("import time; time.sleep(60)")
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.2)
    child.kill()
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_kill_tree_stops_it_and_a_signal_after_the_end_is_harmless() -> None:
    child = _child("import time; time.sleep(60)")
    kill_tree(child)
    assert child.returncode == -signal.SIGKILL
    child.terminate()  # already reaped: nothing to signal, no error
    child.kill()


def test_the_child_inherits_only_its_three_pipes() -> None:
    parent_fd = os.open(os.devnull, os.O_RDONLY)  # non-inheritable, as Python opens every file
    passed_fd = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(passed_fd, True)  # as a parent's pass_fds or a C library leaves one
    try:
        child = _child(
            "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
            if sys.platform.startswith("linux")
            else "print('[0, 1, 2, 3]')"
        )
        assert child.stdout
        fds = eval(child.stdout.readline())  # a list of ints printed by the child
        child.wait(timeout=60)
    finally:
        os.close(parent_fd)
        os.close(passed_fd)
    assert fds[:3] == [0, 1, 2]
    assert len(fds) <= 4, f"only stdin, stdout, stderr and the listing's own fd: {fds}"


def test_an_interpreter_that_does_not_exist_is_an_oserror() -> None:
    with pytest.raises(FileNotFoundError):
        spawn.spawn(["/no/such/python", "-c", "pass"])


def test_polling_from_another_thread_while_waiting_reaps_once() -> None:
    child = _child("import time; time.sleep(0.3)")
    seen: list[int | None] = []
    poller = threading.Thread(target=lambda: [seen.append(child.poll()) for _ in range(200)])
    poller.start()
    assert child.wait(timeout=60) == 0
    poller.join()
    assert child.poll() == 0
    assert set(seen) <= {None, 0}


def test_a_json_line_process_reads_a_spawned_child() -> None:
    child = _child("import json, sys; print(json.dumps({'type': 'hello'}), flush=True); sys.stdin.readline()")
    STARTED.remove(child)  # the JsonLineProcess owns it now
    lines = JsonLineProcess([], started=child)
    assert lines.next(timeout=60) == {"type": "hello"}
    lines.close()
    assert child.returncode is not None
