"""--api-url (or $GITHUB_API_URL) that is not an http(s) URL with a host: one line naming it, exit 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight_action.errors import UsageError
from preflight_action.github import client
from preflight_action.summary import cli
from tests.support.report_factory import report_doc


@pytest.mark.parametrize("url", ["notaurl", "file:///etc/passwd", "https://", "http://host:port/api", "ftp://example.com"])
def test_a_bad_api_url_is_a_usage_error_naming_where_it_came_from(url: str) -> None:
    with pytest.raises(UsageError, match=r"^--api-url '.*': not an http\(s\) URL with a host"):
        client.Connection.from_environment("o/r", api_url=url, environ={})
    with pytest.raises(UsageError, match=r"^\$GITHUB_API_URL '.*': not an http\(s\) URL with a host"):
        client.Connection.from_environment("o/r", environ={"GITHUB_API_URL": url})


def test_real_api_roots_are_kept() -> None:
    for url in ("https://api.github.com", "https://ghe.example.com/api/v3", "http://127.0.0.1:8080"):
        assert client.Connection.from_environment("o/r", api_url=url + "/", environ={}).api_url == url


def test_summarize_post_comment_with_a_bad_api_url_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "x" * 40)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(report_doc()), encoding="utf-8")
    out = tmp_path / "summary.json"
    argv = ["--input-glob", str(report), "--output-json", str(out), "--quiet", "--post-comment", "--repo", "o/r", "--pr", "1"]
    code = cli.main([*argv, "--api-url", "notaurl"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "internal error" not in err
    assert "--api-url 'notaurl': not an http(s) URL with a host" in err
    assert out.exists(), "the summary is written before the comment is posted"
