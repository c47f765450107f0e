"""preflight-diff A.json B.json: exit 0 nothing changed, 1 something did, 2 bad input (one line naming file and field)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from preflight_action import schemas
from preflight_action.diff import cli
from preflight_action.preflight.report import CheckResult
from tests.support import environments as envs
from tests.support.report_factory import build, report_doc


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
        "verdict: healthy -> blocking",
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
        "verdict: healthy -> blocking",
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


def kernel_log_report(
    score: int, error: str, finished_at: str, threshold: str | None = None, failures: dict[str, str] | None = None
) -> dict[str, Any]:
    """A real triaged report whose kernel.log fails with ``score`` (the check scores its worst Xid's band), then
    torch.import and tensor.smoke: failing with ``failures``' errors, else passing."""
    checks = [CheckResult("kernel.log", "fail", duration_ms=4.0, error=error, details={"score": score})]
    for check_id in ("torch.import", "tensor.smoke"):
        failed = (failures or {}).get(check_id)
        checks.append(CheckResult(check_id, "fail" if failed else "pass", duration_ms=3.0, error=failed))
    document = build(checks, node="node-a", backend="cuda", finished_at=finished_at)
    document["inventory"] = envs.inventory(envs.FLEET_PACKAGES)
    if threshold is not None:  # as `--strict-threshold low` judges the same failure: it blocks
        document["options"]["strict_threshold"] = threshold
        document["triage"]["blocking"] = True
        document["triage"]["blocking_checks"] = ["kernel.log"]
        document["triage"]["top_failed_checks"][0]["blocking"] = True
    schemas.validate(document, "preflight_report", "test report")
    return document


def test_a_check_that_fails_in_both_runs_in_a_worse_band_is_a_new_failure_and_error_words_alone_are_not(tmp_path: Path, capsys) -> None:
    low = kernel_log_report(29, "Xid 13 (pid 4411, 02:00:01): graphics engine exception\nmore", "2026-03-01T02:00:00.000Z")
    critical = kernel_log_report(95, "Xid 79 (pid 5120, 02:10:44): GPU has fallen off the bus\nmore", "2026-03-02T02:00:00.000Z")
    assert [t["band"] for t in low["triage"]["top_failed_checks"]] == ["low"]  # the real triage's bands
    assert [t["band"] for t in critical["triage"]["top_failed_checks"]] == ["critical"]
    a, b = write(tmp_path / "a.json", low), write(tmp_path / "b.json", critical)
    code, out, _ = run(capsys, a, b, "--output-json", str(tmp_path / "d.json"))
    assert code == 1
    assert out.splitlines()[1:4] == [
        "verdict: healthy -> blocking",
        "Checks whose outcome changed:",
        "  kernel.log fail (low) -> fail (critical): Xid 79 (pid 5120, 02:10:44): GPU has fallen off the bus",
    ]
    document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
    [change] = document["groups"][0]["changes"]
    assert (change["kind"], change["subject"], change["before"], change["after"]) == (
        "outcome",
        "kernel.log",
        "fail (low)",
        "fail (critical)",
    )
    assert document["counts"]["checks"] == 1  # the verdict's change rides on it, not counted again

    # ranked among the new failures: before a check that newly fails later in the run's order
    broken = kernel_log_report(
        95, "Xid 79: GPU has fallen off the bus", "2026-03-02T02:00:00.000Z", failures={"tensor.smoke": "RuntimeError: CUDA error"}
    )
    fixed = kernel_log_report(
        29, "Xid 13: graphics engine exception", "2026-03-01T02:00:00.000Z", failures={"torch.import": "ImportError: libcudart.so.13"}
    )
    code, out, _ = run(capsys, write(tmp_path / "c.json", fixed), write(tmp_path / "f.json", broken))
    assert out.splitlines()[2:6] == [
        "Checks whose outcome changed:",
        "  kernel.log fail (low) -> fail (critical): Xid 79: GPU has fallen off the bus",
        "  tensor.smoke pass -> fail: RuntimeError: CUDA error",
        "  torch.import fail -> pass",
    ]
    # and a band that got better ranks with the fixed
    code, out, _ = run(capsys, b, a)
    assert "  kernel.log fail (critical) -> fail (low): Xid 13 (pid 4411, 02:00:01): graphics engine exception" in out

    # the same band, other words (another pid, another time): no change
    again = kernel_log_report(95, "Xid 79 (pid 7001, 03:11:02): GPU has fallen off the bus", "2026-03-03T02:00:00.000Z")
    code, out, _ = run(capsys, b, write(tmp_path / "e.json", again))
    assert code == 0
    assert out.splitlines()[1:] == ["verdict: blocking in both", "nothing relevant changed"]


def test_the_verdict_shows_in_the_text_and_the_markdown_and_its_change_alone_is_a_change(tmp_path: Path, capsys) -> None:
    medium = kernel_log_report(29, "Xid 13: graphics engine exception", "2026-03-01T02:00:00.000Z")
    low = kernel_log_report(29, "Xid 13: graphics engine exception", "2026-03-02T02:00:00.000Z", threshold="low")
    a, b = write(tmp_path / "a.json", medium), write(tmp_path / "b.json", low)
    code, out, _ = run(capsys, a, b, "--output-json", str(tmp_path / "d.json"), "--output-md", str(tmp_path / "d.md"))
    assert code == 1  # no check's outcome changed, the verdict did
    assert out.splitlines()[1:] == [
        "verdict: healthy -> blocking",
        "note: the verdict changed though no check's outcome did: the runs were judged differently (strict threshold medium -> low)",
    ]
    document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
    assert (document["changed"], document["groups"], document["before"]["verdict"], document["after"]["verdict"]) == (
        True,
        [],
        "healthy",
        "blocking",
    )
    markdown = (tmp_path / "d.md").read_text(encoding="utf-8")
    assert "**Verdict: healthy -&gt; blocking**" in markdown
    assert "Nothing relevant changed" not in markdown
    code, out, _ = run(capsys, b, write(tmp_path / "c.json", {**low, "finished_at": "2026-03-03T02:00:00.000Z"}))
    assert (code, out.splitlines()[1:]) == (0, ["verdict: blocking in both", "nothing relevant changed"])


def test_one_node_s_reports_given_later_first_say_the_changes_read_backwards(tmp_path: Path, capsys) -> None:
    night1 = report(finished_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc))
    night2 = report({**envs.FLEET_PACKAGES, "torch": "2.14.1"}, finished_at=datetime(2026, 3, 2, 2, tzinfo=timezone.utc))
    earlier, later = write(tmp_path / "A.json", night1), write(tmp_path / "B.json", night2)
    code, out, _ = run(capsys, later, earlier, "--output-json", str(tmp_path / "d.json"))
    assert code == 1
    note = f"{later} finished after {earlier}: the changes read from the later run to the earlier (swap the arguments to read them forward)"
    assert f"note: {note}" in out.splitlines()
    assert "  torch 2.14.1 -> 2.14.0" in out.splitlines()
    assert schemas.read_json(tmp_path / "d.json", "preflight_diff")["notes"] == [note]
    code, out, _ = run(capsys, earlier, later)
    assert "finished after" not in out
    elsewhere = write(tmp_path / "C.json", report(node="node-b", finished_at=datetime(2026, 3, 3, 2, tzinfo=timezone.utc)))
    code, out, _ = run(capsys, elsewhere, earlier)  # two nodes: the order is which passes, which fails, not time
    assert "finished after" not in out
    assert "note: two nodes: node-b and node-a" in out


