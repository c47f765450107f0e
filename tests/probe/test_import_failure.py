"""Why ``import torch`` raised: a limit is named only with evidence that it was the one hit, and its remedy never lowers it."""

from __future__ import annotations

import errno
import importlib.util
from pathlib import Path

import pytest

from preflight_probe import distributions, import_failure

GIB = 1 << 30


def test_an_address_space_limit_below_what_torch_maps_is_named_with_a_remedy_that_can_work() -> None:
    text = "libtorch_cpu.so: failed to map segment from shared object"
    unlimited_hard = import_failure.limit_cause(text, set(), {"as": {"soft": 3 * GIB, "hard": None}})
    assert unlimited_hard is not None
    assert unlimited_hard[2] == "remove the address-space limit for this job: ulimit -v unlimited"
    same_hard = import_failure.limit_cause(text, set(), {"as": {"soft": 3 * GIB, "hard": 3 * GIB}})
    assert same_hard is not None
    assert "the soft limit is already the hard one (3145728), so ulimit -v cannot raise it here" in same_hard[2]


def test_a_memory_error_under_a_generous_address_space_limit_is_not_the_limits() -> None:
    limits = {"as": {"soft": 39 * GIB, "hard": None}}
    assert import_failure.limit_cause("MemoryError", {errno.ENOMEM}, limits) is None
    assert import_failure.limit_cause("MemoryError", {errno.ENOMEM}, {}, cgroup_memory_mb=65536.0) is None
    assert import_failure.limit_cause("MemoryError", {errno.ENOMEM}, {}, cgroup_memory_mb=300.0) is not None


def test_eagain_alone_is_not_the_threads_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_failure.os, "geteuid", lambda: 1000, raising=False)
    limits = {"nproc": {"soft": 512, "hard": 4096}}
    locked = "BlockingIOError: [Errno 11] Resource temporarily unavailable"  # flock(LOCK_NB) on a held licence file
    assert import_failure.limit_cause(locked, {errno.EAGAIN}, limits) is None
    thread = import_failure.limit_cause("RuntimeError: can't start new thread", set(), limits)
    assert thread is not None
    assert (
        thread[2]
        == "raise the processes/threads limit: ulimit -u 4096 (its hard limit), or unlimited where the hard limit is set, or the cgroup's pids.max"
    )


def test_the_threads_limit_never_binds_root_and_its_remedy_never_lowers_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_failure.os, "geteuid", lambda: 0, raising=False)
    assert import_failure.limit_cause("can't start new thread", set(), {"nproc": {"soft": 96367, "hard": 96367}}) is None
    monkeypatch.setattr(import_failure.os, "geteuid", lambda: 1000, raising=False)
    hit = import_failure.limit_cause("can't start new thread", set(), {"nproc": {"soft": 96367, "hard": 96367}})
    assert hit is not None
    assert "ulimit -u 4096" not in hit[2]
    assert "the soft limit is already the hard one (96367)" in hit[2]


def test_an_error_raised_by_a_hook_is_the_hooks_even_under_a_tight_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = tmp_path / "licence_hook.py"
    hook.write_text("def check():\n    raise MemoryError('licence cache could not be allocated')\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("licence_hook", hook)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(import_failure.surroundings, "rlimits", lambda: {"as": {"soft": 2 * GIB, "hard": None}})
    try:
        module.check()
    except MemoryError as exc:
        installed = distributions.find("torch")[0]["package_dir"]  # the real torch: only the hook is foreign
        said = import_failure.explain(exc, f"MemoryError: {exc}", installed, None)
    assert said["diagnosis"]["cause"] == "code_outside_torch"
    assert f"{hook}:2" in said["error"]
    assert "ulimit" not in said["remedy"]
