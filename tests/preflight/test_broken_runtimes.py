"""The real preflight, run under real broken runtimes (tests/support/broken_runtimes.py): check, status, band, cause, remedy."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.preflight.conftest import build
from tests.support import broken_runtimes as br
from tests.support import corpus


def _failed(run, check_id):
    check = run.check(check_id)
    assert check["status"] == "fail", check
    entry = next(t for t in run.report["triage"]["top_failed_checks"] if t["check_id"] == check_id)
    assert entry["remedy"] == check["remedy"]
    assert entry["remedy"]
    assert entry["node"] == run.report["host"]["node_id"]
    assert entry["os"]
    return check, entry


@pytest.mark.integration
@pytest.mark.parametrize("via", ["PYTHONPATH", ".pth"])
def test_a_second_torch_on_the_path_fails_deps_consistency_naming_both(under, tmp_path: Path, via: str) -> None:
    runtime = build(br.second_torch, tmp_path, via)
    run = under(runtime, "--device", "cpu")
    corpus.verify("a second, older torch ahead on the path", run.report)
    check, entry = _failed(run, "deps.consistency")
    assert entry["band"] == "medium"
    assert "2 torch installs are visible to this interpreter" in check["error"]
    assert f"2.13.0+cpu at {runtime.notes['other']}" in check["error"]
    assert f"2.14.1 at {br.SITE}" in check["error"]
    found = check["details"]["distributions"]["torch"]
    assert [d["version"] for d in found] == ["2.13.0+cpu", "2.14.1"]
    if via == "PYTHONPATH":
        assert found[0]["added_by"] == "PYTHONPATH"
        assert f"take {runtime.notes['other']} off PYTHONPATH (drops torch 2.13.0+cpu)" in check["remedy"]
    else:
        assert found[0]["added_by"] == runtime.notes["pth"]
        assert f"delete {runtime.notes['pth']} (drops torch 2.13.0+cpu at {runtime.notes['other']})" in check["remedy"]
    assert run.check("torch.import")["details"]["version"] == "2.13.0+cpu"  # the first one wins the import


@pytest.mark.integration
@pytest.mark.parametrize("via", ["PYTHONPATH", ".pth"])
def test_the_same_torch_installed_twice_fails_deps_consistency_where_it_used_to_pass(under, tmp_path: Path, via: str) -> None:
    runtime = build(br.second_copy_of_torch, tmp_path, via)
    run = under(runtime, "--device", "cpu", "--check-torchvision")
    corpus.verify("the same torch installed twice", run.report)
    check, entry = _failed(run, "deps.consistency")
    assert entry["band"] == "medium"
    version = runtime.notes["version"]
    assert check["error"] == (
        f"2 torch installs are visible to this interpreter (import takes the first): {version} at {runtime.notes['other']} "
        f"(from {runtime.notes.get('pth', 'PYTHONPATH')}); {version} at {br.SITE} (from "
        f"{check['details']['distributions']['torch'][1]['added_by']})"
    )
    assert check["remedy"].startswith("keep one torch: ")
    for check_id in ("torch.import", "tensor.smoke", "dtype.support", "torchvision.import"):
        assert run.check(check_id)["status"] == "pass"  # the same build twice runs; only the duplicate is wrong
    assert [t["check_id"] for t in run.report["triage"]["top_failed_checks"]] == ["deps.consistency"]


@pytest.mark.integration
def test_torchvision_built_for_another_torch_and_cuda_names_both_builds_and_the_pair(under, tmp_path: Path) -> None:
    runtime = build(br.torchvision_for_another_build, tmp_path)
    run = under(runtime, "--device", "cpu", "--check-torchvision")
    corpus.verify("torchvision built for another torch and CUDA", run.report)
    check, entry = _failed(run, "deps.consistency")
    assert entry["band"] == "medium"
    vision = runtime.notes["torchvision_version"]
    assert f"torchvision {vision} (CUDA 13 build, links libcudart.so.13) does not pair with torch 2.13.0+cpu (CPU build)" in check["error"]
    assert "torch 2.13.0+cpu pairs with torchvision 0.28.x" in check["error"]
    assert "the pair that works is torch 2.13.0+cpu with torchvision 0.28.x from the cpu index" in check["error"]
    assert check["remedy"].endswith('-m pip install "torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu')
    vision_check, vision_entry = _failed(run, "torchvision.import")
    assert vision_entry["band"] == "medium"
    assert "does not pair with torch 2.13.0+cpu (CPU build)" in vision_check["error"]
    assert "operator torchvision::nms does not exist" not in vision_check["error"].split("(", 1)[0]  # the cause leads, not the symptom
    assert vision_check["remedy"] == check["remedy"]


@pytest.mark.integration
def test_matmul_wrong_everywhere_fails_tensor_smoke_against_an_independent_reference(under, tmp_path: Path) -> None:
    runtime = build(br.patched_matmul, tmp_path)
    run = under(runtime, "--device", "cpu")
    corpus.verify("a sitecustomize that patches matmul", run.report)
    smoke, entry = _failed(run, "tensor.smoke")
    assert entry["band"] == "critical"
    assert "exact small-integer float32 matmul is wrong in 256 of 256 cells" in smoke["error"]
    assert "vs a pure-Python reference" in smoke["error"]
    assert smoke["details"]["matmul_rel_error"] == pytest.approx(0.01, rel=0.05)
    patch = runtime.notes["sitecustomize"]
    assert f"torch.Tensor.__matmul__ is replaced by code from {patch}" in smoke["error"]
    assert smoke["remedy"].startswith(f"remove the code in {patch} that replaces torch.Tensor.__matmul__, ")
    dtype, dtype_entry = _failed(run, "dtype.support")
    assert dtype_entry["band"] == "high"
    for name in ("float16", "bfloat16"):
        assert f"{name} exact small-integer matmul is wrong" in dtype["error"]


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["package", "module"])
def test_a_torch_package_that_is_not_pytorch_is_named_with_what_it_hides(under, tmp_path: Path, kind: str) -> None:
    runtime = build(br.shadowing_torch, tmp_path, kind)
    run = under(runtime, "--device", "cpu")
    corpus.verify("a project's torch/ package on PYTHONPATH", run.report)
    check, entry = _failed(run, "torch.import")
    assert entry["band"] == "critical"
    shadow = runtime.notes["shadow"]
    assert check["error"].startswith(f"the torch imported from {shadow} is not PyTorch (it has no torch.__version__")
    assert f"it hides the installed PyTorch 2.14.1 at {br.SITE}" in check["error"]
    assert "AttributeError" not in check["error"]
    assert check["remedy"].startswith(f"rename or remove {shadow}, or take {Path(shadow).parent} off PYTHONPATH")
    assert [t["check_id"] for t in run.report["triage"]["top_failed_checks"]] == ["torch.import"]  # one cause, one failure


@pytest.mark.integration
@pytest.mark.skipif(sys.platform != "linux", reason="a truncated ELF library raises SIGBUS on Linux")
def test_a_damaged_torch_library_crash_is_named_a_damaged_install_with_a_reinstall(under, tmp_path: Path) -> None:
    runtime = build(br.damaged_torch, tmp_path)
    run = under(runtime, "--device", "cpu")
    check, entry = _failed(run, "torch.import")
    assert entry["band"] == "critical"
    assert check["details"]["isolated_failure"] is True
    assert check["error"].startswith(f"torch at {runtime.notes['torch']} crashed while loading its shared libraries (killed by SIGBUS")
    size = (Path(runtime.notes["torch"]) / "lib" / "libc10.so").stat().st_size
    assert f"the install is damaged: torch/lib/libc10.so (torch 2.14.1) is {size} bytes, its RECORD says " in check["error"]
    assert check["remedy"].startswith("reinstall what is damaged: ")
    assert '-m pip install --force-reinstall --no-deps --no-cache-dir "torch==2.14.1"' in check["remedy"]
    assert check["details"]["diagnosis"]["cause"] == "install_damaged"
    corpus.evidence_based(check)


@pytest.mark.integration
@pytest.mark.skipif(sys.platform != "linux", reason="the truncated library is an ELF file")
def test_a_torch_library_the_loader_refuses_is_named_a_damaged_install(under, tmp_path: Path) -> None:
    runtime = build(br.damaged_torch, tmp_path, 64)  # its first 64 bytes
    run = under(runtime, "--device", "cpu")
    check, entry = _failed(run, "torch.import")
    assert entry["band"] == "critical"
    assert check["error"].startswith(f"import torch from {runtime.notes['torch']} failed: OSError: ")
    assert check["error"].endswith(
        "; the install is damaged: torch/lib/libc10.so (torch 2.14.1) is 64 bytes, its RECORD says " + check["error"].rsplit(" ", 1)[-1]
    )
    assert '-m pip install --force-reinstall --no-deps --no-cache-dir "torch==2.14.1"' in check["remedy"]
    corpus.evidence_based(check)


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="the broken compiler is a POSIX shell wrapper around g++")
def test_a_compiler_that_cannot_compile_keeps_its_path_and_its_own_error_lines(under, tmp_path: Path) -> None:
    runtime = build(br.compiler_without_headers, tmp_path)
    run = under(runtime, "--device", "cpu", "--check-compile", "--check-timeout", "400")
    corpus.verify("a C++ compiler without its headers (--check-compile)", run.report)
    check, entry = _failed(run, "compile.smoke")
    assert entry["band"] == "high"
    cxx = runtime.notes["cxx"]
    assert f"the C++ compiler {cxx} exists but cannot compile inductor's kernel" in check["error"]
    assert "No such file or directory" in check["error"]  # g++'s own words, not "C++ compile error"
    assert check["details"]["compiler"] == cxx
    assert check["remedy"].startswith(f"CXX={cxx} names this compiler, and it cannot compile: repair or replace the compiler at {cxx}")
    assert "unset CXX" in check["remedy"]
    assert "apt-get" not in check["remedy"]  # a system compiler install changes nothing CXX names


def test_a_python_that_is_not_python_is_said_once_with_its_earliest_lines(under, tmp_path: Path) -> None:
    runtime = br.not_a_python(tmp_path)
    for _ in range(3):  # the earliest stderr line used to be lost in 2 of 3 runs
        run = under(runtime)
        check, entry = _failed(run, "torch.import")
        corpus.verify("a --python that is a shell script", run.report)
        assert entry["band"] == "critical"
        assert check["error"].startswith(f"{runtime.python} is not a Python interpreter, or it never started the probe")
        assert "exit code 0" in check["error"]
        assert f"stderr: {runtime.notes['first_stderr']}" in check["error"]
        assert "stdout: Welcome to the toolbox 4.2" in check["error"]
        assert "point --python at the environment's Python interpreter" in check["remedy"]
        assert [t["check_id"] for t in run.report["triage"]["top_failed_checks"]] == ["torch.import"]  # once
        deps = run.check("deps.consistency")
        assert deps["status"] == "skip"
        assert deps["skip_reason"] == f"{runtime.python} never started the probe (torch.import failed)"


def test_a_check_that_outlives_its_timeout_is_told_to_raise_check_timeout(run_preflight, monkeypatch) -> None:
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "torch.import=hang")  # hangs whatever the machine's speed
    run = run_preflight("--device", "cpu", "--quiet", "--check-timeout", "3")
    check, entry = _failed(run, "torch.import")
    assert entry["band"] == "critical"
    assert check["error"].startswith("timed out after 3 s")
    assert "raise --check-timeout above 3 s" in check["remedy"]
    assert run.check("deps.consistency")["status"] == "pass"  # a fresh worker took over


@pytest.mark.skipif(sys.platform == "win32", reason="the echoing interpreter is a POSIX shell script")
def test_a_python_that_echoes_the_request_back_is_told_apart_at_once(under, tmp_path: Path) -> None:
    echo = tmp_path / "python"
    echo.write_text("#!/bin/sh\nexec cat\n", encoding="utf-8")  # a wrapper that lost its exec line: stdin comes back
    echo.chmod(0o755)
    run = under(br.Runtime(echo), "--check-timeout", "300")
    check, _ = _failed(run, "torch.import")
    assert check["error"].startswith(
        f"{echo} is not a Python interpreter, or it never started the probe (sent our own request back instead of the probe's hello)"
    )
    assert 'stdout: {"type": "check", "id": "torch.import"' in check["error"]
    assert check["duration_ms"] < 300_000  # told apart at its first line, not at the timeout


@pytest.mark.skipif(
    not shutil.which("setpriv") or not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root and util-linux setpriv to drop privileges",
)
def test_a_python_that_drops_privileges_is_not_judged_never_blamed(run_preflight, tmp_path: Path) -> None:
    """A wrapper that runs the interpreter as another user (setpriv, runuser in a prolog) cannot read this tool's private
    probe copy: that is the tool's limit, not the node's health, so a gate leaves the node alone."""
    wrapper = tmp_path / "python-as-nobody"
    wrapper.write_text(f'#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups {sys.executable} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    run = run_preflight(
        "--python",
        str(wrapper),
        "--level",
        "quick",
        "--device",
        "cpu",
        "--gate",
        "slurm",
        "--output-md",
        str(md),
        "--output-html",
        str(html),
    )
    assert run.exit_code == 2  # not judged: the node is left as it is
    assert "the tool could not run it" in md.read_text(encoding="utf-8")  # every renderer names the cause (a KeyError once)
    assert "the tool could not run it" in html.read_text(encoding="utf-8")
    assert run.report["verdict"] == "not_judged"
    check = run.check("torch.import")
    assert (check["status"], check["unfinished"]) == ("skip", "tool_error")
    assert "could not read the probe this tool copied for it" in check["skip_reason"]
    assert "run the preflight as the user the interpreter runs as" in check["skip_reason"]
    assert not [c for c in run.report["checks"] if c["status"] == "fail"]


@pytest.mark.skipif(sys.platform == "win32", reason="faulthandler answers SIGUSR1 on POSIX only")
def test_a_hung_import_names_the_frame_it_hung_in(run_preflight, monkeypatch, tmp_path: Path) -> None:
    """Before the timeout kills the worker, faulthandler prints its stacks: the check's thread's innermost frame is named."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import sys, time\n"
        "class Licence:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch._C':\n"
        "            while True:\n"
        "                time.sleep(0.05)  # waiting on a licence server that never answers\n"
        "sys.meta_path.insert(0, Licence())\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    run = run_preflight("--device", "cpu", "--level", "quick", "--quiet", "--check-timeout", "5")
    check = run.check("torch.import")
    assert check["status"] == "fail"
    assert check["details"]["hung_at"] == f"{hooks / 'sitecustomize.py'}:6 in find_spec"
    assert f"it was at {hooks / 'sitecustomize.py'}:6 in find_spec when the timeout came" in check["error"]
    assert check["remedy"].startswith(f"if it hangs on every run, read {hooks / 'sitecustomize.py'}:6 in find_spec")


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="the compiler is a POSIX shell wrapper")
def test_a_full_disk_under_the_compiler_is_said_and_the_compiler_is_not_blamed(under, tmp_path: Path) -> None:
    """gcc's own words when TMPDIR is full: the folder that is full gets the remedy, not the compiler."""
    scratch = tmp_path / "full-tmp"
    scratch.mkdir()
    wrapper = tmp_path / "bin" / "g++"
    wrapper.parent.mkdir()
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("needs a g++ on PATH: inductor asks the compiler its version before it compiles")
    wrapper.write_text(  # answers inductor's questions (--version) as g++ does, fails as gcc does on a full disk
        "#!/bin/sh\n"
        'case " $* " in *" -o "*) ;; *) exec ' + gxx + ' "$@" ;; esac\n'
        f'echo "In file included from {tmp_path}/include/cpp_prefix.h:1: g++: fatal error: error writing to {scratch}/ccQ2x9Lb.s: No space left on device" >&2\n'
        'echo "compilation terminated." >&2\n'
        "exit 1\n",
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    runtime = br.Runtime(
        Path(sys.executable), {"CXX": str(wrapper), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(scratch)}
    )
    run = under(runtime, "--device", "cpu", "--check-compile", "--check-timeout", "400")
    check, _ = _failed(run, "compile.smoke")
    assert check["error"].startswith(f"torch.compile failed on cpu: the disk under {scratch} is full")
    assert check["remedy"].startswith(f"free space under {scratch}, or point TMPDIR")
    assert check["details"]["diagnosis"]["cause"] == "interpreter_environment"


def test_a_source_tree_on_pythonpath_is_named_not_unidentified(run_preflight, monkeypatch, tmp_path: Path) -> None:
    """A PyTorch checkout (no built extensions) on PYTHONPATH: its own __init__ raises, and the folder no installed
    distribution owns is what the finding names."""
    tree = tmp_path / "pytorch"
    (tree / "torch").mkdir(parents=True)
    (tree / "torch" / "__init__.py").write_text(
        "raise ImportError('Failed to load PyTorch C extensions:\\n    It appears that PyTorch has loaded the torch/_C folder')\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(tree))
    run = run_preflight("--device", "cpu", "--level", "quick", "--quiet")
    check, _ = _failed(run, "torch.import")
    assert check["details"]["diagnosis"]["cause"] == "install_conflict"
    assert (
        f"the torch imported is {tree / 'torch'}, a folder no installed distribution owns (its parent {tree} is on PYTHONPATH)"
        in check["error"]
    )
    assert check["remedy"].startswith(f"take {tree} off PYTHONPATH")


@pytest.mark.integration
def test_a_cxx_that_names_no_compiler_is_told_to_unset_cxx_not_to_install_one(under, tmp_path: Path) -> None:
    missing = tmp_path / "toolchain" / "bin" / "g++"  # a module that was unloaded, a typo
    runtime = br.Runtime(Path(sys.executable), {"CXX": str(missing), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")})
    run = under(runtime, "--device", "cpu", "--check-compile", "--check-timeout", "400")
    check, _ = _failed(run, "compile.smoke")
    assert check["error"] == f"torch.compile failed on cpu: CXX={missing} is not a working C++ compiler"
    assert check["remedy"].startswith("unset CXX so inductor finds the system's compiler")
    assert "apt-get" not in check["remedy"]
