"""A worker that died or never started is explained from evidence only: its signal, its stderr, its limits, the RECORD."""

from __future__ import annotations

import json

from preflight_action.preflight import crash, isolated

IMPORTING = "preflight_probe: importing torch from /env/torch (installed: 2.14.1)"


def _evidence(rlimits: dict[str, object], sys_path: list[str] | None = None) -> str:
    return "preflight_probe: evidence " + json.dumps({"rlimits": rlimits, "sys_path": sys_path or []})


def test_an_address_space_limit_explains_an_import_that_aborts() -> None:
    lines = [
        _evidence({"as": {"soft": 3 << 30, "hard": None}}),
        IMPORTING,
        "terminate called after throwing an instance of 'std::bad_alloc'",
    ]
    said = isolated.explain("torch.import", "the worker was killed by SIGABRT (exit -6)", lines, True, "/env/bin/python", 60)
    assert "the address space limit (RLIMIT_AS, 3072 MiB) is too small to map torch's libraries" in said.error
    assert said.remedy.startswith("remove the address-space limit for this job")
    assert "stderr: terminate called after throwing an instance of 'std::bad_alloc'" in said.remedy
    assert said.details["diagnosis"]["cause"] == "resource_limit"
    assert "preflight_probe: evidence" not in said.error  # the worker's own facts are not shown as its output


def test_a_crash_under_a_generous_address_space_limit_is_not_blamed_on_it(tmp_path) -> None:
    """Every crash happens under some limit: one above what policy says a PyTorch job needs explains nothing."""
    lines = [_evidence({"as": {"soft": 39 << 30, "hard": None}, "stack": {"soft": 8 << 20, "hard": None}}, [str(tmp_path)]), IMPORTING]
    said = isolated.explain("torch.import", "the worker was killed by SIGSEGV (exit -11)", lines, True, "/env/bin/python", 60)
    assert said.details["diagnosis"]["cause"] == "not_identified"
    assert "ulimit -v unlimited" not in said.remedy
    tight = [_evidence({"as": {"soft": 3 << 30, "hard": None}}, [str(tmp_path)]), IMPORTING]  # no words, but below the floor
    said = isolated.explain("torch.import", "the worker was killed by SIGSEGV (exit -11)", tight, True, "/env/bin/python", 60)
    assert said.details["diagnosis"]["cause"] == "resource_limit"
    assert "below the 16384 MiB policy/surroundings.yaml asks" in said.remedy


def test_a_crash_with_no_evidence_says_cause_not_identified_and_the_next_step(tmp_path) -> None:
    lines = [_evidence({"as": {"soft": None, "hard": None}, "stack": {"soft": 8 << 20, "hard": None}}, [str(tmp_path)]), IMPORTING]
    said = isolated.explain("torch.import", "the worker was killed by SIGSEGV (exit -11)", lines, True, "/env/bin/python", 60)
    assert "cause not identified" in said.error
    assert said.remedy.startswith("cause not identified: run /env/bin/python -X faulthandler -c 'import torch'")
    assert "reinstall" not in said.remedy
    assert said.details["diagnosis"]["next_step"]


def test_a_crash_of_another_check_is_not_blamed_on_torch_without_evidence() -> None:
    said = isolated.explain("tensor.smoke", "the worker was killed by SIGSEGV (exit -11)", ["boom"], True, "/py", 60)
    assert "reinstall" not in said.remedy
    assert said.details["diagnosis"]["cause"] == "not_identified"


def test_pythonhome_is_read_from_the_interpreters_own_configuration_dump() -> None:
    lines = [
        "Python path configuration:",
        "  PYTHONHOME = '/opt/old'",
        "Fatal Python error: init_fs_encoding: failed to get the Python codec",
    ]
    cause, fix, proof = crash.interpreter_environment(lines) or ("", "", [])
    assert cause == "PYTHONHOME='/opt/old' points the interpreter at a standard library it cannot load"
    assert fix.startswith("unset PYTHONHOME")
    assert proof[0] == "PYTHONHOME=/opt/old"


def test_a_project_file_shadowing_the_standard_library_is_named() -> None:
    lines = ['  File "/home/u/project/json.py", line 3, in <module>', "ImportError: helpers"]
    cause, fix, _ = crash.interpreter_environment(lines) or ("", "", [])
    assert cause == "/home/u/project/json.py shadows the standard library's json module"
    assert fix.startswith("rename /home/u/project/json.py")
    assert crash.interpreter_environment(['  File "/usr/lib/python3.11/json/__init__.py", line 3']) is None


def test_an_interpreter_killed_before_its_first_line_is_not_called_a_non_python() -> None:
    said = isolated.explain("torch.import", "the worker was killed by SIGSEGV (exit -11)", [], False, "/env/bin/python", 60)
    assert said.never_started
    assert (
        said.error == "/env/bin/python was killed by SIGSEGV (exit -11) before it started the probe, printing nothing; cause not identified"
    )
    assert "is not one" not in said.remedy
