"""preflight-diff A.json B.json: exit 0 nothing changed, 1 something did, 2 bad input (one line naming file and field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.diff import cli
from tests.support import environments as envs
from tests.support.report_factory import report_doc


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def report(packages: dict[str, str] | None = None, variables: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    document = report_doc(**kwargs)
    document["inventory"] = envs.inventory(packages or envs.FLEET_PACKAGES, variables)
    schemas.validate(document, "preflight_report", "test report")
    return document


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_two_runs_that_differ_only_in_timings_and_timestamps_differ_in_nothing(tmp_path: Path, capsys) -> None:
    first = report()
    second = json.loads(json.dumps(first))
    second["finished_at"] = "2030-01-01T00:00:00.000Z"
    second["duration_ms"] = 99999.0
    for check in second["checks"]:
        check["duration_ms"] *= 3
    code, out, err = run(
        capsys, write(tmp_path / "a.json", first), write(tmp_path / "b.json", second), "--output-json", str(tmp_path / "d.json")
    )
    assert (code, err) == (0, "")
    assert "nothing relevant changed" in out
    document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
    assert document["changed"] is False
    assert document["groups"] == []


def test_what_changed_is_grouped_in_the_json_and_the_markdown_and_exits_1(tmp_path: Path, capsys) -> None:
    before = report()
    after = report({**envs.FLEET_PACKAGES, "torch": "2.14.1"}, {"NCCL_ALGO": "Ring"}, failures={"tensor.smoke": "RuntimeError: CUDA error"})
    a, b = write(tmp_path / "a.json", before), write(tmp_path / "b.json", after)
    code, out, _ = run(capsys, a, b, "--output-json", str(tmp_path / "d.json"), "--output-md", str(tmp_path / "d.md"))
    assert code == 1
    document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
    assert [(g["group"], [c["text"] for c in g["changes"]]) for g in document["groups"]] == [
        ("checks", ["tensor.smoke pass -> fail: RuntimeError: CUDA error"]),
        ("runtime", ["torch 2.14.0 -> 2.14.1"]),
        ("environment", ["NCCL_ALGO set (Ring)"]),
    ]
    assert document["counts"] == {"checks": 1, "runtime": 1, "packages": 0, "environment": 1, "capabilities": 0, "performance": 0}
    assert (document["before"]["inventory"], document["after"]["verdict"]) == ("full", "blocking")
    markdown = (tmp_path / "d.md").read_text(encoding="utf-8")
    assert markdown.index("### Checks whose outcome changed") < markdown.index("### Runtime") < markdown.index("### Environment variables")
    assert "| torch 2.14.0 -&gt; 2.14.1 | `2.14.0` | `2.14.1` |" in markdown  # ">" escaped: GitHub shows ->
    assert out.splitlines()[1:] == [
        "Checks whose outcome changed:",
        "  tensor.smoke pass -> fail: RuntimeError: CUDA error",
        "Runtime (torch, torchvision, CUDA, driver, Python):",
        "  torch 2.14.0 -> 2.14.1",
        "Environment variables:",
        "  NCCL_ALGO set (Ring)",
    ]


def test_the_same_failure_with_nothing_changed_in_what_ran_points_at_the_hardware(tmp_path: Path, capsys) -> None:
    before = report(figures={"bf16": 700.0})
    after = report(failures={"perf.matmul": "bf16 340 TFLOP/s, 44% of the H100 reference"}, figures={"bf16": 340.0})
    code, out, _ = run(capsys, write(tmp_path / "a.json", before), write(tmp_path / "b.json", after))
    assert code == 1
    assert out.splitlines()[1:] == [
        "Checks whose outcome changed:",
        "  perf.matmul pass -> fail: bf16 340 TFLOP/s, 44% of the H100 reference",
        "Performance figures beyond their noise:",
        "  perf.matmul bf16 700 -> 340 (-51%)",
        "nothing in the inventory changed: that points at the hardware or the driver",
    ]
    again = report(failures={"perf.matmul": "bf16 340 TFLOP/s, 44% of the H100 reference"}, figures={"bf16": 338.0})
    code, out, _ = run(capsys, write(tmp_path / "b.json", after), write(tmp_path / "c.json", again), "--output-md", str(tmp_path / "d.md"))
    assert code == 0  # the same failure, nothing changed
    assert "The same failure with nothing changed in what ran points at the hardware or the driver." in (tmp_path / "d.md").read_text()


def test_a_summary_given_where_a_report_is_needed_is_one_line_naming_the_file_and_field(tmp_path: Path, capsys) -> None:
    good = write(tmp_path / "a.json", report())
    summary = write(tmp_path / "summary.json", {"kind": "preflight-summary", "schema_version": "1.1", "reports": []})
    code, out, err = run(capsys, good, summary)
    assert (code, out) == (2, "")
    assert (
        err
        == f"preflight-diff: error: {summary}: /kind: a preflight summary, not a report (give two reports: runtime-preflight --output-path)\n"
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p, d: p.write_text("{not json", encoding="utf-8"), "malformed JSON at line 1 column 2"),
        (
            lambda p, d: p.write_text(json.dumps({**d, "inventory": {"platform": {}}}), encoding="utf-8"),
            "/inventory: 'environment' is a required property",
        ),
        (
            lambda p, d: p.write_text(json.dumps({**d, "schema_version": "2.0"}), encoding="utf-8"),
            "/schema_version: major 2 cannot be compared with",
        ),
    ],
    ids=["malformed", "schema", "major"],
)
def test_bad_input_is_one_line_naming_the_file_and_the_field_and_exit_2(tmp_path: Path, capsys, mutate, expected: str) -> None:
    good = write(tmp_path / "a.json", report())
    bad = tmp_path / "b.json"
    mutate(bad, report())
    code, out, err = run(capsys, good, str(bad))
    assert (code, out) == (2, "")
    assert err.startswith(f"preflight-diff: error: {bad}: ")
    assert expected in err
    assert len(err.splitlines()) == 1


def test_a_report_written_before_the_inventory_is_compared_on_its_fingerprint(tmp_path: Path, capsys) -> None:
    old = report_doc()
    old["env_fingerprint"]["payload"] = {"packages": {"torch": "2.14.0", "numpy": "2.4.6"}, "environment": {}, "capabilities": {}}
    new = report({**envs.FLEET_PACKAGES, "torch": "2.14.1"})
    code, out, _ = run(capsys, write(tmp_path / "a.json", old), write(tmp_path / "b.json", new), "--output-json", str(tmp_path / "d.json"))
    assert code == 1
    document = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert document["before"]["inventory"] == "partial"
    assert [c["text"] for g in document["groups"] for c in g["changes"]] == ["torch 2.14.0 -> 2.14.1"]
    assert any("written before the inventory" in note for note in document["notes"])
    assert "note: packages: one run was written before the inventory" in out


def test_an_unwritable_output_is_a_usage_error_before_anything_runs(tmp_path: Path, capsys) -> None:
    a = write(tmp_path / "a.json", report())
    with pytest.raises(SystemExit) as exit_info:
        cli.main([a, a, "--output-json", str(tmp_path / "a.json" / "d.json")])  # under a file: never a folder
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--output-json: {tmp_path / 'a.json' / 'd.json'}" in err
