"""GitHub annotations for failed checks: escaping per the workflow-command rules and the per-step caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.github import annotations
from preflight_action.summary import annotate
from preflight_action.summary import cli as cli_summarize
from tests.summary.test_summary import matrix_docs, report_doc, summarize, write_reports


def test_message_escaping_keeps_one_command_per_line() -> None:
    line = annotations.command("error", "50% done\r\nsecond line\n::warning::fake", title="a: b, c")
    assert line == "::error title=a%3A b%2C c::50%25 done%0D%0Asecond line%0A::warning::fake"
    assert "\n" not in line


def test_property_escaping_encodes_colon_and_comma_but_data_does_not() -> None:
    assert annotations.escape_property("x:y,z%") == "x%3Ay%2Cz%25"
    assert annotations.escape_data("x:y,z%") == "x:y,z%25"


def test_blocking_failures_are_errors_others_warnings(tmp_path: Path) -> None:
    documents = [*matrix_docs(), report_doc("mac", "mps", {"compile.smoke": "inductor failed"})]
    lines = annotations.lines(annotate.findings(summarize(tmp_path, documents)))
    kinds = [(line.split("::")[1].split(" ")[0], line.split("title=")[1].split("::")[0]) for line in lines]
    assert kinds == [
        ("error", "preflight critical%3A tensor.smoke"),
        ("error", "preflight medium%3A torchvision.import"),
        ("warning", "preflight low%3A compile.smoke"),  # experimental backend: low band, not blocking
        ("warning", "preflight%3A stale reports"),
    ]
    assert lines[0].endswith(
        "tensor.smoke failed in 2 of 6 reports (cuda): RuntimeError: CUDA error: illegal memory access%0ABlock release candidates and fix before merge."
    )


def test_more_than_ten_of_a_kind_are_capped_with_a_closing_count(tmp_path: Path) -> None:
    failures = {f"custom.check_{i:02d}": f"failure {i}" for i in range(14)}  # default score 50: low band, warnings
    lines = annotations.lines(annotate.findings(summarize(tmp_path, [report_doc("n", "cpu", failures)])))
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(warnings) == annotations.MAX_PER_KIND
    assert (
        warnings[-1] == "::warning title=preflight%3A more::5 more warnings not annotated (GitHub shows 10 per step); see the job summary"
    )
    assert not [line for line in lines if line.startswith("::error")]


def test_invalid_inputs_are_warned_about(tmp_path: Path) -> None:
    merged = summarize(tmp_path, [report_doc("ok", "cpu")])
    assert annotations.lines(annotate.findings(merged)) == []
    (tmp_path / "in" / "torn.json").write_text("{", encoding="utf-8")
    from preflight_action.preflight import severity as policy
    from preflight_action.summary import load as summary_load
    from preflight_action.summary import model as summary

    merged = summary.build(summary_load.load_reports(summary_load.expand([str(tmp_path / "in" / "*.json")])), policy.load())
    [line] = annotations.lines(annotate.findings(merged))
    assert line.startswith("::warning title=preflight%3A invalid input::")
    assert "torn.json: malformed JSON" in line


def test_cli_prints_annotations_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_reports(tmp_path, [report_doc("gpu", "cuda", {"tensor.smoke": "boom\nsecond"})])
    assert cli_summarize.main(["--input-glob", str(tmp_path / "*.json"), "--annotations", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "::error title=preflight critical%3A tensor.smoke::tensor.smoke failed in 1 of 1 report (cuda): boom%0ABlock release candidates and fix before merge."
    ]


def test_controls_and_bidi_overrides_show_as_escapes_and_unknown_kinds_are_refused() -> None:
    line = annotations.command("warning", "evil\u202egnp.exe \x1b[31mred", title="check\u2066")
    assert line == "::warning title=check\\u2066::evil\\u202egnp.exe \\x1b[31mred"
    with pytest.raises(ValueError, match="no workflow command 'add-mask'"):
        annotations.command("add-mask", "x")


def test_lines_put_errors_first_and_cap_each_kind() -> None:
    items = [annotations.Annotation("warning", None, f"w{i}") for i in range(3)] + [annotations.Annotation("error", "t", "e")]
    assert annotations.lines(items, cap=2) == [
        "::error title=t::e",
        "::warning::w0",
        "::warning title=preflight%3A more::2 more warnings not annotated (GitHub shows 2 per step); see the job summary",
    ]
