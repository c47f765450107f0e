"""Hostile report files (as a fork's pull request could upload them) through ``summarize``: one line naming the file,
the exit code, the other reports still summarized, every output still written, and nothing unsafe published."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from preflight_action import untrusted
from preflight_action.summary import serialise as summary_json
from tests.summary.test_summary import report_doc, run_cli, write_reports
from tests.support.github_fake import FakeGitHub

TOKEN = "ghs_fakeTokenForHostileInputs0123456789"
BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "evil\u202egnp.exe" reads as "evilexe.png"


def deep(path: Path) -> str:
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")  # 600 KB of nested objects
    return "nested more than 64 levels deep"


def huge_file(path: Path) -> str:
    size = untrusted.MAX_BYTES * 4
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse: refused from its size, never read
    return f"{size:,} bytes, more than the {untrusted.MAX_BYTES:,} a reader accepts"


def huge_string(path: Path) -> str:
    document = report_doc("stranger", "cuda", {"tensor.smoke": "x" * (untrusted.MAX_STRING + 5)})
    path.write_text(json.dumps(document), encoding="utf-8")
    index = [check["id"] for check in document["checks"]].index("tensor.smoke")
    return f"/checks/{index}/error: a string of {untrusted.MAX_STRING + 5} characters (at most {untrusted.MAX_STRING})"


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str, dict[str, object], str]:
    out = tmp_path / "out"
    argv = ["--input-glob", str(tmp_path / "in" / "*.json"), "--output-json", str(out / "s.json"), "--output-md", str(out / "s.md")]
    code, stdout, stderr = run_cli([*argv, "--quiet", *extra], capsys)
    return code, stdout, stderr, summary_json.read(out / "s.json"), (out / "s.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("hostile", [deep, huge_file, huge_string], ids=["deep-nesting", "huge-file", "huge-string"])
def test_a_hostile_report_is_one_line_and_the_others_are_still_summarized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: Callable[[Path], str]
) -> None:
    write_reports(tmp_path / "in", [report_doc("good-1", "cuda"), report_doc("good-2", "cpu", {"torchvision.import": "No module"})])
    path = tmp_path / "in" / "zz-stranger.json"
    reason = hostile(path)
    code, _out, err, written, markdown = run(tmp_path, capsys)
    assert code == 2
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "stranger" in line] == [f"summarize: invalid input {path}: {reason}"]
    counts = written["counts"]
    assert isinstance(counts, dict)
    assert (counts["reports"], counts["failed"], counts["invalid"]) == (2, 1, 1)
    assert written["invalid_inputs"] == [{"path": str(path), "reason": reason, "problems": []}]
    for name in ("good-1", "good-2", "zz-stranger.json"):
        assert name in markdown
    assert run(tmp_path, capsys, "--allow-invalid")[0] == 0


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeGitHub, Path]]:
    with FakeGitHub() as fake:
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 7}}), encoding="utf-8")
        step = tmp_path / "step.md"
        for name, value in {
            "GITHUB_REPOSITORY": "octo/demo",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_STEP_SUMMARY": str(step),
            "GITHUB_API_URL": fake.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield fake, step


def test_control_and_bidi_characters_never_reach_what_github_renders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], github: tuple[FakeGitHub, Path]
) -> None:
    fake, step = github
    stranger = report_doc("stranger", "cuda", {"tensor.smoke": "PLACEHOLDER"})
    index = [check["id"] for check in stranger["checks"]].index("tensor.smoke")
    hostile = json.dumps(f"RuntimeError: evil{BIDI}gnp.exe \x1b[2J\x1b[31mred\x07", ensure_ascii=False)[1:-1]
    write_reports(tmp_path / "in", [report_doc("good-1", "cuda")])
    path = tmp_path / "in" / "zz-stranger.json"  # written as a stranger would: the error and its triage copy, raw
    path.write_text(json.dumps(stranger, ensure_ascii=False).replace("PLACEHOLDER", hostile), encoding="utf-8")
    code, stdout, err, written, markdown = run(tmp_path, capsys, "--step-summary", "--post-comment", "--annotations")
    assert code == 0  # a valid report, read with its characters escaped: a note, not bad input
    assert [line for line in err.splitlines() if "stranger" in line] == [
        f"summarize: warning: {path}: /checks/{index}/error: control or bidirectional-override characters, shown as escapes"
    ]
    assert written["counts"] == {**written["counts"], "reports": 2, "failed": 1, "invalid": 0}  # type: ignore[dict-item]
    [comment] = fake.comments()
    published = {
        "markdown": markdown,
        "job summary": step.read_text(encoding="utf-8"),
        "PR comment": comment["body"],
        "annotations": stdout,
    }
    for where, text in published.items():
        assert not untrusted.has_unsafe(text.replace("\n", "")), where
        assert "evil\\u202egnp.exe" in text, where  # shown, as the escape it is
    assert "evil\\u202egnp.exe \\x1b[2J\\x1b[31mred\\x07" in markdown
    assert not untrusted.has_unsafe((tmp_path / "out" / "s.json").read_text(encoding="utf-8").replace("\n", ""))
    [failed] = written["top_failed_checks"]  # type: ignore[misc]
    assert failed["error"] == "RuntimeError: evil\\u202egnp.exe \\x1b[2J\\x1b[31mred\\x07"


def test_a_report_from_the_future_is_invalid_input_not_the_freshest(tmp_path) -> None:
    """A report dated years ahead would be every node's 'latest' and never stale: refused like the gate refuses it."""
    from datetime import datetime, timedelta, timezone

    from preflight_action.summary import load
    from tests.support.report_factory import report_doc, write

    ahead = (datetime.now(timezone.utc) + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    future = report_doc(node="gpu-07")
    future["finished_at"] = ahead
    pattern = write(tmp_path / "reports", [future, report_doc(node="gpu-08")])
    found = load.load_reports(load.expand([pattern]))
    assert [r.report.host.node_id for r in found.reports] == ["gpu-08"]
    (bad,) = found.invalid
    assert bad.reason.startswith(f"/finished_at: {ahead} is ")
    assert "s in the future (more than the 300 s of clock skew allowed)" in bad.reason
