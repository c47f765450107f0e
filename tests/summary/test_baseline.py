"""--baseline github against the local fake GitHub server, through real PyGithub: runs, artifacts, download, failures."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from preflight_action.summary import cli
from preflight_action.summary import serialise as summary_json
from tests.support.github_fake import FakeGitHub
from tests.support.report_factory import report_doc, write

TOKEN = "ghs_fakeTokenForTheBaseline0123456789"
ILLEGAL = "RuntimeError: CUDA error: an illegal memory access was encountered"


@pytest.fixture
def fake() -> Any:
    with FakeGitHub() as server:
        yield server


def summary_zip(tmp_path: Path, documents: list[dict[str, Any]]) -> bytes:
    """The runtime-preflight-summary artifact as upload-artifact zips it: the Markdown and the JSON."""
    pattern = write(tmp_path / "base-in", documents)
    out_json, out_md = tmp_path / "base" / "preflight_summary.json", tmp_path / "base" / "preflight_summary.md"
    assert cli.main(["--input-glob", pattern, "--output-json", str(out_json), "--output-md", str(out_md), "--quiet"]) == 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(out_md, "preflight_summary.md")
        archive.write(out_json, "preflight_summary.json")
    return buffer.getvalue()


def run(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", "octo/demo/.github/workflows/ci.yml@refs/pull/7/merge")
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    head = [report_doc("node-a", failures={"tensor.smoke": ILLEGAL}), report_doc("node-b")]
    pattern = write(tmp_path / "head-in", head)
    out = tmp_path / "head.json"
    code = cli.main(
        ["--input-glob", pattern, "--output-json", str(out), "--baseline", "github", "--fail-on", "regression", "--quiet", *extra]
    )
    return code, summary_json.read(out)


def test_the_base_branchs_last_successful_run_is_the_baseline(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    old = fake.add_run(branch="main", artifacts={"runtime-preflight-summary": summary_zip(tmp_path, [report_doc("node-b")])})
    latest = fake.add_run(
        branch="main",
        artifacts={
            "runtime-preflight-summary": summary_zip(
                tmp_path, [report_doc("node-a", failures={"tensor.smoke": ILLEGAL}), report_doc("node-b")]
            )
        },
    )
    fake.add_run(branch="main", conclusion="failure", artifacts={"runtime-preflight-summary": b"not used"})
    fake.add_run(branch="feature", artifacts={"runtime-preflight-summary": b"not used"})
    code, document = run(tmp_path, fake, monkeypatch)
    delta = document["delta"]
    assert delta["baseline"]["source"] == "github"
    assert delta["baseline"]["location"].startswith(f"https://github.com/octo/demo/actions/runs/{latest}")
    assert [(i["node_id"], i["check_id"]) for i in delta["still_failing"]] == [("node-a", "tensor.smoke")]
    assert delta["new_failures"] == []
    assert code == 0  # the lane was already broken on main
    listed = fake.calls("GET", r"/actions/workflows/\d+/runs$")
    assert listed[0].query == {"branch": "main", "status": "success", "per_page": "50"}
    assert all(r.authorization == f"token {TOKEN}" or r.authorization == f"Bearer {TOKEN}" for r in fake.calls(path_regex=r"^/repos/"))
    (blob,) = fake.calls("GET", r"^/blob/")
    assert blob.authorization is None  # the token does not follow the redirect to the blob host
    assert old != latest


def test_no_successful_run_is_a_note_and_every_failure_is_new(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_run(branch="main", conclusion="failure")
    code, document = run(tmp_path, fake, monkeypatch)
    assert "no successful ci.yml run on main" in document["delta"]["note"]
    assert [i["node_id"] for i in document["delta"]["new_failures"]] == ["node-a"]
    assert code == 1


def test_a_run_without_the_artifact_is_a_note(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = fake.add_run(branch="main", artifacts={"runtime-preflight-ubuntu-py3.12": b"zip"})
    _, document = run(tmp_path, fake, monkeypatch)
    assert document["delta"]["note"].startswith(f"no baseline: run {run_id} on main has no runtime-preflight-summary artifact")


def test_an_expired_artifact_is_a_note_and_is_not_downloaded(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_run(
        branch="main",
        artifacts={"runtime-preflight-summary": summary_zip(tmp_path, [report_doc()])},
        expired=("runtime-preflight-summary",),
    )
    code, document = run(tmp_path, fake, monkeypatch)
    assert "has expired" in document["delta"]["note"]
    assert fake.calls("GET", r"/zip$") == []
    assert code == 1


def test_403_is_a_note_not_an_error(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_run(branch="main", artifacts={"runtime-preflight-summary": summary_zip(tmp_path, [report_doc()])})
    fake.fail("GET", r"/actions/runs/\d+/artifacts$", 403, "Resource not accessible by integration")
    code, document = run(tmp_path, fake, monkeypatch, "--fail-on", "never")
    assert (
        document["delta"]["note"] == "no baseline: GitHub answered 403: Resource not accessible by integration; every failure counts as new"
    )
    assert code == 0
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "Traceback" not in err


def test_a_download_that_is_not_a_summary_is_a_note(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_run(branch="main", artifacts={"runtime-preflight-summary": b"PK\x03\x04 broken"})
    _, document = run(tmp_path, fake, monkeypatch)
    assert document["delta"]["note"].startswith("no baseline: the artifact download is not a zip file")


def test_outside_actions_it_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_REPOSITORY", "GITHUB_BASE_REF", "GITHUB_REF_NAME", "GITHUB_WORKFLOW_REF"):
        monkeypatch.delenv(name, raising=False)
    pattern = write(tmp_path / "in", [report_doc()])
    out = tmp_path / "s.json"
    assert cli.main(["--input-glob", pattern, "--output-json", str(out), "--baseline", "github", "--quiet"]) == 0
    note = json.loads(out.read_text(encoding="utf-8"))["delta"]["note"]
    assert note.startswith("no baseline: unknown repository, branch, workflow")


def test_history_from_github_fetches_last_nights_history_and_appends_tonight(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "night1" / "history.jsonl"
    pattern = write(tmp_path / "in", [report_doc("n1", figures={"bf16": 700.0})])
    assert cli.main(["--input-glob", pattern, "--history", str(first), "--quiet"]) == 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(first, "history.jsonl")
    fake.add_run(workflow="nightly.yml", branch="main", artifacts={"runtime-preflight-history": buffer.getvalue()})
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", "octo/demo/.github/workflows/nightly.yml@refs/heads/main")
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    tonight = tmp_path / "night2" / "history.jsonl"
    out = tmp_path / "s.json"
    later = write(tmp_path / "in2", [report_doc("n1", figures={"bf16": 705.0})])  # tonight's own report (last night's is known)
    code = cli.main(["--input-glob", later, "--history", str(tonight), "--history-from", "github", "--output-json", str(out), "--quiet"])
    assert code == 0
    assert len(tonight.read_text(encoding="utf-8").splitlines()) == 2  # last night's record, then tonight's
    assert summary_json.read(out)["history"]["records_read"] == 1


def test_history_from_github_without_an_artifact_starts_a_new_history(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_run(
        workflow="nightly.yml", branch="main", artifacts={"runtime-preflight-history": b"x"}, expired=("runtime-preflight-history",)
    )
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.setenv("GITHUB_WORKFLOW_REF", "octo/demo/.github/workflows/nightly.yml@refs/heads/main")
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    history = tmp_path / "history.jsonl"
    pattern = write(tmp_path / "in", [report_doc("n1")])
    assert cli.main(["--input-glob", pattern, "--history", str(history), "--history-from", "github", "--quiet"]) == 0
    assert "has expired; a new history starts" in capsys.readouterr().err
    assert len(history.read_text(encoding="utf-8").splitlines()) == 1


def test_a_baseline_that_is_a_directory_says_so_and_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = write(tmp_path / "in", [report_doc("n1")])
    folder = tmp_path / "baselines"
    folder.mkdir()
    assert cli.main(["--input-glob", pattern, "--baseline", str(folder), "--output-json", str(tmp_path / "s.json"), "--quiet"]) == 2
    assert (
        f"summarize: invalid baseline: {folder} is a directory: --baseline takes a summary JSON file (or 'github')"
        in capsys.readouterr().err
    )
