"""Workflows and actions, checked offline: GitHub's schemas, zizmor, pinning, permissions, the README snippet."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
CONSUMER = ROOT / "examples" / "consumer-workflow.yml"
SELFTEST = ROOT / "tests" / "data" / "workflows" / "action-selftest.yml"
WORKFLOWS = [*sorted(WORKFLOW_DIR.glob("*.yml")), CONSUMER, *sorted(SELFTEST.parent.glob("*.yml"))]
ACTIONS = [ROOT / "action.yml", *sorted((ROOT / ".github" / "actions").glob("*/action.yml"))]
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
# The only reference not pinned by SHA: our own action in the example users copy (documented in zizmor.yml).
OWN_ACTION = "org/preflight-action@v1"
PINNED = re.compile(r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+\.\d+\.\d+)\s*$")
ACTION_INPUTS = {
    "device",
    "check-torchvision",
    "check-compile",
    "check-distributed",
    "expect-gpus",
    "level",
    "budget",
    "strict",
    "python",
    "output-path",
    "upload-artifact",
    "artifact-name",
    "extra-args",
    "node-id",
    "install-from",
    "orchestrator-python",
}
ACTION_OUTPUTS = {"status", "verdict", "report-path", "fail-count", "top-severity"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def tool(name: str) -> str:
    """The tool's path; missing, the test fails in CI (which installs the test group) and skips elsewhere."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        why = f"{name} is not installed (it is in the test dependency group)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run this check")
        pytest.skip(why)
    return found


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def readme_yaml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it in your workflow\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def test_the_files_under_test_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in WORKFLOWS + ACTIONS}
    expected = {
        ".github/workflows/ci.yml",
        ".github/workflows/nightly.yml",
        ".github/workflows/pr-comment.yml",
        "examples/consumer-workflow.yml",
        "tests/data/workflows/action-selftest.yml",
        "action.yml",
        ".github/actions/summarize/action.yml",
    }
    assert expected <= names


def test_workflows_validate_against_github_s_schema(tmp_path: Path) -> None:
    # The README's aggregate-job fragment, wrapped into a workflow, is checked too.
    fragment = tmp_path / "readme-summary-job.yml"
    fragment.write_text("on: pull_request\njobs:\n" + readme_yaml_blocks()[1], encoding="utf-8")
    files = [str(p) for p in WORKFLOWS] + [str(fragment)]
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actions_validate_against_github_s_schema() -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    extra = [str(CONSUMER), *map(str, SELFTEST.parent.glob("*.yml"))]
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json", "--config", str(ZIZMOR_CONFIG), str(ROOT), *extra],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    summary = [(f["ident"], f["determinations"]["severity"], f["locations"][0]["symbolic"]["key"]) for f in findings]
    assert summary == [], done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_zizmor_ignore_gives_its_reason() -> None:
    lines = ZIZMOR_CONFIG.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^\s+- \S+\.ya?ml", line):
            assert lines[index - 1].lstrip().startswith("#"), f"ignore without a reason: {line.strip()}"


def test_readme_snippet_is_the_example_file() -> None:
    assert readme_yaml_blocks()[0] == CONSUMER.read_text(encoding="utf-8")
    assert len(CONSUMER.read_text(encoding="utf-8").splitlines()) <= 16


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_expression_inside_run(path: Path) -> None:
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: step {step.get('name', step.get('id'))!r} expands an expression in run:"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_uses_is_local_or_pinned_by_sha_with_its_version(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*-?\s*uses:\s*(\S+)", line)
        if match is None or match.group(1).startswith("./"):
            continue
        if path == CONSUMER and match.group(1) == OWN_ACTION:
            continue
        assert PINNED.match(line), f"{path.name}: not pinned by a full commit SHA with a # vX.Y.Z comment: {line.strip()}"


