"""--history at a path that cannot be a history (a parent that is a file, a symlink loop, a FIFO): one line naming the
flag, exit 2, the summary still written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from preflight_action.summary import cli
from tests.support.report_factory import report_doc


@pytest.mark.parametrize("shape", ["parent-is-a-file", "symlink-loop", "fifo", "directory"])
def test_a_history_path_that_cannot_be_one_is_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(report_doc()), encoding="utf-8")
    if shape == "parent-is-a-file":
        (tmp_path / "notes.md").write_text("a file\n")
        history, why = tmp_path / "notes.md" / "history.jsonl", "cannot be read or written (Not a directory)"
    elif shape == "symlink-loop":
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        history, why = tmp_path / "a", "cannot be read or written (Too many levels of symbolic links)"
    elif shape == "fifo":
        history, why = tmp_path / "h.jsonl", "not a regular file (a FIFO): a history is a JSON-lines file"
        os.mkfifo(history)
    else:
        history, why = tmp_path, "not a regular file (a directory): a history is a JSON-lines file"
    out = tmp_path / "summary.json"
    code = cli.main(["--input-glob", str(report), "--history", str(history), "--output-json", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert f"summarize: error: --history {history}: {why}" in err.splitlines()
    assert json.loads(out.read_text(encoding="utf-8"))["reports"], "the summary is still written"
