"""The composite actions' helper: inputs from the environment, the commands it runs, the step outputs it writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path, PureWindowsPath

import pytest

from preflight_action.github import action_helper, action_inputs
from preflight_action.github.action_inputs import ActionInputError, RunInputs, SetupInputs, SummarizeInputs

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "src" / "preflight_action" / "github" / "action_helper.py"


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file the way the runner does (key=value and key<<DELIM blocks)."""
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[key] = "\n".join(body)
        else:
            key, value = line.split("=", 1)
            values[key] = value
    return values


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), (" TRUE ", True), ("False", False)])
def test_parse_bool_accepts_what_github_passes(text: str, expected: bool) -> None:
    assert action_inputs.parse_bool(text, "strict") is expected


@pytest.mark.parametrize("text", ["yes", "1", "", "on"])
def test_parse_bool_names_the_input(text: str) -> None:
    with pytest.raises(ActionInputError, match="input strict: expected true or false"):
        action_inputs.parse_bool(text, "strict")


def test_extra_args_split_like_a_shell_without_running_anything() -> None:
    args = action_inputs.split_extra_args("--check-timeout 300 --policy 'my policy.yaml' \"; rm -rf /\" $(whoami)")
    assert args == ["--check-timeout", "300", "--policy", "my policy.yaml", "; rm -rf /", "$(whoami)"]
    assert action_inputs.split_extra_args("") == []


def test_extra_args_with_unbalanced_quote_is_an_input_error() -> None:
    with pytest.raises(ActionInputError, match="input extra-args: No closing quotation"):
        action_inputs.split_extra_args("--policy 'oops")


@pytest.mark.parametrize(("text", "input_name"), [("--python /usr/bin/python3", "python"), ("--output-path=x.json", "output-path")])
def test_extra_args_cannot_override_flags_the_action_sets(text: str, input_name: str) -> None:
    with pytest.raises(ActionInputError, match=f"use the {input_name} input instead"):
        action_inputs.split_extra_args(text)


def test_venv_python_follows_the_platform_layout(tmp_path: Path) -> None:
    assert action_helper.venv_python(tmp_path, windows=True) == tmp_path / "Scripts" / "python.exe"
    assert action_helper.venv_python(tmp_path, windows=False) == tmp_path / "bin" / "python"


def test_shell_paths_use_forward_slashes_for_git_bash() -> None:
    assert action_helper.shell_path(PureWindowsPath(r"D:\a\_temp\preflight-action-venv\Scripts\python.exe")) == (
        "D:/a/_temp/preflight-action-venv/Scripts/python.exe"
    )


def test_write_outputs_appends_lines_and_uses_a_delimiter_for_multiline(tmp_path: Path) -> None:
    target = tmp_path / "github_output"
    target.write_text("earlier=kept\n", encoding="utf-8")
    action_helper.write_outputs({"status": "pass", "note": "two\nlines"}, str(target))
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier=kept\nstatus=pass\nnote<<ghadelimiter_")
    assert read_outputs(target) == {"earlier": "kept", "status": "pass", "note": "two\nlines"}


def test_error_annotation_cannot_start_a_second_workflow_command(capsys: pytest.CaptureFixture[str]) -> None:
    action_helper.annotate_error("bad input\n::add-mask::x 100%")
    out = capsys.readouterr().out
    assert out == "::error title=preflight-action::bad input%0A::add-mask::x 100%25\n"


def test_run_inputs_defaults_and_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inputs = RunInputs.from_env({})
    assert inputs == RunInputs("auto", False, False, False, "python", tmp_path / "outputs/runtime_preflight/preflight.json", ())
    env = {
        "PREFLIGHT_DEVICE": "cpu",
        "PREFLIGHT_CHECK_TORCHVISION": "true",
        "PREFLIGHT_CHECK_COMPILE": "false",
        "PREFLIGHT_STRICT": "true",
        "PREFLIGHT_PYTHON": "/opt/py/bin/python",
        "PREFLIGHT_OUTPUT_PATH": "out/r.json",
        "PREFLIGHT_EXTRA_ARGS": "--check-timeout 30 --quiet",
    }
    command = action_helper.preflight_command("/venv/bin/python", Path("/action"), RunInputs.from_env(env))
    assert command == [
        "/venv/bin/python",
        str(Path("/action/scripts/runtime_preflight.py")),
        "--device",
        "cpu",
        "--check-torchvision",
        "--strict",
        "--python",
        "/opt/py/bin/python",
        "--output-path",
        str(tmp_path / "out" / "r.json"),
        "--check-timeout",
        "30",
        "--quiet",
    ]