def test_one_sha_per_action_version_everywhere() -> None:
    seen: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS + ACTIONS:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = PINNED.match(line)
            if match:
                seen.setdefault(match["action"], set()).add((match["sha"], match["version"]))
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact", "actions/download-artifact"} <= set(seen)
    assert {action: len(pins) for action, pins in seen.items()} == dict.fromkeys(seen, 1)


@pytest.mark.parametrize("path", [*sorted(WORKFLOW_DIR.glob("*.yml")), CONSUMER], ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    document = load(path)
    assert document.get("permissions") in ({}, {"contents": "read"}), f"{path.name}: top-level permissions"
    allowed_writers = {("ci.yml", "summary"), ("pr-comment.yml", "comment")}
    for job_id, job in document["jobs"].items():
        permissions = job.get("permissions", {})
        assert isinstance(permissions, dict), f"{path.name}/{job_id}: permissions must be a map"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        if (path.name, job_id) in allowed_writers:
            assert writes == {"pull-requests"}
        else:
            assert writes == set(), f"{path.name}/{job_id} writes {writes}"


@pytest.mark.parametrize("path", sorted(WORKFLOW_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_superseded_runs_are_cancelled(path: Path) -> None:
    concurrency = load(path).get("concurrency")
    assert isinstance(concurrency, dict)
    assert concurrency.get("cancel-in-progress") is True
    assert "${{ github.workflow }}" in concurrency["group"]


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_action_metadata_is_complete(path: Path) -> None:
    action = load(path)
    assert action["runs"]["using"] == "composite"
    assert set(action["branding"]) == {"icon", "color"}
    for name, spec in action["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert spec.get("description"), f"{path.name}: input {name} has no description"
        assert "default" in spec, f"{path.name}: input {name} has no explicit default"
    for name, spec in action["outputs"].items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert spec.get("description"), f"{path.name}: output {name} has no description"
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash", f"{path.name}: {step['name']} must run under bash on every OS"


def test_root_action_inputs_outputs_and_readme_table_agree() -> None:
    action = load(ROOT / "action.yml")
    assert set(action["inputs"]) == ACTION_INPUTS
    assert set(action["outputs"]) == ACTION_OUTPUTS
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## Use it in your workflow\n", 1)[1].split("\n## ", 1)[0]
    rows = {name: cell.strip().strip("`") for name, cell in re.findall(r"^\| `([a-z-]+)` \| ([^|]*) \|", text, flags=re.MULTILINE)}
    for name, spec in action["inputs"].items():
        assert name in rows, f"README table misses input {name}"
        if spec["default"]:
            assert rows[name] == spec["default"], name
    for name in action["outputs"]:
        assert re.search(rf"^\| `{name}` \|", text, flags=re.MULTILINE), f"README table misses output {name}"


def test_root_action_never_installs_into_the_diagnosed_interpreter() -> None:
    steps = load(ROOT / "action.yml")["runs"]["steps"]
    for step in steps:
        assert "pip" not in step.get("run", ""), step["name"]
        assert "torch" not in step.get("run", ""), step["name"]
    setup = next(step for step in steps if step.get("id") == "setup")
    assert "action_helper.py" in setup["run"]
    assert " setup " in setup["run"]


def test_ci_matches_the_seed() -> None:
    ci = load(WORKFLOW_DIR / "ci.yml")
    assert set(ci["on"]) >= {"push", "pull_request"}
    jobs = ci["jobs"]
    assert any("nox -s lint" in s.get("run", "") for s in jobs["lint"]["steps"])
    assert any("nox -s tests" in s.get("run", "") for s in jobs["tests"]["steps"])
    assert any("nox -s build" in s.get("run", "") for s in jobs["build"]["steps"])
    matrix = jobs["preflight"]["strategy"]["matrix"]
    assert matrix["python-version"] == ["3.12"]
    assert {(leg["os"], leg["runner"]) for leg in matrix["include"]} == {
        ("ubuntu", "ubuntu-latest"),
        ("macos", "macos-latest"),
        ("windows", "windows-latest"),
    }
    runs = [s["with"] for s in jobs["preflight"]["steps"] if s.get("uses") == "./"]
    assert [(r["device"], r["check-torchvision"], r["strict"]) for r in runs] == [("auto", "true", "true"), ("cpu", "true", "true")]
    assert all(r["output-path"].startswith("${{ env.REPORT_DIR }}/") for r in runs)
    assert jobs["preflight"]["env"]["REPORT_DIR"] == "outputs/runtime_preflight_ci"
    upload = next(s for s in jobs["preflight"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "runtime-preflight-${{ matrix.os }}-py${{ matrix.python-version }}"
    assert upload["with"]["path"] == "${{ env.REPORT_DIR }}/*.json"
    summary = jobs["summary"]
    assert summary["needs"] == "preflight"
    summarize = next(s for s in summary["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]
    assert summarize["output-md"] == "outputs/runtime_preflight_ci/preflight_summary.md"
    assert summarize["output-json"] == "outputs/runtime_preflight_ci/preflight_summary.json"
    assert summarize["artifact-name"] == "runtime-preflight-summary"
    assert summarize["step-summary"] == "true"
    posting = [job_id for job_id, job in jobs.items() for s in job.get("steps", []) if "post-comment" in s.get("with", {})]
    assert posting == ["summary"]
    experimental = jobs["experimental"]
    assert experimental["name"] == "runtime-preflight-experimental (${{ matrix.backend }})"
    assert {leg["backend"] for leg in experimental["strategy"]["matrix"]["include"]} == {"mps", "rocm"}
    assert experimental["continue-on-error"] is True
    assert not any("experimental" in str(job.get("needs", "")) for job in jobs.values())


def test_nightly_matches_the_seed() -> None:
    nightly = load(WORKFLOW_DIR / "nightly.yml")
    assert set(nightly["on"]) == {"schedule", "workflow_dispatch"}
    (job,) = nightly["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    run = next(s for s in job["steps"] if s.get("uses") == "./")["with"]
    assert (run["device"], run["check-torchvision"], run["check-compile"], run["strict"]) == ("auto", "true", "true", "true")
    out = job["env"]["OUT"]
    assert out == "outputs/runtime_preflight_nightly"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))["with"]
    assert upload["name"] == "runtime-preflight-nightly-ubuntu-py3.12"
    paths = [p.replace("${{ env.OUT }}", out) for p in upload["path"].splitlines()]
    assert paths == [f"{out}/preflight.json", f"{out}/preflight_summary.md", f"{out}/preflight_summary.json"]


def test_pr_comment_takes_the_pr_from_the_event_and_runs_trusted_code() -> None:
    workflow = load(WORKFLOW_DIR / "pr-comment.yml")
    assert list(workflow["on"]) == ["workflow_run"]
    (job,) = workflow["jobs"].values()
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert "ref" not in checkout.get("with", {})
    assert "repository" not in checkout.get("with", {})
    find = next(s for s in job["steps"] if s.get("id") == "pr")
    assert all(v.startswith("${{ github.") for k, v in find["env"].items() if k.startswith("HEAD_"))
    post = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]
    assert post["pr"] == "${{ steps.pr.outputs.number }}"
    assert post["run-id"] == "${{ github.event.workflow_run.id }}"
    assert post["post-comment"] == "true"


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_checker_fails_in_ci_and_skips_with_its_reason_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no-such-checker is not installed"):
        tool("no-such-checker")


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_action_input_reaches_a_step(path: Path) -> None:
    text = yaml.safe_dump(load(path)["runs"]["steps"], width=1_000_000)
    for name in load(path)["inputs"]:
        assert f"inputs.{name} " in text or f"inputs.{name}}}" in text, f"{path.name}: input {name} is never used"


def test_summarize_downloads_one_folder_per_artifact_and_globs_recursively() -> None:
    """Every matrix leg may write preflight.json: merged into one folder, all but one report would be lost."""
    action = load(ROOT / ".github" / "actions" / "summarize" / "action.yml")
    downloads = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
    assert len(downloads) == 2
    assert all(step["with"]["merge-multiple"] is False for step in downloads)
    assert all(step["with"]["path"] == "${{ inputs.download-path }}" for step in downloads)
    default_glob = action["inputs"]["input-glob"]["default"]
    assert default_glob == action["inputs"]["download-path"]["default"] + "/**/*.json"
    for name in ("ci.yml", "pr-comment.yml"):
        summarize = next(s for s in steps_of(load(WORKFLOW_DIR / name)) if s.get("uses") == "./.github/actions/summarize")["with"]
        assert summarize["input-glob"] == summarize["download-path"] + "/**/*.json", name


def test_dependabot_pull_requests_are_commented_by_pr_comment_not_by_ci() -> None:
    ci_summary = load(WORKFLOW_DIR / "ci.yml")["jobs"]["summary"]
    post = next(s for s in ci_summary["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]["post-comment"]
    condition = " ".join(post.split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "&& github.actor != 'dependabot[bot]'" in condition
    (job,) = load(WORKFLOW_DIR / "pr-comment.yml")["jobs"].values()
    gate = " ".join(job["if"].split())
    assert (
        "&& (github.event.workflow_run.head_repository.full_name != github.repository"
        " || github.event.workflow_run.actor.login == 'dependabot[bot]')"
    ) in gate


def test_pr_comment_links_point_at_the_ci_run_with_the_artifacts() -> None:
    (job,) = load(WORKFLOW_DIR / "pr-comment.yml")["jobs"].values()
    post = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]
    assert post["artifact-url"] == "${{ format('{0}#artifacts', github.event.workflow_run.html_url) }}"
    action = load(ROOT / ".github" / "actions" / "summarize" / "action.yml")
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "summarize")
    assert step["env"]["PREFLIGHT_ARTIFACT_URL"] == "${{ inputs.artifact-url }}"
    assert action["inputs"]["artifact-url"]["default"] == ""


def test_summarize_action_forwards_comment_author_and_allow_invalid() -> None:
    action = load(ROOT / ".github" / "actions" / "summarize" / "action.yml")
    assert action["inputs"]["comment-author"]["default"] == ""
    assert "App" in action["inputs"]["comment-author"]["description"]
    assert action["inputs"]["allow-invalid"]["default"] == "false"
    env = next(s for s in action["runs"]["steps"] if s.get("id") == "summarize")["env"]
    assert env["PREFLIGHT_COMMENT_AUTHOR"] == "${{ inputs.comment-author }}"
    assert env["PREFLIGHT_ALLOW_INVALID"] == "${{ inputs.allow-invalid }}"


def test_matrix_legs_name_their_node_after_the_os() -> None:
    action = load(ROOT / "action.yml")
    assert action["inputs"]["node-id"]["default"] == ""
    run = next(s for s in action["runs"]["steps"] if s.get("id") == "preflight")
    assert run["env"]["PREFLIGHT_INPUT_NODE_ID"] == "${{ inputs.node-id }}"
    assert "PREFLIGHT_NODE_ID" not in run["env"]  # an empty input must not hide the job's own
    ci = [s["with"] for s in load(WORKFLOW_DIR / "ci.yml")["jobs"]["preflight"]["steps"] if s.get("uses") == "./"]
    assert [w["node-id"] for w in ci] == ["${{ matrix.os }}", "${{ matrix.os }}"]
    (nightly,) = load(WORKFLOW_DIR / "nightly.yml")["jobs"].values()
    assert next(s for s in nightly["steps"] if s.get("uses") == "./")["with"]["node-id"] == "ubuntu"


def test_only_torch_comes_from_the_pytorch_index() -> None:
    """No job adds an extra index (dependency confusion); the tests job fetches torch alone, then PyPI."""
    for path in [*WORKFLOW_DIR.glob("*.yml"), *ACTIONS]:
        text = path.read_text(encoding="utf-8")
        assert "EXTRA_INDEX_URL" not in text, path.name
        assert "--extra-index-url" not in text, path.name
    steps = load(WORKFLOW_DIR / "ci.yml")["jobs"]["tests"]["steps"]
    fetch = next(i for i, s in enumerate(steps) if "--index-url https://download.pytorch.org/whl/cpu" in s.get("run", ""))
    assert "--no-deps" in steps[fetch]["run"]
    assert re.findall(r'"(\w+)[>=<]', steps[fetch]["run"]) == ["torch", "torchvision"]
    nox_step = next(i for i, s in enumerate(steps) if s.get("run") == "nox -s tests")
    assert nox_step > fetch
    assert steps[nox_step]["env"] == {"PIP_FIND_LINKS": "${{ runner.temp }}/torch-cpu-wheels"}
    assert '--dest "$RUNNER_TEMP/torch-cpu-wheels"' in steps[fetch]["run"]


def _publish_sweep_report(tmp_path: Path, report: bytes) -> bytes:
    """Run the nightly sweep's publishing step under bash, as the runner would, on ``report``."""
    (job,) = [j for job_id, j in load(WORKFLOW_DIR / "nightly-sweep.yml")["jobs"].items() if job_id == "merge"]
    step = next(s for s in job["steps"] if s.get("name") == "Publish the report in the job summary")
    run_dir = tmp_path / "outputs" / "sweeps-merged" / "sw-1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.md").write_bytes(report)
    summary = tmp_path / "step_summary"
    summary.write_bytes(b"")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed (the step runs under bash on the runner)")
    done = subprocess.run(
        [bash, "-e", "-c", step["run"]],
        cwd=tmp_path,
        env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(tmp_path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return summary.read_bytes()


def test_nightly_sweep_caps_what_it_appends_to_the_job_summary(tmp_path: Path) -> None:
    line = b"| dtype_batch_matmul | float32 | 64 | pass | 1.23 ms |\n"
    big = line * (1_500_000 // len(line))
    published = _publish_sweep_report(tmp_path, big)
    assert len(published) < 1024 * 1024  # GitHub's per-step limit; more aborts the step
    body, marker, note = published.partition(b"\n\n**Truncated:**")
    assert marker
    assert body.endswith(b"\n")  # whole lines ...
    assert big.startswith(body)  # ... from the top
    assert len(body) > 990_000
    assert note.count(b"\n") == 1  # one line
    assert b"`sweep-merged` artifact" in note
    assert str(len(big)).encode() in note


def test_nightly_sweep_appends_a_small_report_whole(tmp_path: Path) -> None:
    small = b"# Sweep\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    assert _publish_sweep_report(tmp_path, small) == small


def test_ci_gates_pull_requests_on_regressions_against_the_base_branch_and_nightly_carries_the_history() -> None:
    summary = load(WORKFLOW_DIR / "ci.yml")["jobs"]["summary"]
    assert summary["permissions"]["actions"] == "read"
    step = next(s for s in summary["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]
    assert step["baseline"] == "${{ github.event_name == 'pull_request' && 'github' || '' }}"
    assert step["fail-on"] == "${{ github.event_name == 'pull_request' && 'regression' || 'never' }}"
    (nightly,) = load(WORKFLOW_DIR / "nightly.yml")["jobs"].values()
    assert nightly["permissions"] == {"contents": "read", "actions": "read"}
    step = next(s for s in nightly["steps"] if s.get("uses") == "./.github/actions/summarize")["with"]
    assert (step["history"], step["history-from"], step["step-summary"]) == ("${{ env.OUT }}/history.jsonl", "github", "true")
    action = load(ROOT / ".github" / "actions" / "summarize" / "action.yml")
    upload = next(s for s in action["runs"]["steps"] if s.get("name") == "Upload the history")
    assert upload["with"]["name"] == "${{ inputs.history-artifact }}"
