"""The corpus of broken runtimes (tests/support/corpus.py, tables in tests/README.md), run through the real preflight.

Each case is a real runtime broken in a temporary folder: a hard-linked copy of the real torch stack with one
file damaged, a loader that takes a library from elsewhere, a process confined by ulimit, a cgroup or a
namespace, an interpreter broken around torch, hostile text. Each asserts the check, its status and band,
the cause named, and that every finding's remedy rests on evidence.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from preflight_action.preflight import checks
from tests.conftest import ROOT
from tests.preflight.conftest import build
from tests.support import broken_install as bi
from tests.support import broken_interpreter as bp
from tests.support import broken_loader as bl
from tests.support import broken_runtimes as br
from tests.support import broken_surroundings as bs
from tests.support import broken_text as bt
from tests.support import corpus

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform != "linux", reason="the corpus breaks Linux runtimes (ELF, glibc, cgroups)"),
]
QUICK = ("--device", "cpu", "--level", "quick")


def _quick(under, runtime: br.Runtime, *more: str):
    return under(runtime, *QUICK, *more)


# ---- install ----------------------------------------------------------------------------------------


def test_a_torch_library_cut_short_is_named_by_its_record_entry(under, tmp_path: Path) -> None:
    runtime = build(bi.truncated_library, tmp_path)
    check = corpus.verify("a torch shared library cut to a third (dies with SIGBUS)", _quick(under, runtime).report)
    assert (
        f"{runtime.notes['file']} (torch 2.14.1) is {runtime.notes['size']} bytes, its RECORD says {runtime.notes['expected']}"
        in check["error"]
    )
    assert '--force-reinstall --no-deps --no-cache-dir "torch==2.14.1"' in check["remedy"]


def test_a_deleted_torch_module_is_named_not_guessed(under, tmp_path: Path) -> None:
    runtime = build(bi.missing_file, tmp_path)
    run = _quick(under, runtime)
    check = corpus.verify("a torch module file deleted", run.report)
    assert (
        "No module named 'torch._tensor_str'; the install is damaged: torch/_tensor_str.py (torch 2.14.1) is listed in its RECORD but missing"
        in check["error"]
    )
    assert run.check("install.record")["status"] == "skip"  # one cause, one failure: torch.import named it


def test_a_deleted_dependency_file_reinstalls_that_dependency_not_torch(under, tmp_path: Path) -> None:
    runtime = build(bi.missing_file, tmp_path, "typing_extensions.py")
    check = corpus.verify("a dependency's file deleted (typing_extensions.py)", _quick(under, runtime).report)
    assert "typing_extensions.py (typing-extensions " in check["error"]
    assert '"typing-extensions==' in check["remedy"]
    assert '"torch==' not in check["remedy"]


def test_a_runtime_dependency_not_installed_is_named_with_its_requirement(under, tmp_path: Path) -> None:
    runtime = build(bi.dependency_not_installed, tmp_path, "sympy")
    run = _quick(under, runtime)
    check = corpus.verify("a runtime dependency not installed (sympy)", run.report)
    assert re.match(r"sympy \(>=[\d.]+, required by torch\) is not installed", check["error"])
    assert re.search(r'-m pip install "sympy>=[\d.]+"', check["remedy"])


def test_torchvision_without_numpy_says_the_dependency_is_missing_not_unidentified(under, tmp_path: Path) -> None:
    runtime = build(bi.dependency_not_installed, tmp_path, "numpy")
    run = _quick(under, runtime, "--check-torchvision")
    vision = run.check("torchvision.import")
    if vision["status"] != "fail":
        pytest.skip("this torchvision imports without numpy")
    assert vision["details"]["diagnosis"]["cause"] == "dependency_missing"
    assert vision["remedy"].startswith("install what is missing: ")
    assert "numpy" in vision["remedy"]
    assert "reinstall" not in vision["remedy"]


def test_a_same_size_edit_the_import_error_names_is_found_by_its_hash_at_the_quick_level(under, tmp_path: Path) -> None:
    """The quick level compares sizes only; the files a failed import's traceback names are hashed all the same."""
    python, site = build(bi.linked_stack, tmp_path)
    target = site / "torch" / "functional.py"
    data = target.read_bytes()
    at = data.index(b"\ndef ") + 1
    bi.replace(target, data[:at] + b"d(f " + data[at + 4 :])  # same size, no longer Python
    run = _quick(under, br.Runtime(python))
    check = run.check("torch.import")
    assert check["status"] == "fail"
    assert check["details"]["diagnosis"]["cause"] == "install_damaged"
    version = next(site.glob("torch-*.dist-info")).name[len("torch-") : -len(".dist-info")]
    assert f"torch/functional.py (torch {version}) has the right size but not the sha256 its RECORD lists" in check["error"]
    assert f'"torch=={version.split("+")[0]}"' in check["remedy"]