def test_run_inputs_reject_a_bad_boolean_by_input_name() -> None:
    with pytest.raises(ActionInputError, match="input check-compile"):
        RunInputs.from_env({"PREFLIGHT_CHECK_COMPILE": "yes please"})


def test_resolve_interpreter_returns_the_interpreter_s_own_path() -> None:
    assert Path(action_helper.resolve_interpreter(sys.executable)).resolve() == Path(sys.executable).resolve()
    with pytest.raises(ActionInputError, match="input python: cannot run 'no-such-python-here'"):
        action_helper.resolve_interpreter("no-such-python-here")


def test_setup_preinstalled_installs_nothing_and_names_both_interpreters(tmp_path: Path) -> None:
    inputs = SetupInputs.from_env(
        {"PREFLIGHT_INSTALL_FROM": "preinstalled", "PREFLIGHT_PYTHON": sys.executable, "RUNNER_TEMP": str(tmp_path)}
    )
    outputs = action_helper.setup(ROOT, inputs)
    assert outputs["orchestrator"] == Path(sys.executable).as_posix()
    assert Path(outputs["python"]).resolve() == Path(sys.executable).resolve()
    assert list(tmp_path.iterdir()) == []


def test_setup_reuses_a_venv_installed_from_the_same_action(tmp_path: Path) -> None:
    venv = tmp_path / "preflight-action-venv"
    python = action_helper.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.write_text("", encoding="utf-8")
    (venv / action_helper.VENV_MARKER).write_text(f"{ROOT.resolve()}\n", encoding="utf-8")
    inputs = SetupInputs.from_env({"PREFLIGHT_PYTHON": sys.executable, "RUNNER_TEMP": str(tmp_path)})
    assert inputs.venv_dir == venv
    assert inputs.install_from == "index"
    assert action_helper.setup(ROOT, inputs)["orchestrator"] == python.as_posix()


def test_setup_rejects_an_unknown_install_mode() -> None:
    with pytest.raises(ActionInputError, match="input install-from: expected one of index, preinstalled, got 'conda'"):
        SetupInputs.from_env({"PREFLIGHT_INSTALL_FROM": "conda"})


def test_install_command_installs_the_action_checkout_into_the_venv() -> None:
    assert action_helper.install_command(Path("/v/bin/python"), Path("/act")) == [
        str(Path("/v/bin/python")),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        str(Path("/act")),
    ]


