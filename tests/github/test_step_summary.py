"""The job summary writer: sections appended within GitHub's 1 MiB, cut with a note that points to the whole."""

from __future__ import annotations

from pathlib import Path

from preflight_action.github import step_summary
from preflight_action.github.limits import STEP_SUMMARY


def test_sections_are_appended_one_after_another(tmp_path: Path) -> None:
    target = tmp_path / "step.md"
    assert step_summary.append(target, "## first\n", "unused") is None
    assert step_summary.append(target, "## second\n", "unused") is None
    assert target.read_text(encoding="utf-8") == "## first\n\n## second\n"


def test_a_section_over_its_share_is_cut_at_a_line_with_a_note_naming_where_the_whole_is(tmp_path: Path) -> None:
    target = tmp_path / "step.md"
    text = "".join(f"| row {i} | {'x' * 50} |\n" for i in range(2000))
    assert step_summary.append(target, text, "The whole report is outputs/preflight.json.", share=4096) is None
    written = target.read_text(encoding="utf-8")
    assert len(written.encode("utf-8")) <= 4096
    assert written.startswith("| row 0 |")
    assert written.endswith("> Cut to fit GitHub's job summary limit. The whole report is outputs/preflight.json.\n")
    assert "| row 1999 |" not in written


def test_a_summary_with_no_room_left_is_not_touched_and_says_why(tmp_path: Path) -> None:
    target = tmp_path / "step.md"
    target.write_text("x" * (STEP_SUMMARY.size - 600), encoding="utf-8")
    why = step_summary.append(target, "## ours\n", "unused")
    assert why == f"job summary already holds {STEP_SUMMARY.size - 600} bytes; the section was not added (GitHub's 1 MiB limit)"
    assert target.stat().st_size == STEP_SUMMARY.size - 600
    assert step_summary.room(target) == 598


def test_the_target_comes_from_the_actions_environment() -> None:
    assert step_summary.target({"GITHUB_STEP_SUMMARY": "/tmp/s.md"}) == "/tmp/s.md"
    assert step_summary.target({"GITHUB_STEP_SUMMARY": ""}) is None
    assert step_summary.target({}) is None