def test_a_missing_record_is_its_own_finding(under, tmp_path: Path) -> None:
    runtime = build(bi.record_missing, tmp_path)
    run = _quick(under, runtime)
    check = corpus.verify("torch's RECORD missing", run.report)
    assert check["error"].startswith(f"torch 2.14.1 at {runtime.notes['site']} has no RECORD (installer: pip)")
    assert run.check("torch.import")["status"] == "pass"


def test_a_leftover_metadata_folder_is_deleted_never_reinstalled_nor_uninstalled(under, tmp_path: Path) -> None:
    """Two torch dist-infos in one folder: the files are 2.14.1's. Uninstalling would delete them; reinstalling the
    leftover's version would downgrade a working torch. The leftover folder is what goes."""
    runtime = build(bi.leftover_metadata, tmp_path)
    run = _quick(under, runtime)
    check = corpus.verify("a leftover torch metadata folder beside the live one", run.report)
    live = runtime.notes["live"][len("torch-") : -len(".dist-info")]
    assert check["error"].startswith(f"torch 2.13.0+cpu's metadata ({runtime.notes['stale']}) sits beside torch {live}'s")
    assert check["remedy"].startswith(f"delete the leftover folder {runtime.notes['stale']} (not pip uninstall")
    assert "pip uninstall -y" not in check["remedy"]
    assert run.check("install.record")["status"] == "pass"  # the live RECORD is checked: nothing damaged
    assert run.check("torch.import")["status"] == "pass"


def test_a_torchvision_extension_cut_short_reinstalls_torchvision(under, tmp_path: Path) -> None:
    runtime = build(bi.truncated_library, tmp_path, "torchvision/_C_stable.so")
    run = _quick(under, runtime, "--check-torchvision")
    check = corpus.verify("torchvision's compiled extension cut short", run.report)
    assert "torchvision/_C_stable.so (torchvision 0.29.1) is " in check["error"]
    assert '"torchvision==0.29.1"' in check["remedy"]
    assert run.check("install.record")["status"] == "skip"


def test_a_file_changed_in_place_is_found_by_its_hash_where_the_level_hashes(under, tmp_path: Path, monkeypatch) -> None:
    import yaml

    _, site = build(bi.changed_in_place, tmp_path, "torch/_vmap_internals.py")
    policy = yaml.safe_load((ROOT / "policy" / "levels.yaml").read_text(encoding="utf-8"))
    policy["stress"]["install_record"]["hash"]["quick"] = "all"
    levels = tmp_path / "levels.yaml"
    levels.write_text(yaml.safe_dump(policy), encoding="utf-8")
    monkeypatch.setenv("PREFLIGHT_LEVELS_POLICY", str(levels))
    runtime = br.Runtime(tmp_path / "venv" / "bin" / "python")
    run = _quick(under, runtime, "--check-timeout", "600")
    check = corpus.verify("a file changed in place, same size (sha256)", run.report)
    assert "torch/_vmap_internals.py (torch 2.14.1) has the right size but not the sha256 its RECORD lists" in check["error"]
    assert run.check("install.record")["details"]["files_hashed"] > 10_000
    assert site.is_dir()


# ---- loader -----------------------------------------------------------------------------------------


def test_a_preloaded_system_openmp_that_loads_is_still_a_finding(under, tmp_path: Path) -> None:
    runtime = build(bl.preloaded_system_openmp, tmp_path)
    run = _quick(under, runtime)
    check = corpus.verify("LD_PRELOAD of the system's OpenMP (loads)", run.report)
    assert check["error"].startswith("libgomp.so.1 was loaded from /")
    assert f"(LD_PRELOAD={runtime.notes['loaded']})" in check["error"]
    assert check["remedy"].startswith(f"take {runtime.notes['loaded']} out of LD_PRELOAD for this job")
    assert run.check("torch.import")["status"] == "pass"