def test_helper_runs_as_a_file_under_a_bare_interpreter(tmp_path: Path) -> None:
    """The action calls the helper by path before anything of ours is installed: setup needs only the stdlib."""
    venv = tmp_path / "preflight-action-venv"
    python = action_helper.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.write_text("", encoding="utf-8")
    (venv / action_helper.VENV_MARKER).write_text(f"{ROOT.resolve()}\n", encoding="utf-8")
    output = tmp_path / "out"
    env = {**os.environ, "PREFLIGHT_PYTHON": sys.executable, "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        # -S: no site-packages at all, so neither our package nor its dependencies are importable
        [sys.executable, "-S", str(HELPER), "setup", "--action-root", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert read_outputs(output)["orchestrator"] == python.as_posix()


def test_preinstalled_setup_refuses_an_interpreter_without_the_orchestrator_s_dependencies(tmp_path: Path) -> None:
    env = {**os.environ, "PREFLIGHT_INSTALL_FROM": "preinstalled", "PREFLIGHT_PYTHON": sys.executable, "GITHUB_OUTPUT": str(tmp_path / "o")}
    done = subprocess.run(
        [sys.executable, "-S", str(HELPER), "setup", "--action-root", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "input install-from: preinstalled, but" in done.stdout
    assert "cannot import jsonschema" in done.stdout


@pytest.fixture
def github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PREFLIGHT_INJECT_FAULT", raising=False)
    return tmp_path / "github_output"


def _run_env(tmp_path: Path, output: Path, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_OUTPUT": str(output),
        "PREFLIGHT_DEVICE": "cpu",
        "PREFLIGHT_STRICT": "true",
        "PREFLIGHT_PYTHON": sys.executable,
        "PREFLIGHT_OUTPUT_PATH": str(tmp_path / "report.json"),
        "PREFLIGHT_EXTRA_ARGS": "--quiet",
        **extra,
    }


def test_run_writes_outputs_from_a_healthy_report(tmp_path: Path, github_output: Path) -> None:
    code = action_helper.main(["run", "--action-root", str(ROOT)], env=_run_env(tmp_path, github_output))
    assert code == 0
    assert read_outputs(github_output) == {
        "status": "pass",
        "verdict": "healthy",
        "report-path": str(tmp_path / "report.json"),
        "fail-count": "0",
        "top-severity": "none",
    }


def test_run_fails_strict_on_a_crash_and_still_writes_outputs(tmp_path: Path, github_output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "tensor.smoke=segfault")
    code = action_helper.main(["run", "--action-root", str(ROOT)], env=_run_env(tmp_path, github_output))
    assert code == 1
    outputs = read_outputs(github_output)
    assert outputs["status"] == "fail"
    assert outputs["verdict"] == "blocking"
    assert int(outputs["fail-count"]) >= 1
    assert outputs["top-severity"] == "critical"
    assert Path(outputs["report-path"]).exists()


def test_run_with_bad_device_reports_error_and_drops_a_stale_report(tmp_path: Path, github_output: Path) -> None:
    stale = tmp_path / "report.json"
    stale.write_text('{"status": "pass"}', encoding="utf-8")
    code = action_helper.main(["run", "--action-root", str(ROOT)], env=_run_env(tmp_path, github_output, PREFLIGHT_DEVICE="tpu"))
    assert code == 2
    assert read_outputs(github_output) == {
        "status": "error",
        "verdict": "not_judged",
        "report-path": "",
        "fail-count": "",
        "top-severity": "",
    }
    assert not stale.exists()


def test_main_turns_a_bad_input_into_one_annotation_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = action_helper.main(["run", "--action-root", str(ROOT)], env={"PREFLIGHT_STRICT": "maybe"})
    assert code == 2
    assert capsys.readouterr().out.strip() == "::error title=preflight-action::input strict: expected true or false, got 'maybe'"


def test_outputs_subcommand_rejects_an_invalid_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "pass"}', encoding="utf-8")
    assert action_helper.main(["outputs", "--report", str(bad)], env={}) == 2
    assert re.search(r"::error title=preflight-action::.*bad\.json", capsys.readouterr().out)


def test_summarize_command_passes_the_token_by_name_only() -> None:
    env = {
        "PREFLIGHT_INPUT_GLOB": "r/*.json",
        "PREFLIGHT_POST_COMMENT": "true",
        "PREFLIGHT_PR": "42",
        "GITHUB_REPOSITORY": "octo/repo",
        "GITHUB_TOKEN": "ghs_secretvalue",
    }
    command = action_helper.summarize_command("/py", Path("/act"), SummarizeInputs.from_env(env))
    assert command[2:] == [
        "--input-glob",
        "r/*.json",
        "--output-md",
        "outputs/runtime_preflight_ci/preflight_summary.md",
        "--output-json",
        "outputs/runtime_preflight_ci/preflight_summary.json",
        "--step-summary",
        "--post-comment",
        "--comment-key",
        "runtime-preflight",
        "--token-env",
        "GITHUB_TOKEN",
        "--repo",
        "octo/repo",
        "--pr",
        "42",
    ]
    assert not any("ghs_" in part for part in command)


def test_summarize_without_comment_has_no_comment_flags() -> None:
    command = action_helper.summarize_command("/py", Path("/act"), SummarizeInputs.from_env({"PREFLIGHT_STEP_SUMMARY": "false"}))
    assert "--post-comment" not in command
    assert "--step-summary" not in command
    assert "--token-env" not in command


@pytest.mark.parametrize("pr", ["12; rm -rf /", "#12", "abc"])
def test_summarize_rejects_a_pr_that_is_not_a_number(pr: str) -> None:
    with pytest.raises(ActionInputError, match="input pr"):
        SummarizeInputs.from_env({"PREFLIGHT_PR": pr})


def test_summarize_runs_the_summarizer_and_outputs_its_paths(tmp_path: Path, github_output: Path) -> None:
    assert action_helper.main(["run", "--action-root", str(ROOT)], env=_run_env(tmp_path, tmp_path / "ignored")) == 0
    env = {
        "GITHUB_OUTPUT": str(github_output),
        "PREFLIGHT_INPUT_GLOB": str(tmp_path / "*.json"),
        "PREFLIGHT_OUTPUT_MD": str(tmp_path / "summary" / "s.md"),
        "PREFLIGHT_OUTPUT_JSON": str(tmp_path / "summary" / "s.json"),
        "PREFLIGHT_STEP_SUMMARY": "false",
    }
    assert action_helper.main(["summarize", "--action-root", str(ROOT)], env=env) == 0
    outputs = read_outputs(github_output)
    assert outputs == {"summary-md": str(tmp_path / "summary" / "s.md"), "summary-json": str(tmp_path / "summary" / "s.json")}
    assert Path(outputs["summary-json"]).stat().st_size > 0


def test_setup_without_ensurepip_is_one_input_error_naming_orchestrator_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import venv

    def no_ensurepip(self: venv.EnvBuilder, context: object) -> None:
        raise subprocess.CalledProcessError(1, [sys.executable, "-m", "ensurepip"])

    # What Debian's python3 without python3-venv does: the venv is made, ensurepip then fails.
    monkeypatch.setattr(venv.EnvBuilder, "_setup_pip", no_ensurepip)
    env = {"PREFLIGHT_PYTHON": sys.executable, "PREFLIGHT_VENV_DIR": str(tmp_path / "venv")}
    assert action_helper.main(["setup", "--action-root", str(ROOT)], env=env) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "ensurepip exit 1" in errors[0]
    assert errors[0].endswith("; set orchestrator-python to a Python with venv/ensurepip")


def test_setup_where_the_venv_cannot_be_created_is_one_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    env = {"PREFLIGHT_PYTHON": sys.executable, "PREFLIGHT_VENV_DIR": str(blocker / "venv")}  # a directory under a file
    assert action_helper.main(["setup", "--action-root", str(ROOT)], env=env) == 2
    (error,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert "could not create the orchestrator venv" in error
    assert error.endswith("; set orchestrator-python to a Python with venv/ensurepip")


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(("command", "script"), [("run", "runtime_preflight.py"), ("summarize", "summarize.py")])
def test_a_wedged_script_is_stopped_with_everything_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, script: str
) -> None:
    """The timeout must not leave the probe worker or inductor compile workers running on the runner."""
    root = tmp_path / "action"
    (root / "scripts").mkdir(parents=True)
    marker = tmp_path / "worker.pid"
    (root / "scripts" / script).write_text(
        "import subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(f'{{worker.pid}}\\n')\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(action_helper, "RUN_TIMEOUT_S", 3)
    env = {
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "PREFLIGHT_OUTPUT_PATH": str(tmp_path / "report.json"),
        "PREFLIGHT_OUTPUT_MD": str(tmp_path / "s.md"),
        "PREFLIGHT_OUTPUT_JSON": str(tmp_path / "s.json"),
    }
    started = time.monotonic()
    assert action_helper.main([command, "--action-root", str(root), "--orchestrator", sys.executable], env=env) == 1
    assert time.monotonic() - started < 30
    pid = int(marker.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(pid):
        import psutil

        psutil.Process(pid).kill()
        pytest.fail(f"{script}'s child outlived the timeout")


def test_summarize_forwards_artifact_url_comment_author_and_allow_invalid() -> None:
    env = {
        "PREFLIGHT_INPUT_GLOB": "r/**/*.json",
        "PREFLIGHT_STEP_SUMMARY": "false",
        "PREFLIGHT_ARTIFACT_URL": "https://github.com/octo/repo/actions/runs/7#artifacts",
        "PREFLIGHT_COMMENT_AUTHOR": "my-app[bot]",
        "PREFLIGHT_ALLOW_INVALID": "true",
    }
    command = action_helper.summarize_command("/py", Path("/act"), SummarizeInputs.from_env(env))
    assert command[command.index("--artifact-url") + 1] == "https://github.com/octo/repo/actions/runs/7#artifacts"
    assert command[command.index("--comment-author") + 1] == "my-app[bot]"
    assert "--allow-invalid" in command


def test_summarize_defaults_leave_artifact_url_author_and_invalid_reports_to_the_summarizer() -> None:
    inputs = SummarizeInputs.from_env({})
    assert inputs.input_glob == "outputs/runtime_preflight_ci/reports/**/*.json"
    command = action_helper.summarize_command("/py", Path("/act"), inputs)
    assert not {"--artifact-url", "--comment-author", "--allow-invalid"} & set(command)


def test_summarize_rejects_a_bad_allow_invalid_by_input_name() -> None:
    with pytest.raises(ActionInputError, match="input allow-invalid"):
        SummarizeInputs.from_env({"PREFLIGHT_ALLOW_INVALID": "sometimes"})


def test_default_glob_summarizes_same_named_reports_from_every_artifact_folder(
    tmp_path: Path, github_output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """download-artifact without merge-multiple: one folder per leg, each holding preflight.json."""
    report = tmp_path / "report.json"
    assert action_helper.main(["run", "--action-root", str(ROOT)], env=_run_env(tmp_path, tmp_path / "ignored")) == 0
    monkeypatch.chdir(tmp_path)
    for leg in ("runtime-preflight-ubuntu-py3.12", "runtime-preflight-macos-py3.12", "runtime-preflight-windows-py3.12"):
        folder = tmp_path / "outputs" / "runtime_preflight_ci" / "reports" / leg
        folder.mkdir(parents=True)
        (folder / "preflight.json").write_bytes(report.read_bytes())
    env = {"GITHUB_OUTPUT": str(github_output), "PREFLIGHT_STEP_SUMMARY": "false"}
    assert action_helper.main(["summarize", "--action-root", str(ROOT)], env=env) == 0
    summary = json.loads(Path(read_outputs(github_output)["summary-json"]).read_text(encoding="utf-8"))
    assert len(summary["reports"]) == 3


def test_summarize_failure_never_reports_a_leftover_summary(tmp_path: Path, github_output: Path) -> None:
    stale_md, stale_json = tmp_path / "s.md", tmp_path / "s.json"
    stale_md.write_text("# an earlier run's summary\n", encoding="utf-8")
    stale_json.write_text('{"status": "pass"}', encoding="utf-8")
    root = tmp_path / "action"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "summarize.py").write_text("raise SystemExit('summarize crashed before writing anything')\n", encoding="utf-8")
    env = {
        "GITHUB_OUTPUT": str(github_output),
        "PREFLIGHT_OUTPUT_MD": str(stale_md),
        "PREFLIGHT_OUTPUT_JSON": str(stale_json),
        "PREFLIGHT_STEP_SUMMARY": "false",
    }
    assert action_helper.main(["summarize", "--action-root", str(root), "--orchestrator", sys.executable], env=env) == 1
    assert read_outputs(github_output) == {"summary-md": "", "summary-json": ""}
    assert not stale_md.exists()
    assert not stale_json.exists()


def test_node_id_input_becomes_preflight_node_id_only_when_given() -> None:
    assert RunInputs.from_env({"PREFLIGHT_INPUT_NODE_ID": " macos "}).node_id == "macos"
    given = action_helper.preflight_env(RunInputs.from_env({"PREFLIGHT_INPUT_NODE_ID": "macos"}), {"PREFLIGHT_NODE_ID": "job-level"})
    assert given["PREFLIGHT_NODE_ID"] == "macos"
    # empty input: the job's own PREFLIGHT_NODE_ID (or the runner name) still decides
    assert action_helper.preflight_env(RunInputs.from_env({}), {"PREFLIGHT_NODE_ID": "job-level"})["PREFLIGHT_NODE_ID"] == "job-level"
    assert "PREFLIGHT_NODE_ID" not in action_helper.preflight_env(RunInputs.from_env({}), {"RUNNER_NAME": "GitHub Actions 3"})


def test_run_names_the_node_in_the_report(tmp_path: Path, github_output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFLIGHT_NODE_ID", raising=False)
    env = _run_env(tmp_path, github_output, PREFLIGHT_INPUT_NODE_ID="windows")
    assert action_helper.main(["run", "--action-root", str(ROOT)], env=env) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["host"]["node_id"] == "windows"


def test_summarize_forwards_baseline_fail_on_and_history() -> None:
    env = {"PREFLIGHT_BASELINE": "github", "PREFLIGHT_FAIL_ON": "regression", "PREFLIGHT_HISTORY": "outputs/history.jsonl"}
    command = action_helper.summarize_command("/py", Path("/act"), SummarizeInputs.from_env(env))
    assert command[command.index("--baseline") + 1] == "github"
    assert command[command.index("--fail-on") + 1] == "regression"
    assert command[command.index("--history") + 1] == "outputs/history.jsonl"
    assert "--history-from" not in command
    carried = SummarizeInputs.from_env({**env, "PREFLIGHT_HISTORY_FROM": "github"})
    command = action_helper.summarize_command("/py", Path("/act"), carried)
    assert command[command.index("--history-from") :][:4] == ["--history-from", "github", "--history-artifact", "runtime-preflight-history"]
    assert not {"--baseline", "--fail-on", "--history"} & set(
        action_helper.summarize_command("/py", Path("/act"), SummarizeInputs.from_env({}))
    )
    with pytest.raises(ActionInputError, match="input fail-on"):
        SummarizeInputs.from_env({"PREFLIGHT_FAIL_ON": "regressions"})
