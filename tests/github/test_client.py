"""The one GitHub client's settings: flags first, then the Actions variables; the token never shows."""

from __future__ import annotations

from preflight_action.github import artifacts, client

TOKEN = "ghs_fakeTokenForTheClient0123456789"


def test_connection_takes_flags_then_the_actions_environment_and_hides_the_token() -> None:
    env = {"GITHUB_REPOSITORY": "octo/demo", "GITHUB_API_URL": "https://ghe.example/api/v3/", "MY_TOKEN": TOKEN}
    found = client.Connection.from_environment(token_env="MY_TOKEN", environ=env)
    assert (found.repo, found.api_url, found.token) == ("octo/demo", "https://ghe.example/api/v3", TOKEN)
    assert TOKEN not in repr(found)
    assert client.Connection.from_environment(repo="a/b", api_url="http://127.0.0.1:9/", environ=env).api_url == "http://127.0.0.1:9"
    bare = client.Connection.from_environment(environ={})
    assert (bare.repo, bare.api_url, bare.token) == (None, client.DEFAULT_API_URL, "")


def test_an_artifact_source_reads_the_same_settings_and_the_run_it_belongs_to() -> None:
    env = {
        "GITHUB_REPOSITORY": "octo/demo",
        "GITHUB_BASE_REF": "main",
        "GITHUB_REF_NAME": "7/merge",
        "GITHUB_WORKFLOW_REF": "octo/demo/.github/workflows/ci.yml@refs/pull/7/merge",
        "GITHUB_TOKEN": TOKEN,
    }
    source = artifacts.Source.from_environment("runtime-preflight-summary", environ=env)
    assert (source.repo, source.branch, source.workflow, source.artifact) == ("octo/demo", "main", "ci.yml", "runtime-preflight-summary")
    assert source.api_url == client.DEFAULT_API_URL
    assert TOKEN not in repr(source)
    assert artifacts.Source.from_environment("x", branch="release", workflow="nightly.yml", environ=env).branch == "release"


def test_an_artifact_fetch_without_what_it_needs_is_a_note_not_a_call() -> None:
    source = artifacts.Source.from_environment("runtime-preflight-summary", environ={})
    fetched = artifacts.fetch(source, "baseline")
    assert fetched.data is None
    assert fetched.note == "no baseline: unknown repository, branch, workflow (not in GitHub Actions? pass a file)"