def test_an_older_torch_library_preloaded_is_named_not_a_reinstall(under, tmp_path: Path) -> None:
    runtime = build(bl.preloaded_older_torch_library, tmp_path)
    check = corpus.verify("LD_PRELOAD of an older torch's libc10 (import fails)", _quick(under, runtime).report)
    assert "undefined symbol" in check["error"]
    assert f"libc10.so was taken from {runtime.notes['loaded']} (LD_PRELOAD=" in check["error"]
    assert "reinstall" not in check["remedy"]


def test_a_plugin_rpath_into_a_conda_prefix_is_named_with_the_prefix(under, tmp_path: Path) -> None:
    runtime = build(bl.conda_plugin_openmp, tmp_path)
    check = corpus.verify("a plugin with an RPATH into a conda prefix, loaded first", _quick(under, runtime).report)
    assert f"libgomp.so.1 was loaded from {runtime.notes['loaded']} (the RPATH of {runtime.notes['plugin']}" in check["error"]
    assert f"CONDA_PREFIX={runtime.notes['prefix']}" in check["error"]
    assert check["remedy"].startswith(f"{runtime.notes['plugin']} carries an RPATH to ")


def test_an_environment_module_library_path_is_named_with_the_module(under, tmp_path: Path) -> None:
    runtime = build(bl.module_openmp, tmp_path)
    check = corpus.verify("an environment module's LD_LIBRARY_PATH, used first", _quick(under, runtime).report)
    assert f"LD_LIBRARY_PATH, set by the environment module gcc/12.2.0 ({runtime.notes['modulefile']})" in check["error"]
    assert check["remedy"].startswith(f"module unload gcc/12.2.0, or take {runtime.notes['entry']} off LD_LIBRARY_PATH")


def test_an_old_libstdcxx_first_on_the_path_is_named_with_the_symbol_version_it_lacks(under, tmp_path: Path) -> None:
    runtime = build(bl.older_libstdcxx_first, tmp_path)
    check = corpus.verify("an old libstdc++ first on LD_LIBRARY_PATH (import fails)", _quick(under, runtime).report)
    assert f"the loader took libstdc++.so.6 from LD_LIBRARY_PATH (entry {runtime.notes['folder']}), and it is older than" in check["error"]
    assert check["remedy"].startswith(f"take {runtime.notes['folder']} off LD_LIBRARY_PATH")
    assert "reinstall" not in check["remedy"]


# ---- limits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "flag", "value", "words"),
    [
        ("open files limit 64", "n", "64", "the open files limit (RLIMIT_NOFILE) is 64, below the 1024"),
        ("stack limit 100 KiB", "s", "100", "the stack size limit (RLIMIT_STACK) is 100 KiB, below the 1 MiB"),
        (
            "file size limit 16 MiB",
            "f",
            "32768",
            "the file size limit (RLIMIT_FSIZE) is 16 MiB, below the 16384 MiB",
        ),  # sh: 512-byte blocks
    ],
)
def test_a_resource_limit_below_policy_fails_host_limits_with_the_limit(under, tmp_path: Path, name, flag, value, words) -> None:
    runtime = build(bs.limited, tmp_path, **{flag: value})
    run = _quick(under, runtime)
    check = corpus.verify(name, run.report)
    assert check["error"].startswith(words)
    assert f"ulimit -{flag} " in check["remedy"]  # the flag; sizes name their unit-free target (unlimited) where shells differ
    assert run.check("capabilities.detect")["details"]["rlimits"]


def test_an_address_space_limit_that_aborts_the_import_is_named_not_a_damaged_install(under, tmp_path: Path) -> None:
    runtime = build(bs.limited, tmp_path, v="3000000")
    check = corpus.verify("address space limit 3 GB (import aborts)", _quick(under, runtime).report)
    assert "the address space limit (RLIMIT_AS, 2929 MiB) is too small to map torch's libraries" in check["error"]
    assert check["remedy"].startswith("remove the address-space limit for this job (ulimit -v unlimited")


