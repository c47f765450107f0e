"""Diagnostic truth, piece by piece: real builds read from real files, remedies per OS, isolated failures, facts with sources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from preflight_action.preflight import isolated
from preflight_action.preflight.remedies import BY_CHECK
from preflight_probe import capabilities, distributions, numeric, pairing, remedies
from tests.support import broken_runtimes as br

CPU = {"build": "cpu", "source": "test"}
CUDA13 = {"build": "cuda 13", "cuda": "13.0", "source": "test"}


def test_a_cuda_torchvision_with_a_cpu_torch_of_the_same_release_is_named_with_both_builds_and_the_cpu_pair():
    problem, remedy = pairing.pair_problem("2.14.1+cpu", CPU, "0.29.1", {"build": "cuda 13", "links": "libcudart.so.13"})
    assert problem == (
        "torchvision 0.29.1 (CUDA 13 build, links libcudart.so.13) does not pair with torch 2.14.1+cpu (CPU build): "
        "its extension is a CUDA 13 build, links libcudart.so.13 but torch is a CPU build; "
        "the pair that works is torch 2.14.1+cpu with torchvision 0.29.x from the cpu index"
    )
    assert remedy.endswith('-m pip install "torchvision==0.29.*" --index-url https://download.pytorch.org/whl/cpu')


def test_cuda_major_mismatch_points_at_the_index_of_torchs_own_cuda():
    problem, remedy = pairing.pair_problem("2.14.1", CUDA13, "0.29.1", {"build": "cuda 12", "links": "libcudart.so.12"})
    assert "CUDA 12 build" in problem
    assert "torch 2.14.1 (CUDA 13.0 build)" in problem
    assert remedy.endswith("--index-url https://download.pytorch.org/whl/cu130")


def test_a_matching_pair_has_no_problem_and_an_unknown_build_falls_back_to_tags():
    assert pairing.pair_problem("2.14.1", CUDA13, "0.29.1", {"build": "cuda 13"}) is None
    problem, _ = pairing.pair_problem("2.4.0+cu121", {"build": None}, "0.19.0+cu118", {"build": None})
    assert "it is a cu118 build but torch is a cu121 build" in problem


def test_the_real_torchvision_extension_names_its_cuda_runtime_from_elf_dt_needed():
    vision = br.SITE / "torchvision"
    if sys.platform != "linux" or not list(vision.glob("_C*.so")):
        pytest.skip("needs the dev venv's Linux torchvision extension")
    build = distributions.extension_build(str(vision))
    needed = distributions.elf_needed(build["extension"])
    assert needed is not None
    assert "libc10.so" in needed
    cudart = [n for n in needed if "cudart" in n]
    assert build["build"] == (f"cuda {cudart[0].rsplit('.', 1)[-1]}" if cudart else "cpu")
    assert build["source"] == "ELF DT_NEEDED"


def test_a_non_elf_extension_is_read_by_the_library_names_inside_it(tmp_path: Path):
    package = tmp_path / "torchvision"
    package.mkdir()
    (package / "_C.pyd").write_bytes(b"MZ\x90\x00" + b"\x00" * 4096 + b"cudart64_12.dll\x00c10.dll\x00")
    assert distributions.elf_needed(str(package / "_C.pyd")) is None
    build = distributions.extension_build(str(package))
    assert (build["build"], build["source"]) == ("cuda 12", "library names in the binary")
    (package / "_C.pyd").write_bytes(b"MZ" + b"\x00" * 100 + b"c10.dll\x00")
    assert distributions.extension_build(str(package))["build"] == "cpu"


def test_torch_build_is_read_from_version_py_without_importing(tmp_path: Path):
    (tmp_path / "version.py").write_text("cuda: Optional[str] = '12.6'\nhip: Optional[str] = None\n")
    assert distributions.torch_build_from_files(str(tmp_path))["build"] == "cuda 12"
    (tmp_path / "version.py").write_text("cuda = None\nhip = None\n")
    assert distributions.torch_build_from_files(str(tmp_path))["build"] == "cpu"


@pytest.mark.parametrize(
    ("release", "command"),
    [
        ({"ID": "ubuntu", "ID_LIKE": "debian"}, "sudo apt-get install -y g++"),
        ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "sudo dnf install -y gcc-c++"),
        ({"ID": "alpine"}, "apk add g++"),
        ({"ID": "opensuse-leap", "ID_LIKE": "suse opensuse"}, "sudo zypper install -y gcc-c++"),
        ({"ID": "arch"}, "sudo pacman -S --needed gcc"),
    ],
)
def test_the_compiler_package_follows_the_distribution(release, command, monkeypatch):
    monkeypatch.setattr(remedies.platform, "system", lambda: "Linux")
    assert remedies.cxx_compiler_install(release) == command


def test_os_release_is_parsed_with_quotes(tmp_path: Path):
    path = tmp_path / "os-release"
    path.write_text('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n# comment\n')
    assert remedies.os_release(str(path)) == {"NAME": "Ubuntu", "VERSION_ID": "24.04", "ID": "ubuntu"}
    assert remedies.os_release(str(tmp_path / "missing")) == {}


def test_capabilities_record_os_libc_and_the_compiler_with_sources(monkeypatch, tmp_path: Path):
    fake = tmp_path / "my-g++"
    fake.write_text("#!/bin/sh\necho 'my-g++ (Test) 99.1'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    facts = capabilities.collect(None)
    for name in ("os_distribution", "os_version", "libc", "libc_version", "cxx_compiler", "cxx_compiler_version"):
        assert name in facts
        assert facts["sources"][name]
    assert (facts["cxx_compiler"], facts["cxx_compiler_version"]) == (str(fake), "my-g++ (Test) 99.1")
    assert facts["sources"]["cxx_compiler"] == "CXX environment variable"
    if sys.platform == "linux":
        assert facts["sources"]["os_distribution"] == "/etc/os-release"
        if facts["libc"] == "glibc":
            assert facts["libc_version"] == os.confstr("CS_GNU_LIBC_VERSION").split()[1]


def test_no_compiler_anywhere_is_none_with_the_reason(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", "")
    path, version, source = capabilities.cxx_compiler(None)
    assert (path, version) == (None, None)
    assert source.startswith("none of ")


def test_integer_reference_is_exact_and_independent_of_torch():
    a, b = numeric.small_ints(2, 3, 7, 2), numeric.small_ints(3, 2, 11, 2)
    assert numeric.int_matmul(a, b) == [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(2)] for i in range(2)]
    assert numeric.slice_rel_error([[1.0, 2.0]], [[3.0, 4.0]], [[11.0]]) == 0.0
    assert numeric.slice_rel_error([[1.0, 2.0]], [[3.0, 4.0]], [[11.11]]) == pytest.approx(0.01)


def test_a_timeout_remedy_says_raise_check_timeout():
    said = isolated.explain("compile.smoke", "timed out after 5 s; the worker was killed", ["compiling"], True, "/py", 5.0)
    assert said.error.startswith("timed out after 5 s")
    assert "raise --check-timeout above 5 s" in said.remedy
    assert not said.never_started


def test_sigill_while_importing_torch_points_at_a_build_for_another_cpu():
    lines = ["preflight_probe: importing torch from /env/torch (installed: 2.14.1+cpu)"]
    said = isolated.explain("torch.import", "the worker was killed by SIGILL (exit -4)", lines, True, "/env/bin/python", 60)
    assert said.error.startswith("torch at /env/torch was killed by SIGILL while loading its shared libraries")
    assert '/env/bin/python -m pip install --force-reinstall --no-cache-dir "torch==2.14.1"' in said.remedy
    assert "--index-url https://download.pytorch.org/whl/cpu (evidence: the worker was killed by SIGILL" in said.remedy
    assert said.details["diagnosis"]["cause"] == "cpu_instructions"


def test_a_too_old_python_never_started_the_probe():
    line = "preflight probe: Python 2.7 is too old to run the probe (needs 3.8+)"
    said = isolated.explain("torch.import", "the worker ended with exit code 3", [line], False, "/usr/bin/python2", 60)
    assert said.never_started
    assert said.error == f"/usr/bin/python2 never started the probe: {line}"


def test_every_failed_check_gets_a_remedy_its_own_first():
    from preflight_action.preflight import severity
    from preflight_action.preflight.remedies import GENERAL, for_failure
    from preflight_action.preflight.report import CheckResult

    covered = set(severity.load().scores) & set(BY_CHECK)
    assert {"torch.import", "tensor.smoke", "deps.consistency", "compile.smoke", "gpu.driver", "memory.headroom"} <= covered
    assert for_failure(CheckResult("gpu.ecc", "fail", error="x")) == BY_CHECK["gpu.ecc"]
    assert for_failure(CheckResult("gpu.ecc", "fail", error="x", remedy="drain gpu-3")) == "drain gpu-3"
    assert for_failure(CheckResult("some.new_check", "fail", error="x")) == GENERAL


def test_a_torchvision_reaching_cuda_only_through_torchs_libraries_is_a_cuda_build(tmp_path: Path):
    package = tmp_path / "torchvision"
    package.mkdir()
    (package / "_C.pyd").write_bytes(b"MZ" + b"\x00" * 64 + b"c10_cuda.dll\x00torch_cuda.dll\x00")
    build = distributions.extension_build(str(package))
    assert build["build"] == "cuda"
    assert pairing.pair_problem("2.14.1", CUDA13, "0.29.1", build) is None  # no false alarm on a healthy CUDA runner
    problem, _ = pairing.pair_problem("2.14.1+cpu", CPU, "0.29.1", build)
    assert "its extension is a CUDA cuda build" not in problem
    assert "but torch is a CPU build" in problem


def test_device_remedies_name_the_build_and_the_minimum_driver(monkeypatch):
    monkeypatch.setattr(remedies.platform, "system", lambda: "Linux")
    cpu_only = remedies.device_remedy("cuda", "2.14.1+cpu", None, None)
    assert cpu_only.startswith("this torch (2.14.1+cpu) is a CPU-only build: reinstall torch 2.14.1 from the CUDA index")
    assert "--index-url https://download.pytorch.org/whl/cu126" in cpu_only
    assert remedies.device_remedy("cuda", "2.14.1+cu130", "13.0", None) == (
        "install the NVIDIA driver (at least 580.65.06 for CUDA 13.x, this torch's build); then nvidia-smi must list the GPU"
    )
    old = remedies.device_remedy("cuda", "2.5.1+cu124", "12.4", "11.8")
    assert (
        old
        == "the driver supports CUDA 11.8 but this torch needs CUDA 12.4: update the NVIDIA driver (at least 525.60.13 for CUDA 12.x, this torch's build)"
    )
    assert "CUDA_VISIBLE_DEVICES" in remedies.device_remedy("cuda", "2.5.1+cu124", "12.4", "12.8")


def test_a_missing_cuda_on_this_cpu_machine_gets_the_real_build_remedy(run_preflight):
    import torch

    run = run_preflight("--device", "cuda", "--quiet")
    resolve = run.check("device.resolve")
    if torch.version.cuda:
        assert resolve["remedy"].startswith(("install the NVIDIA driver", "the driver"))
    else:
        assert resolve["remedy"].startswith("this torch (")
    assert run.report["triage"]["top_failed_checks"][0]["remedy"] == resolve["remedy"]