def test_a_figure_only_one_run_measured_is_named(tmp_path: Path, capsys) -> None:
    both = report(figures={"bf16": 700.0, "fp16": 790.0}, finished_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc))
    one = report(figures={"bf16": 702.0, "copy_tbs": 2.9}, finished_at=datetime(2026, 3, 2, 2, tzinfo=timezone.utc))
    a, b = write(tmp_path / "a.json", both), write(tmp_path / "b.json", one)
    code, out, _ = run(capsys, a, b, "--output-json", str(tmp_path / "d.json"))
    assert code == 1
    assert out.splitlines()[1:] == [
        "verdict: healthy in both",
        "Performance figures beyond their noise:",
        "  perf.bandwidth copy_tbs not measured -> 2.9",
        "  perf.matmul fp16 790 -> not measured",
    ]
    document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
    assert [(c["kind"], c["subject"], c["before"], c["after"]) for c in document["groups"][0]["changes"]] == [
        ("added", "perf.bandwidth copy_tbs", None, 2.9),
        ("removed", "perf.matmul fp16", 790.0, None),
    ]


def test_reports_with_no_inventory_say_which_run_lacks_it(tmp_path: Path, capsys) -> None:
    bare = report_doc(finished_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc))  # no inventory, a fingerprint of neither
    full = report(finished_at=datetime(2026, 3, 2, 2, tzinfo=timezone.utc))
    a, b = write(tmp_path / "a.json", bare), write(tmp_path / "b.json", full)
    expected = {
        (a, a): ("neither run recorded an inventory", "absent", "absent"),
        (a, b): ("the earlier run did not record an inventory", "absent", "full"),
        (b, a): ("the later run did not record an inventory", "full", "absent"),
    }
    for (first, second), (words, before, after) in expected.items():
        run(capsys, first, second, "--output-json", str(tmp_path / "d.json"))
        document = schemas.read_json(tmp_path / "d.json", "preflight_diff")
        assert [n for n in document["notes"] if n.endswith("not compared")] == [
            f"{words}: packages, variables and platform facts not compared"
        ]
        assert (document["before"]["inventory"], document["after"]["inventory"]) == (before, after)