# ---- container --------------------------------------------------------------------------------------

CPU_ONE = {"v1": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"}, "v2": {"cpu.max": "100000 100000"}}
CPU_HALF = {"v1": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"}, "v2": {"cpu.max": "50000 100000"}}


def _in_cgroup(under, tmp_path: Path, controller: str, settings: dict[str, dict[str, str]], *args: str):
    try:
        with bs.cgroup(controller, settings) as (folder, _version):
            return under(br.Runtime(bs.in_cgroup(tmp_path, folder)), *args)
    except br.Unavailable as why:
        pytest.skip(str(why))


def test_a_cpu_quota_of_one_cpu_is_the_cpu_figure_and_oversubscribes_torch(under, tmp_path: Path) -> None:
    import os

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs for a one-CPU quota to bind")
    run = _in_cgroup(under, tmp_path, "cpu", CPU_ONE, *QUICK)
    check = corpus.verify("cgroup CPU quota of one CPU on a bigger host", run.report)
    caps = run.check("capabilities.detect")["details"]
    assert (caps["cpu_count"], caps["cgroup_cpu_quota"]) == (1, 1.0)
    assert caps["cpu_count_host"] == os.cpu_count()
    assert check["remedy"].startswith("set OMP_NUM_THREADS=1 where the job starts")


def test_a_cpu_quota_below_one_cpu_fails_host_container(under, tmp_path: Path) -> None:
    run = _in_cgroup(under, tmp_path, "cpu", CPU_HALF, *QUICK)
    check = corpus.verify("cgroup CPU quota of half a CPU", run.report)
    assert check["error"].startswith("the cgroup CPU quota allows 0.5 CPUs, below 1")


def test_a_cpu_quota_is_read_from_inside_a_cgroup_namespace(under, tmp_path: Path) -> None:
    import os
    import shlex

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs for a one-CPU quota to bind")
    try:
        with bs.cgroup("cpu", CPU_ONE) as (folder, version):
            if version != "v1":
                pytest.skip("the remount below is cgroup v1's (a v2 container mounts cgroup2 at /sys/fs/cgroup)")
            mount = next(p for p in bs.CGROUP_ROOT.iterdir() if "cpu" in p.name.split(",") and (p / "cpu.cfs_quota_us").exists())
            # what a container runtime does: a fresh /sys/fs/cgroup, the controller mounted again at the namespace's root
            fresh = f"mount -t tmpfs cgroups {bs.CGROUP_ROOT} && mkdir {shlex.quote(str(mount))}"
            inner = (
                f'{fresh} && mount -t cgroup -o {mount.name} cgroup {shlex.quote(str(mount))} && exec {shlex.quote(sys.executable)} "$@"'
            )
            python = bs.wrapper(
                tmp_path,
                [
                    f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))} || exit 98",
                    f'exec unshare --cgroup --mount sh -c {shlex.quote(inner)} sh "$@"',
                ],
            )
            run = under(br.Runtime(python), *QUICK)
    except br.Unavailable as why:
        pytest.skip(str(why))
    corpus.verify("CPU quota seen from inside a cgroup namespace", run.report)
    caps = run.check("capabilities.detect")["details"]
    assert caps["cgroup_cpu_quota"] == 1.0
    assert caps["sources"]["cgroup_cpu_quota"] == f"{mount}/cpu.cfs_quota_us (100000) / cpu.cfs_period_us (100000)"  # the namespace's root


def test_a_memory_limit_binds_memory_headroom_not_the_hosts_ram(under, tmp_path: Path) -> None:
    limit = str(1200 << 20)
    run = _in_cgroup(under, tmp_path, "memory", {"v1": {"memory.limit_in_bytes": limit}, "v2": {"memory.max": limit}}, "--device", "cpu")
    check = corpus.verify("cgroup memory limit of 1200 MB (standard level)", run.report)
    assert "the cgroup memory limit of 1200MB binds, not the host's" in check["error"]
    assert run.check("capabilities.detect")["details"]["ram_total_mb"] == 1200


