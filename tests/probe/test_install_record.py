"""install_record checks real installs against pip's RECORD; markers decide which requirements apply here."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from preflight_probe import background, install_record, markers
from tests.support import broken_install as bi
from tests.support.broken_runtimes import SITE, record_line


def _dist(site: Path, name: str, version: str, files: dict[str, bytes], requires: tuple[str, ...] = ()) -> Path:
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (dist / "METADATA").write_text("\n".join(lines) + "\n\nlong description\nRequires-Dist: not-a-header\n")
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    rows = [record_line(rel, data) for rel, data in files.items()] + [f"{dist.name}/RECORD,,", "../../../bin/tool,sha256=x,1"]
    (dist / "RECORD").write_text("\n".join(rows) + "\n")
    return dist


@pytest.mark.parametrize(
    ("marker", "extras", "holds"),
    [
        ('platform_system == "Linux" and python_version < "3.99"', (), platform.system() == "Linux"),
        ("extra == 'cublas'", ("cublas", "cudart"), True),
        ("extra == 'all'", ("cublas",), False),
        ('python_version >= "3.1" or os_name == "nt"', (), True),
        ("(sys_platform == 'win32' and platform_machine == 'AMD64') and extra == 'all'", (), False),
        ('some_new_variable == "x"', (), None),
    ],
)
def test_markers_hold_where_they_should_and_say_so_when_unreadable(marker: str, extras: tuple[str, ...], holds: bool | None) -> None:
    assert markers.holds(marker, extras) is holds


def test_requirement_lines_parse_with_extras_and_parenthesised_specs() -> None:
    assert markers.parse("cuda-toolkit[cublas,cudart]==13.0.3; platform_system == 'Linux'") == (
        "cuda-toolkit",
        ("cublas", "cudart"),
        "==13.0.3",
        "platform_system == 'Linux'",
    )
    assert markers.parse("Typing_Extensions (>=4.10.0)") == ("typing-extensions", (), ">=4.10.0", "")


def test_a_stack_is_followed_through_extras_and_each_problem_is_named_exactly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(
        site,
        "torch",
        "2.14.1",
        {"torch/__init__.py": b"x" * 10, "torch/lib/libc10.so": b"\x7fELF" + b"0" * 60},
        ("kit[blas]==1.0", "absent>=2", "opt; extra == 'x'"),
    )
    _dist(site, "kit", "1.0", {"kit/__init__.py": b""}, ("nvblas==3.*; extra == 'blas'", "nvfft; extra == 'fft'"))
    _dist(site, "nvblas", "3.1", {"nv/blas/lib/libnvblas.so.3": b"B" * 100})
    (site / "torch" / "lib" / "libc10.so").write_bytes(b"\x7fELF")  # cut short
    (site / "nv" / "blas" / "lib" / "libnvblas.so.3").write_bytes(b"C" * 100)  # same size, other bytes
    sizes = install_record.verify_stack("none", ("torch",), [str(site)])
    assert [d["name"] for d in sizes["distributions"]] == ["torch", "kit", "nvblas"]
    assert sizes["missing_dependencies"] == [{"name": "absent", "spec": ">=2", "required_by": "torch"}]
    assert sizes["problems"] == [
        {"distribution": "torch", "version": "2.14.1", "path": "torch/lib/libc10.so", "kind": "size", "expected_size": 64, "size": 4}
    ]
    assert install_record.words(sizes["problems"][0]) == "torch/lib/libc10.so (torch 2.14.1) is 4 bytes, its RECORD says 64"
    assert sizes["libraries"] == {
        "libc10.so": str(site / "torch/lib/libc10.so"),
        "libnvblas.so.3": str(site / "nv/blas/lib/libnvblas.so.3"),
    }
    hashed = install_record.verify_stack("compiled", ("torch",), [str(site)])
    assert [p["path"] for p in hashed["problems"]] == ["torch/lib/libc10.so", "nv/blas/lib/libnvblas.so.3"]
    assert hashed["problems"][1]["kind"] == "hash"
    assert hashed["files_hashed"] == 1  # the damaged-by-size library is not hashed again


def test_a_missing_record_is_reported_with_its_installer(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = _dist(site, "torch", "2.14.1", {"torch/__init__.py": b""})
    (dist / "RECORD").unlink()
    (dist / "INSTALLER").write_text("conda\n")
    summary = install_record.verify_stack("none", ("torch",), [str(site)])
    assert summary["without_record"] == [{"name": "torch", "version": "2.14.1", "location": str(site), "installer": "conda"}]


@pytest.mark.integration
def test_a_same_size_change_in_the_real_stack_is_caught_by_its_hash_not_its_size(tmp_path: Path) -> None:
    try:
        python, site = bi.changed_in_place(tmp_path, "typing_extensions.py")
    except bi.Unavailable as why:
        pytest.skip(str(why))
    assert python.exists()
    sizes = install_record.verify_stack("none", ("typing-extensions",), [str(site)])
    assert sizes["problem_count"] == 0
    hashed = install_record.verify_stack("all", ("typing-extensions",), [str(site)])
    assert [(p["path"], p["kind"]) for p in hashed["problems"]] == [("typing_extensions.py", "hash")]
    assert (SITE / "typing_extensions.py").read_bytes() != (site / "typing_extensions.py").read_bytes()  # the original is untouched


def test_hashing_stops_at_its_time_limit_and_says_how_much_it_skipped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "torch", "2.14.1", {f"torch/lib/lib{i}.so": bytes(1000) for i in range(5)})
    summary = install_record.verify_stack("all", ("torch",), [str(site)], time_limit_s=1e-9)
    assert summary["hash_skipped"] == 5
    assert summary["problem_count"] == 0


def test_the_background_child_answers_once_and_keeps_its_answer() -> None:
    if not background.start("test-job", lambda: {"pid_differs": True}):
        pytest.skip("background work forks (Linux only)")
    assert background.result("test-job", 30.0) == {"pid_differs": True}
    assert background.result("test-job", 0.0) == {"pid_differs": True}
    assert background.result("never-started", 0.0) is None


def test_a_record_row_whose_path_holds_a_comma_is_read_as_csv(tmp_path: Path) -> None:
    import csv
    import io

    site = tmp_path / "site"
    dist = _dist(site, "torch", "2.14.1", {})
    (site / "torch").mkdir(exist_ok=True)
    (site / "torch" / "odd,name.py").write_bytes(b"12345")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["torch/odd,name.py", record_line("x", b"123456").split(",")[1], "6"])
    (dist / "RECORD").write_text(buffer.getvalue())
    summary = install_record.verify_stack("none", ("torch",), [str(site)])
    assert [(p["path"], p["kind"], p["size"]) for p in summary["problems"]] == [("torch/odd,name.py", "size", 5)]
