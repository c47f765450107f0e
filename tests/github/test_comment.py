"""The sticky PR comment: real PyGithub against a local fake of GitHub's REST API (127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from preflight_action.github.comment import CommentUnavailable, Target, marker, upsert
from preflight_action.summary import cli as cli_summarize
from tests.summary.test_summary import matrix_docs, report_doc, write_reports
from tests.support.github_fake import FakeGitHub

TOKEN = "ghs_fakeTokenValue0123456789"
BOT = "github-actions[bot]"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def target(fake: FakeGitHub, **overrides: object) -> Target:
    values: dict[str, object] = {"repo": "octo/demo", "pr": 7, "api_url": fake.url, "token": TOKEN, "per_page": 30, "write_pause_s": 0}
    values.update(overrides)
    return Target(**values)  # type: ignore[arg-type]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def body(key: str = "ci", text: str = "summary") -> str:
    return f"{marker(key)}\n{text}"


def test_creates_the_comment_when_none_exists(fake: FakeGitHub) -> None:
    outcome = upsert(target(fake), body(text="first"), "ci")
    assert outcome.action == "created"
    assert outcome.author == BOT
    posts = fake.calls("POST", r"/issues/7/comments$")
    assert [p.body for p in posts] == [{"body": body(text="first")}]
    assert posts[0].authorization == f"token {TOKEN}"
    assert [(c["user"]["login"], c["body"]) for c in fake.comments()] == [(BOT, body(text="first"))]


def test_adds_the_marker_when_the_body_lacks_it(fake: FakeGitHub) -> None:
    upsert(target(fake), "plain text", "nightly")
    assert fake.comments()[0]["body"] == f"{marker('nightly')}\nplain text"


def test_finds_its_comment_past_the_first_page_and_edits_it_in_place(fake: FakeGitHub) -> None:
    for i in range(45):
        fake.add_comment(7, "reviewer", f"review comment {i}")
    ours = fake.add_comment(7, BOT, body(text="old"))
    for i in range(20):
        fake.add_comment(7, "reviewer", f"later comment {i}")
    outcome = upsert(target(fake), body(text="new"), "ci")
    assert (outcome.action, outcome.comment_id) == ("updated", ours["id"])
    pages = [r.query.get("page", "1") for r in fake.calls("GET", r"/issues/7/comments$")]
    assert pages == ["1", "2", "3"]  # 66 comments at 30 per page
    assert [(r.path, r.body) for r in fake.calls("PATCH")] == [
        (f"/repos/octo/demo/issues/comments/{ours['id']}", {"body": body(text="new")})
    ]
    assert not fake.calls("POST", r"/comments$")
    assert len(fake.comments()) == 66


def test_same_body_is_not_sent_again(fake: FakeGitHub) -> None:
    fake.add_comment(7, BOT, body(text="same"))
    assert upsert(target(fake), body(text="same"), "ci").action == "unchanged"
    assert not fake.calls("PATCH")
    assert not fake.calls("POST", r"/comments$")


def test_a_quoted_marker_by_someone_else_is_not_ours(fake: FakeGitHub) -> None:
    spoof = fake.add_comment(7, "mallory", f"> {body(text='quoted')}\nI disagree")
    upsert(target(fake), body(text="real"), "ci")
    by_id = {c["id"]: c for c in fake.comments()}
    assert by_id[spoof["id"]]["body"].endswith("I disagree")  # untouched
    assert [c["user"]["login"] for c in fake.comments()] == ["mallory", BOT]
    assert not fake.calls("PATCH")


def test_keys_keep_separate_comments(fake: FakeGitHub) -> None:
    upsert(target(fake), body("ci", "ci run"), "ci")
    upsert(target(fake), body("nightly", "nightly run"), "nightly")
    upsert(target(fake), body("ci", "ci again"), "ci")
    assert sorted(c["body"] for c in fake.comments()) == [body("ci", "ci again"), body("nightly", "nightly run")]


def test_identity_comes_from_the_flag_from_get_user_or_falls_back_to_the_actions_bot(fake: FakeGitHub) -> None:
    fake.add_comment(7, "my-app[bot]", body(text="by the app"))
    upsert(target(fake, author="my-app[bot]"), body(text="app update"), "ci")
    assert [c["body"] for c in fake.comments()] == [body(text="app update")]
    assert not fake.calls("GET", "^/user$")  # the flag means no GET /user
    fake.state.user_endpoint_forbidden = False
    fake.state.token_login = "octocat"
    assert upsert(target(fake), body(text="pat"), "ci").author == "octocat"
    assert fake.calls("GET", "^/user$")


def test_a_marker_smuggled_into_our_own_comment_does_not_claim_it_for_another_key(fake: FakeGitHub) -> None:
    ci_comment = fake.add_comment(7, BOT, body("ci", text=f"check output: {marker('nightly')}"))
    upsert(target(fake), body("nightly", text="nightly summary"), "nightly")
    bodies = {c["id"]: c["body"] for c in fake.comments()}
    assert bodies[ci_comment["id"]] == body("ci", text=f"check output: {marker('nightly')}")  # untouched
    assert body("nightly", text="nightly summary") in bodies.values()
    assert not fake.calls("DELETE")


def test_learns_its_login_from_the_comment_it_creates(fake: FakeGitHub) -> None:
    fake.state.token_login = "custom-app[bot]"  # GET /user is forbidden, so we first guess github-actions[bot]
    outcome = upsert(target(fake), body(text="one"), "ci")
    assert outcome.author == "custom-app[bot]"


def test_race_with_an_older_comment_keeps_the_oldest_and_deletes_ours(fake: FakeGitHub) -> None:
    fake.race("before", BOT, body(text="other job"))
    outcome = upsert(target(fake), body(text="mine"), "ci")
    remaining = fake.comments()
    assert len(remaining) == 1
    assert remaining[0]["body"] == body(text="mine")
    assert outcome.comment_id == remaining[0]["id"]
    assert [r.method for r in fake.state.requests if r.method != "GET"] == ["POST", "DELETE", "PATCH"]


def test_race_with_a_newer_comment_deletes_the_newer_one(fake: FakeGitHub) -> None:
    fake.race("after", BOT, body(text="other job"))
    outcome = upsert(target(fake), body(text="mine"), "ci")
    assert [(c["id"], c["body"]) for c in fake.comments()] == [(outcome.comment_id, body(text="mine"))]
    assert len(outcome.deleted) == 1
    assert not fake.calls("PATCH")


def test_leftover_duplicates_are_cleaned_up_on_update(fake: FakeGitHub) -> None:
    first = fake.add_comment(7, BOT, body(text="a"))
    fake.add_comment(7, BOT, body(text="b"))
    fake.add_comment(7, BOT, body(text="c"))
    outcome = upsert(target(fake), body(text="d"), "ci")
    assert [(c["id"], c["body"]) for c in fake.comments()] == [(first["id"], body(text="d"))]
    assert len(outcome.deleted) == 2


def test_duplicate_already_deleted_by_the_other_job_is_fine(fake: FakeGitHub) -> None:
    fake.add_comment(7, BOT, body(text="a"))
    fake.add_comment(7, BOT, body(text="b"))
    fake.fail("DELETE", r"/issues/comments/\d+$", 404, "Not Found")
    upsert(target(fake), body(text="c"), "ci")
    assert [c["body"] for c in fake.comments()] == [body(text="c"), body(text="b")]


def test_forbidden_token_on_a_fork_pull_request_is_unavailable_with_advice(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues/7/comments$", 403, "Resource not accessible by integration")
    with pytest.raises(CommentUnavailable) as raised:
        upsert(target(fake), body(), "ci", sleep=Sleeps())
    message = str(raised.value)
    assert "403 Resource not accessible by integration" in message
    assert "workflow_run" in message
    assert TOKEN not in message
    assert len(fake.calls("POST")) == 1  # a permission error is not retried


def test_validation_failure_422_reports_githubs_reason(fake: FakeGitHub) -> None:
    fake.fail(
        "POST",
        r"/issues/7/comments$",
        422,
        "Validation Failed",
        errors=[
            {"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}
        ],
    )
    with pytest.raises(CommentUnavailable, match=r"422 Validation Failed \(body is too long \(maximum is 65536 characters\)\)"):
        upsert(target(fake), body(), "ci", sleep=Sleeps())


def test_server_errors_are_retried_with_bounded_backoff(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues/7/comments$", 502, "Bad Gateway", times=2)
    fake.fail("GET", r"/issues/7/comments$", 503, "Unavailable", times=1)
    sleeps = Sleeps()
    outcome = upsert(target(fake), body(), "ci", sleep=sleeps)
    assert outcome.action == "created"
    assert sleeps == [1.0, 1.0, 2.0]
    assert len(fake.comments()) == 1
    assert len(fake.calls("POST", r"/comments$")) == 3


def test_server_errors_give_up_after_the_last_attempt(fake: FakeGitHub) -> None:
    fake.fail("GET", r"/issues/7$", 500, "boom", times=10)
    sleeps = Sleeps()
    with pytest.raises(CommentUnavailable, match="500 boom after 4 attempts"):
        upsert(target(fake), body(), "ci", sleep=sleeps)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(fake.calls("GET", r"/issues/7$")) == 4


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_waits_for_retry_after(fake: FakeGitHub, status: int) -> None:
    fake.fail("PATCH", r"/issues/comments/\d+$", status, "You have exceeded a secondary rate limit", headers={"Retry-After": "3"})
    fake.add_comment(7, BOT, body(text="old"))
    sleeps = Sleeps()
    assert upsert(target(fake), body(text="new"), "ci", sleep=sleeps).action == "updated"
    assert sleeps == [3.0]
    assert fake.comments()[0]["body"] == body(text="new")


def test_retry_after_beyond_the_cap_is_not_waited_for(fake: FakeGitHub) -> None:
    fake.fail("POST", r"/issues/7/comments$", 429, "slow down", headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(CommentUnavailable, match="429"):
        upsert(target(fake), body(), "ci", sleep=sleeps)
    assert sleeps == []


def test_target_from_the_actions_environment(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 42}}), encoding="utf-8")
    env = {
        "GITHUB_REPOSITORY": "octo/demo",
        "GITHUB_EVENT_PATH": str(event),
        "MY_TOKEN": TOKEN,
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
    }
    found = Target.from_environment(token_env="MY_TOKEN", environ=env)
    assert (found.repo, found.pr, found.api_url, found.token) == ("octo/demo", 42, "https://ghe.example/api/v3", TOKEN)
    assert TOKEN not in repr(found)
    assert Target.from_environment(repo="a/b", pr=3, token_env="MY_TOKEN", environ=env).pr == 3
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"workflow_run": {"event": "pull_request", "pull_requests": [{"number": 9}]}}), encoding="utf-8")
    assert Target.from_environment(token_env="MY_TOKEN", environ={**env, "GITHUB_EVENT_PATH": str(run)}).pr == 9
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    with pytest.raises(CommentUnavailable, match="not a pull request"):
        Target.from_environment(token_env="MY_TOKEN", environ={**env, "GITHUB_EVENT_PATH": str(push)})
    with pytest.raises(CommentUnavailable, match=r"no token in \$GITHUB_TOKEN"):
        Target.from_environment(environ=env)


# -- through the CLI -----------------------------------------------------------


@pytest.fixture
def actions_env(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Path:
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
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    write_reports(tmp_path / "in", [*matrix_docs(), report_doc("x", "cpu", {"deps.consistency": f"leaked {TOKEN}? @team"})])
    return tmp_path


def test_cli_posts_the_rendered_summary(actions_env: Path, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_summarize.main(
        ["--input-glob", str(actions_env / "in" / "*.json"), "--post-comment", "--comment-key", "ci", "--step-summary"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    [comment] = fake.comments()
    assert comment["body"].startswith("<!-- preflight-action:summary key=ci -->\n## ❌ Runtime preflight summary: FAIL")
    assert "@\u200bteam" in comment["body"]
    assert TOKEN not in comment["body"]  # scrubbed even if a report carried it
    assert "leaked <redacted>?" in comment["body"]
    assert TOKEN not in out + err
    assert "PR comment created" in err
    assert (actions_env / "step.md").read_text(encoding="utf-8").startswith("<!-- preflight-action:summary key=ci -->")


def test_cli_forbidden_comment_warns_writes_the_job_summary_and_exits_0(
    actions_env: Path, fake: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail("POST", r"/issues/7/comments$", 403, "Resource not accessible by integration", times=2)
    args = ["--input-glob", str(actions_env / "in" / "*.json"), "--post-comment", "--step-summary", "--quiet"]
    assert cli_summarize.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "::warning title=preflight summary::PR comment not posted: cannot create the comment: GitHub answered 403 Resource not accessible by integration"
    )
    assert (actions_env / "step.md").stat().st_size > 1000
    assert cli_summarize.main([*args, "--require-comment"]) == 1
    assert fake.comments() == []
