"""--output-junit: JUnit XML read back with junitparser, one testcase per check, from a real run or an existing report."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from preflight_action.exports import junit
from preflight_action.preflight import report as report_module
from preflight_action.preflight.report import CheckResult
from tests.support.gate_reports import EXPORT, no_torch_python, run_preflight


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("junit")
    return run_preflight(where / "broken.json", python=no_torch_python(where / "venv"))


def _export(report: Path, out: Path) -> JUnitXml:
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(report), "--output-junit", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return JUnitXml.fromfile(str(out))


def test_one_testcase_per_check_with_failures_and_skips(broken: Path, tmp_path: Path) -> None:
    source = report_module.read(broken)
    xml = _export(broken, tmp_path / "junit.xml")
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    cases = {case.name: case for case in suite}
    assert list(cases) == [check.id for check in source.checks]
    assert (suite.tests, suite.failures, suite.skipped, suite.errors) == (
        len(source.checks),
        source.count("fail"),
        source.count("skip"),
        0,
    )
    [failure] = [r for r in cases["torch.import"].result if isinstance(r, Failure)]
    assert failure.message == "ModuleNotFoundError: No module named 'torch'"
    assert failure.type == "critical"
    assert "severity: critical (score 100), blocking: yes" in failure.text
    assert "action: Block release candidates" in failure.text
    [skipped] = cases["device.resolve"].result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "needs torch.import, which failed"
    assert all(cases[check.id].is_passed for check in source.checks if check.status == "pass")
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["verdict"] == "blocking"
    assert properties["node"] == source.host.node_id


def test_failure_carries_the_checks_remedy_when_the_report_has_one(broken: Path) -> None:
    if "remedy" not in CheckResult.__dataclass_fields__:
        pytest.skip("reports carry no remedy field yet (issue 12 adds it); the export reads it when present")
    source = report_module.read(broken)
    checks = [dataclasses.replace(c, remedy="python -m pip install torch") if c.id == "torch.import" else c for c in source.checks]
    xml = junit.build(dataclasses.replace(source, checks=checks))
    case = next(case for suite in xml for case in suite if case.name == "torch.import")
    assert "remedy: python -m pip install torch" in case.result[0].text


def test_real_passes_pass_and_simulated_ones_are_not_reported_as_passes(tmp_path: Path) -> None:
    document = json.loads(run_preflight(tmp_path / "healthy.json").read_text())
    real = junit.build(report_module.Report.from_dict(document))
    passed = [case.name for suite in real for case in suite if case.is_passed]
    assert "torch.import" in passed
    assert "tensor.smoke" in passed
    document["simulated"] = True
    xml = junit.build(report_module.Report.from_dict(document))
    results = [case.result for suite in xml for case in suite]
    assert all(results)  # every case is a failure or a skip, none a bare pass
    assert any(isinstance(r[0], Skipped) and r[0].message == "simulated run: not a real pass" for r in results)


def test_control_characters_from_a_worker_do_not_break_the_xml(broken: Path, tmp_path: Path) -> None:
    document = json.loads(broken.read_text())
    for check in document["checks"]:
        if check["id"] == "torch.import":
            check["error"] = "\x1b[31mSegmentation fault\x1b[0m\x00 in <module> & more"
    out = tmp_path / "junit.xml"
    junit.write(report_module.Report.from_dict(document), out)
    case = next(case for suite in JUnitXml.fromfile(str(out)) for case in suite if case.name == "torch.import")
    assert case.result[0].message == "[31mSegmentation fault[0m in <module> & more"


def test_a_bad_report_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"checks": []}')
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(bad), "--output-junit", str(tmp_path / "j.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"export.py: error: {bad}")
    assert not (tmp_path / "j.xml").exists()


def test_a_report_nested_past_any_parser_is_one_line_and_exit_2(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")  # used to end in a RecursionError
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(deep), "--output-junit", str(tmp_path / "j.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"export.py: error: {deep}: nested more than 64 levels deep"]
    assert not (tmp_path / "j.xml").exists()


def test_the_preflight_writes_both_exports_after_its_report(tmp_path: Path) -> None:
    junit_path, prom_path = tmp_path / "out" / "junit.xml", tmp_path / "textfile" / "preflight.prom"
    report = report_module.read(run_preflight(tmp_path / "report.json", "--output-junit", str(junit_path), "--output-prom", str(prom_path)))
    [suite] = list(JUnitXml.fromfile(str(junit_path)))
    assert [case.name for case in suite] == [check.id for check in report.checks]
    assert suite.failures == report.count("fail")
    text = prom_path.read_text()
    assert f'preflight_report_blocking{{device="{report.resolved_device}",level=' in text


@pytest.fixture(scope="module")
def not_judged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real run the budget cut (--budget 0.5: no required check finished) and an interrupted run's report."""
    from tests.support import report_factory

    where = tmp_path_factory.mktemp("not-judged")
    cut = run_preflight(where / "cut.json", "--level", "quick", "--budget", "0.5")
    interrupted = where / "interrupted.json"
    interrupted.write_text(json.dumps(report_factory.interrupted(node="gpu-03")))
    return {"cut": cut, "interrupted": interrupted}


@pytest.mark.parametrize("case", ["cut", "interrupted"])
def test_a_not_judged_report_never_exports_as_passing(not_judged: dict[str, Path], case: str, tmp_path: Path) -> None:
    from junitparser import Error

    source = report_module.read(not_judged[case])
    assert source.verdict == "not_judged"
    xml = _export(not_judged[case], tmp_path / "junit.xml")
    [suite] = list(xml)
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["verdict"] == "not_judged"
    assert properties["status"] == "incomplete"
    assert suite.errors == len(source.unfinished) > 0  # CI test reports count errors: the run is red, not green
    errors = {case.name: case.result[0] for case in suite if case.result and isinstance(case.result[0], Error)}
    assert set(errors) == {c.id for c in source.unfinished}
    first = errors[source.unfinished[0].id]
    assert first.message.startswith("not judged: ")
    assert first.type.startswith("not_judged.")


def test_ctrl_c_during_an_export_is_one_line_and_leaves_no_half_file(broken: Path, tmp_path: Path) -> None:
    """SIGINT at moments through a real export: exit 130 with one line (or the signal, when the export was done),
    no traceback, and each output either absent or whole."""
    import signal
    import time

    from tests.support import console

    outcomes = set()
    for attempt in range(12):
        junit_path, prom_path = tmp_path / "junit.xml", tmp_path / "preflight.prom"
        for old in (junit_path, prom_path):
            old.unlink(missing_ok=True)
        argv = ["--from-report", str(broken), "--output-junit", str(junit_path), "--output-prom", str(prom_path)]
        proc = console.started("export", "preflight-export", argv)
        time.sleep(0.02 * (attempt + 1))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        outcomes.add(proc.returncode)
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        assert "Traceback" not in err, err
        if proc.returncode == 130:
            assert [line for line in err.splitlines() if not line.startswith("wrote ")] == ["preflight-export: interrupted by SIGINT"]
        if junit_path.exists():
            JUnitXml.fromfile(str(junit_path))  # whole, or not there
        if prom_path.exists():
            assert prom_path.read_text().endswith("\n")
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert outcomes & {130, -signal.SIGINT}
