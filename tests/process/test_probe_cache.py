"""The probe's cached copy: reused when it is ours and unchanged, never trusted otherwise, bytecode compiled once."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import preflight_probe
from preflight_action.process import probe_cache
from preflight_action.process.probe_cache import ProbeDirectory

SOURCE = Path(preflight_probe.__file__).resolve().parent


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(probe_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "probe"


def _same_as_source(root: Path) -> bool:
    for path in SOURCE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        if (root / "preflight_probe" / path.relative_to(SOURCE)).read_bytes() != path.read_bytes():
            return False
    return True


def test_the_copy_holds_only_the_probe_and_its_bytecode(cache: Path) -> None:
    probe = ProbeDirectory()
    assert not probe.temporary
    assert probe.root.parent == cache
    assert sorted(p.name for p in probe.root.iterdir()) == ["preflight_probe", "preflight_probe_boot_worker.py"]
    assert _same_as_source(probe.root)
    compiled = Path(importlib.util.cache_from_source(str(probe.root / "preflight_probe" / "checks_core.py")))
    assert compiled.is_file(), "the copy carries this interpreter's bytecode (PYTHONDONTWRITEBYTECODE=1 or not)"
    probe.cleanup()
    assert probe.root.exists(), "a cached copy stays for the next run"


def test_the_next_run_reuses_the_copy_and_the_worker_runs_from_it(cache: Path) -> None:
    first, second = ProbeDirectory(), ProbeDirectory(entry="smoke_worker")
    assert first.root == second.root
    assert second.boot.name == "preflight_probe_boot_smoke_worker.py"
    out = subprocess.run(
        [sys.executable, "-c", "import preflight_probe, sys; print(preflight_probe.__file__)"],
        cwd=first.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(out.stdout.strip()).resolve().parent == (first.root / "preflight_probe").resolve()


def test_a_changed_copy_is_never_run(cache: Path) -> None:
    probe = ProbeDirectory()
    planted = probe.root / "preflight_probe" / "worker.py"
    planted.write_text("raise SystemExit('not the probe')\n", encoding="utf-8")
    again = ProbeDirectory()
    assert _same_as_source(again.root), "the damaged copy was replaced, not trusted"
    assert "not the probe" not in (again.root / "preflight_probe" / "worker.py").read_text(encoding="utf-8")


def test_a_missing_file_is_restored(cache: Path) -> None:
    probe = ProbeDirectory()
    (probe.root / "preflight_probe" / "pairing.py").unlink()
    assert _same_as_source(ProbeDirectory().root)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_cache_others_can_write_to_is_not_used(cache: Path) -> None:
    probe = ProbeDirectory()
    probe.root.chmod(0o777)  # the copy itself: rebuilt, private again
    rebuilt = ProbeDirectory()
    assert not rebuilt.temporary
    assert rebuilt.root == probe.root
    assert rebuilt.root.stat().st_mode & 0o022 == 0
    assert _same_as_source(rebuilt.root)
    cache.chmod(0o777)  # the folder copies live in: not used at all
    shared = ProbeDirectory()
    assert shared.temporary
    assert shared.root.parent != cache
    assert _same_as_source(shared.root)
    shared.cleanup()
    assert not shared.root.exists()


def test_an_unusable_cache_location_falls_back_to_a_temporary_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv(probe_cache.CACHE_ENV, str(blocker))
    probe = ProbeDirectory()
    assert probe.temporary
    assert _same_as_source(probe.root)
    probe.cleanup()
    assert not probe.root.exists()


def test_cache_false_makes_a_fresh_temporary_copy_without_bytecode(cache: Path) -> None:
    probe = ProbeDirectory(cache=False)
    try:
        assert probe.temporary
        assert sorted(p.name for p in probe.root.iterdir()) == ["preflight_probe", "preflight_probe_boot_worker.py"]
        assert not (probe.root / "preflight_probe" / "__pycache__").exists()
    finally:
        probe.cleanup()
    assert not probe.root.exists()
    assert not cache.exists()


def test_runs_building_the_copy_at_once_all_get_a_whole_one(cache: Path) -> None:
    code = "from preflight_action.process.probe_cache import ProbeDirectory; p = ProbeDirectory(); print(p.temporary, p.root_path)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    roots = {proc.communicate(timeout=120)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert roots == {f"False {cache / probe_cache._key(probe_cache._sources(str(SOURCE)))}"}
    assert _same_as_source(Path(roots.pop().split(" ", 1)[1]))
    assert [p.name for p in cache.iterdir() if p.name.startswith(".building-")] == []


def test_old_copies_are_pruned_to_the_newest_few(cache: Path) -> None:
    cache.mkdir(parents=True, mode=0o700)
    for index in range(probe_cache.KEEP_COPIES + 3):
        old = cache / f"0000000{index}-19"
        old.mkdir()
        os.utime(old, (1_000_000 + index, 1_000_000 + index))
    probe = ProbeDirectory()
    left = sorted(p.name for p in cache.iterdir())
    assert len(left) == probe_cache.KEEP_COPIES
    assert probe.root.name in left
    assert "00000000-19" not in left, "the oldest went first"


def test_the_default_location_follows_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(probe_cache.CACHE_ENV, raising=False)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert probe_cache.cache_root() == str(tmp_path / "xdg" / "preflight-action" / "probe")
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec: relative paths are invalid
        assert probe_cache.cache_root() == os.path.join(os.path.expanduser("~"), ".cache", "preflight-action", "probe")
    else:
        assert probe_cache.cache_root()