def test_another_build_of_the_same_torch_is_changed_not_upgraded(tmp_path: Path, capsys) -> None:
    cuda = report({**envs.FLEET_PACKAGES, "torch": "2.14.1+cu130"}, finished_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc))
    cpu = report({**envs.FLEET_PACKAGES, "torch": "2.14.1+cpu"}, finished_at=datetime(2026, 3, 2, 2, tzinfo=timezone.utc))
    a, b = write(tmp_path / "a.json", cuda), write(tmp_path / "b.json", cpu)
    for first, second, words in ((a, b, "2.14.1+cu130 -> 2.14.1+cpu"), (b, a, "2.14.1+cpu -> 2.14.1+cu130")):
        code, out, _ = run(capsys, first, second, "--output-json", str(tmp_path / "d.json"))
        assert code == 1
        assert f"  torch {words} (another build of the same version)" in out.splitlines()
        [change] = schemas.read_json(tmp_path / "d.json", "preflight_diff")["groups"][0]["changes"]
        assert change["kind"] == "changed"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--bogus"], "preflight-diff: error: unrecognized arguments: --bogus"),
        (["a.json", "b.json", "--bogus"], "preflight-diff: error: unrecognized arguments: --bogus"),
        (["--outptu-json", "d.json"], "preflight-diff: error: unrecognized arguments: --outptu-json"),
        ([], "preflight-diff: error: the following arguments are required: A.json, B.json"),
        (["a.json"], "preflight-diff: error: the following arguments are required: B.json"),
    ],
)
def test_a_usage_error_is_one_line_that_names_the_unknown_flag_first(argv: list[str], said: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", said + "\n")  # no usage dump


def test_the_console_script_says_an_unknown_flag_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys; sys.argv = ['preflight-diff', '--bogus']; from preflight_entry import diff; sys.exit(diff())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "preflight-diff: error: unrecognized arguments: --bogus\n")
