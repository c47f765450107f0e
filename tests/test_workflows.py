"""Workflows and actions, checked offline: GitHub's schemas, zizmor, pinning, permissions, the README snippet."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
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
    "strict",
    "python",
    "output-path",
    "upload-artifact",
    "artifact-name",
    "extra-args",
    "install-from",
    "orchestrator-python",
}
ACTION_OUTPUTS = {"status", "report-path", "fail-count", "top-severity"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it is in the test dependency group)")
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