def test_a_pids_limit_fails_host_container(under, tmp_path: Path) -> None:
    run = _in_cgroup(under, tmp_path, "pids", {"v1": {"pids.max": "64"}, "v2": {"pids.max": "64"}}, *QUICK)
    check = corpus.verify("cgroup pids limit of 64", run.report)
    assert check["error"].startswith("the cgroup allows 64 processes and threads (pids.max), below 512")


def test_a_small_dev_shm_fails_host_container(under, tmp_path: Path) -> None:
    runtime = build(bs.small_shm, tmp_path)
    check = corpus.verify("/dev/shm of 64 MiB (a private mount namespace)", _quick(under, runtime).report)
    assert check["error"].startswith("/dev/shm holds 64 MiB, below 1024 MiB")
    assert "docker run --shm-size=2g" in check["remedy"]


def test_an_unconstrained_container_is_a_clean_pass(under, tmp_path: Path) -> None:
    runtime = build(bs.namespaced, tmp_path)
    corpus.verify("an unconstrained container (fresh namespaces)", _quick(under, runtime).report)


NEW_CHECKS = ("install.record", "loader.libraries", "host.limits", "host.container", "host.threads")


@pytest.mark.parametrize("level", ["quick", "standard"])
def test_the_healthy_dev_venv_is_a_clean_pass_with_every_new_check_run(run_preflight, level: str) -> None:
    run = run_preflight("--device", "cpu", "--level", level, "--quiet")
    corpus.verify("this box's healthy dev venv", run.report)
    for check_id in NEW_CHECKS:
        assert run.check(check_id)["status"] == "pass", run.check(check_id)
    assert run.check("install.record")["details"]["files_checked"] > 10_000
    assert {s.id for s in checks.SPECS} >= set(NEW_CHECKS)


# ---- interpreter ------------------------------------------------------------------------------------


def test_a_pythonhome_pointing_nowhere_is_named(under, tmp_path: Path) -> None:
    runtime = build(bp.pythonhome_nowhere, tmp_path)
    check = corpus.verify("PYTHONHOME pointing at no Python", under(runtime, *QUICK).report)
    assert f"PYTHONHOME={runtime.notes['home']!r} points the interpreter at a standard library it cannot load" in check["error"]
    assert check["remedy"].startswith("unset PYTHONHOME for this job")


def test_a_project_module_shadowing_the_standard_library_is_named(under, tmp_path: Path) -> None:
    runtime = build(bp.stdlib_shadow, tmp_path)
    check = corpus.verify("a project's json.py shadowing the standard library", under(runtime, *QUICK).report)
    assert f"{runtime.notes['shadow']} shadows the standard library's json module (it is on PYTHONPATH)" in check["error"]


def test_an_import_hook_that_raises_is_named_by_its_file_and_line(under, tmp_path: Path) -> None:
    runtime = build(bp.import_hook_refuses_torch, tmp_path)
    check = corpus.verify("an import hook refusing torch's extension", under(runtime, *QUICK).report)
    hook = runtime.notes["hook"]
    line = next(i for i, text in enumerate(Path(hook).read_text().splitlines(), 1) if "raise RuntimeError" in text)
    assert check["error"].endswith(f"it was raised by code outside torch, at {hook}:{line}")
    assert check["details"]["diagnosis"]["raised_at"] == f"{hook}:{line}"


def test_an_unknown_cause_is_said_honestly_with_what_was_ruled_out_and_the_next_step(under, tmp_path: Path) -> None:
    runtime = build(bp.exits_when_torch_imports, tmp_path)
    check = corpus.verify("a start-up hook that ends the process during torch's import", under(runtime, *QUICK).report)
    assert "ended the interpreter while importing (exit code 3); cause not identified (" in check["error"]
    assert "files of torch's stack match pip's RECORD sizes" in check["error"]
    assert "-X faulthandler -c 'import torch'" in check["remedy"]
    assert "reinstall" not in check["remedy"]


def test_an_interpreter_killed_before_its_first_line_is_not_called_a_non_python(under, tmp_path: Path) -> None:
    runtime = build(bp.stack_too_small_to_start, tmp_path)
    check = corpus.verify("a stack limit too small to start Python (64 KiB)", under(runtime, *QUICK).report)
    assert (
        check["error"]
        == f"{runtime.python} was killed by SIGSEGV (exit -11) before it started the probe, printing nothing; cause not identified"
    )
    assert "is not one" not in check["remedy"]


# ---- text -------------------------------------------------------------------------------------------

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202e\ud800-\udfff]")


FENCED = re.compile(r"^```.*?^```", re.S | re.M)


def _assert_safe(text: str, where: str, markup: bool = True) -> None:
    """No raw control, bidi or undecodable character; in Markdown and HTML, no live markup from the runtime either
    (a Markdown code block shows markup as text: only what is outside one could render)."""
    assert not UNSAFE.search(text), f"{where}: {UNSAFE.search(text)!r}"
    if markup:
        live = FENCED.sub("", text)
        assert "<script>" not in live, where
        assert "<img" not in live, where


def test_hostile_environment_values_paths_and_metadata_keep_the_report_valid(under, tmp_path: Path) -> None:
    runtime = build(bt.hostile_environment, tmp_path)
    run = under(runtime, *QUICK, "--output-md", str(tmp_path / "r.md"), "--output-html", str(tmp_path / "r.html"))
    check = corpus.verify("hostile environment values, a non-UTF-8 path, escapes in package metadata", run.report)
    raw = run.path.read_text(encoding="utf-8")
    _assert_safe(json.dumps(json.loads(raw), ensure_ascii=False), "report", markup=False)  # JSON carries markup as data
    assert "\\udcff\\udcfe" in check["error"]  # the undecodable path, shown as escapes
    environment = run.report["env_fingerprint"]["payload"]["environment"]
    assert environment["PYTORCH_HOSTILE"].startswith("\\udcff\\udcfe\\x1b[2J\\u202e<script>")
    assert len(environment["TORCH_BIG_0"]) < bt.BIG // 4
    for name in ("r.md", "r.html"):
        _assert_safe((tmp_path / name).read_text(encoding="utf-8"), name)


def test_torch_in_a_folder_whose_name_is_not_utf8_is_named_not_guessed(under, tmp_path: Path) -> None:
    runtime = build(bt.torch_in_a_non_utf8_folder, tmp_path)
    run = under(runtime, *QUICK)
    check = corpus.verify("torch reached through a folder whose name is not UTF-8", run.report)
    assert "torch's own code encodes its folder's name as UTF-8, and this one is not" in check["error"]
    assert "\\udcff\\udcfe" in check["error"]
    _assert_safe(json.dumps(run.report, ensure_ascii=False), "report", markup=False)


def test_megabytes_of_binary_stderr_before_a_crash_keep_the_report_small_and_valid(under, tmp_path: Path) -> None:
    runtime = build(bt.hostile_stderr, tmp_path)
    run = under(runtime, *QUICK, "--output-html", str(tmp_path / "r.html"))
    check = corpus.verify("megabytes of binary stderr, then SIGSEGV", run.report)
    assert "killed by SIGSEGV" in check["error"]
    assert run.path.stat().st_size < 512 * 1024
    _assert_safe(json.dumps(run.report, ensure_ascii=False), "report", markup=False)
    _assert_safe((tmp_path / "r.html").read_text(encoding="utf-8"), "html")


def test_a_hostile_hostname_keeps_the_report_valid(tmp_path: Path) -> None:
    import os
    import shutil

    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to give a UTS namespace its own hostname")
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    argv = [str(ROOT / "scripts" / "runtime_preflight.py"), *QUICK, "--quiet", "--output-path", str(out), "--output-md", str(md)]
    done = subprocess.run(bt.hostile_hostname_argv(argv), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_bytes().decode("utf-8"))
    corpus.verify("a hostname with escapes, markup and a pipe", report)
    assert report["host"]["hostname"] == "evil\\x1b[2J<b>|host\\u202e"
    _assert_safe(md.read_text(encoding="utf-8"), "md")
    assert "<b>" not in md.read_text(encoding="utf-8")


# ---- the table --------------------------------------------------------------------------------------


def test_corpus_table_in_the_readme_is_the_registry() -> None:
    text = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.count("|") == 5 and not line.startswith("| category")]
    rows = [r for r in rows if not set(r) <= set("|- ")]
    assert rows == corpus.readme_rows()
    categories = {c.category for c in corpus.CASES}
    assert categories == {"install", "loader", "limits", "container", "interpreter", "text"}
