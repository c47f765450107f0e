"""The composite actions' logic: set up the orchestrator, run the preflight or the summarizer, write step outputs.

The action YAML only passes inputs through ``PREFLIGHT_*`` environment variables and calls one
subcommand; everything that decides something lives here and is unit-tested.

``setup`` runs under the bootstrap interpreter before anything of ours is installed: the action
runs this module as a file, it puts the action's ``src/`` on ``sys.path``, and everything it imports
at the top is the standard library or stdlib-only (``preflight_action.errors``, the inputs'
parsing in ``action_inputs``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

if __name__ == "__main__" and not __package__:
    # Run as a file by an interpreter that may not have us installed: import the package from the
    # action's src/, and not from this file's directory (its module names are not top-level).
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent.parent))

from preflight_action.errors import PreflightError
from preflight_action.github.action_inputs import (
    ActionInputError,
    RunInputs,
    SetupInputs,
    SummarizeInputs,
)
from preflight_action.github.annotations import command
from preflight_action.process.tree import kill_tree

# What the orchestrator imports; a preinstalled interpreter without one of them cannot run it.
ORCHESTRATOR_IMPORTS = ("jsonschema", "yaml", "jinja2", "rich", "psutil")
VENV_MARKER = "preflight-action-install.txt"
SETUP_TIMEOUT_S = 900  # venv + pip install of a handful of pure-Python wheels, with slack for slow mirrors
RUN_TIMEOUT_S = 3600  # each check has its own timeout inside; this only stops a wedged orchestrator
PROBE_TIMEOUT_S = 60


def venv_python(venv_dir: Path, windows: bool | None = None) -> Path:
    """The interpreter inside a venv: Scripts/python.exe on Windows, bin/python elsewhere."""
    if windows is None:
        windows = os.name == "nt"
    return venv_dir / "Scripts" / "python.exe" if windows else venv_dir / "bin" / "python"


def resolve_interpreter(spec: str, name: str = "python") -> str:
    """An absolute interpreter path as the interpreter itself reports it (PATH lookup, PATHEXT on Windows)."""
    candidate = shutil.which(spec) or spec
    try:
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ActionInputError(f"input {name}: cannot run {spec!r} ({exc})") from None
    path = done.stdout.strip()
    if done.returncode != 0 or not path:
        raise ActionInputError(f"input {name}: {spec!r} did not start (exit {done.returncode})")
    return path


def annotate_error(message: str) -> None:
    """An ``::error::`` workflow command, escaped so a message cannot start another command."""
    print(command("error", message, title="preflight-action"), flush=True)


def write_outputs(values: Mapping[str, str], path: str | None) -> None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` (heredoc form for multi-line values); print them too."""
    lines = []
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{key}={value}\n")
        print(f"{key}={value}")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(lines)


def install_command(python: Path, action_root: Path) -> list[str]:
    """pip installs the action's own checkout (and its dependencies) into the orchestrator venv."""
    return [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", str(action_root)]


def missing_imports(names: Sequence[str] = ORCHESTRATOR_IMPORTS) -> list[str]:
    """The orchestrator dependencies this interpreter cannot import."""
    import importlib.util

    return [name for name in names if importlib.util.find_spec(name) is None]


def shell_path(path: str | PurePath) -> str:
    """A path bash can execute on every runner: forward slashes (Git Bash runs ``D:/a/x.exe``, Python reads it)."""
    return (path if isinstance(path, PurePath) else Path(path)).as_posix()


def setup(action_root: Path, inputs: SetupInputs) -> dict[str, str]:
    """Make an interpreter that can run the orchestrator; never touches the diagnosed environment."""
    diagnosed = resolve_interpreter(inputs.python)
    if inputs.install_from == "preinstalled":
        missing = missing_imports()
        if missing:
            raise ActionInputError(
                f"input install-from: preinstalled, but {sys.executable} cannot import {', '.join(missing)}; use install-from: index"
            )
        return {"orchestrator": shell_path(sys.executable), "python": diagnosed}
    orchestrator = venv_python(inputs.venv_dir)
    marker = inputs.venv_dir / VENV_MARKER
    stamp = f"{action_root.resolve()}\n"
    if orchestrator.exists() and marker.exists() and marker.read_text(encoding="utf-8") == stamp:
        print(f"reusing the orchestrator venv {inputs.venv_dir}")
        return {"orchestrator": shell_path(orchestrator), "python": diagnosed}
    import venv

    print(f"creating the orchestrator venv {inputs.venv_dir} (isolated from {diagnosed})", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(inputs.venv_dir)
    except (subprocess.CalledProcessError, OSError) as exc:
        why = f"ensurepip exit {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise ActionInputError(
            f"input orchestrator-python: {sys.executable} could not create the orchestrator venv {inputs.venv_dir} ({why}); "
            "set orchestrator-python to a Python with venv/ensurepip"
        ) from None
    command = install_command(orchestrator, action_root)
    print("+ " + shlex.join(command), flush=True)
    try:
        subprocess.run(command, check=True, timeout=SETUP_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        raise ActionInputError(f"installing the orchestrator from {action_root} failed (pip exit {exc.returncode})") from None
    except subprocess.TimeoutExpired:
        raise ActionInputError(f"installing the orchestrator from {action_root} took over {SETUP_TIMEOUT_S} s") from None
    marker.write_text(stamp, encoding="utf-8")
    return {"orchestrator": shell_path(orchestrator), "python": diagnosed}


def preflight_command(orchestrator: str, action_root: Path, inputs: RunInputs) -> list[str]:
    """The exact ``scripts/runtime_preflight.py`` command line the action runs."""
    command = [orchestrator, str(action_root / "scripts" / "runtime_preflight.py"), "--device", inputs.device]
    command += ["--check-torchvision"] * inputs.check_torchvision + ["--check-compile"] * inputs.check_compile
    command += ["--check-distributed"] * inputs.check_distributed
    command += ["--expect-gpus", str(inputs.expect_gpus)] if inputs.expect_gpus else []
    command += ["--strict"] * inputs.strict
    command += ["--level", inputs.level] if inputs.level != "standard" else []  # standard: the command as it always was
    command += ["--budget", f"{inputs.budget_s:g}"] if inputs.budget_s is not None else []
    command += ["--python", inputs.python, "--output-path", str(inputs.output_path), *inputs.extra_args]
    return command


def preflight_env(inputs: RunInputs, base: Mapping[str, str]) -> dict[str, str]:
    """The preflight's environment: ``base`` with ``PREFLIGHT_NODE_ID`` set from the node-id input when it is given."""
    env = dict(base)
    if inputs.node_id:
        env["PREFLIGHT_NODE_ID"] = inputs.node_id
    return env


def report_outputs(report_path: Path) -> dict[str, str]:
    """``status``, ``verdict``, ``report-path``, ``fail-count``, ``top-severity`` from a schema-valid report."""
    from preflight_action.preflight import report

    document = report.read(report_path)
    return {
        "status": document.status,
        "verdict": document.verdict,
        "report-path": str(report_path),
        "fail-count": str(document.count("fail")),
        "top-severity": document.triage.highest_band or "none",
    }


def run_bounded(command: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None) -> int | None:
    """Run ``command``; its exit code, or None after killing it and everything it started at ``timeout_s``."""
    proc = subprocess.Popen(list(command), env=None if env is None else dict(env))
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        return None
    except BaseException:  # Ctrl-C or a cancelled job: leave no probe or compile worker behind
        kill_tree(proc)
        raise


def run_preflight(orchestrator: str, action_root: Path, inputs: RunInputs, output_file: str | None) -> int:
    """Run the preflight, write the step outputs (also when it fails), return its exit code."""
    # A report left by an earlier run at this path must not pass for this run's.
    inputs.output_path.unlink(missing_ok=True)
    command = preflight_command(orchestrator, action_root, inputs)
    print("+ " + shlex.join(command), flush=True)
    code = run_bounded(command, RUN_TIMEOUT_S, preflight_env(inputs, os.environ))
    if code is None:
        print(f"runtime_preflight.py ran over {RUN_TIMEOUT_S} s and was stopped", file=sys.stderr)
        code = 1
    try:
        outputs = report_outputs(inputs.output_path)
    except (OSError, PreflightError) as exc:
        annotate_error(f"no valid report at {inputs.output_path}: {exc}")
        outputs = {"status": "error", "verdict": "not_judged", "report-path": "", "fail-count": "", "top-severity": ""}
        code = code or 1
    write_outputs(outputs, output_file)
    return code


def summarize_command(orchestrator: str, action_root: Path, inputs: SummarizeInputs) -> list[str]:
    """The ``scripts/summarize.py`` command line; the token is read from GITHUB_TOKEN, never passed as an argument."""
    command = [orchestrator, str(action_root / "scripts" / "summarize.py"), "--input-glob", inputs.input_glob]
    command += ["--output-md", inputs.output_md, "--output-json", inputs.output_json]
    command += ["--step-summary"] * inputs.step_summary + ["--annotations"] * inputs.annotations
    command += ["--artifact-url", inputs.artifact_url] * bool(inputs.artifact_url)
    command += ["--allow-invalid"] * inputs.allow_invalid
    command += ["--comment-author", inputs.comment_author] * bool(inputs.comment_author)
    command += ["--baseline", inputs.baseline] * bool(inputs.baseline) + ["--fail-on", inputs.fail_on] * (inputs.fail_on != "never")
    command += ["--history", inputs.history] * bool(inputs.history)
    if inputs.history and inputs.history_from == "github":
        command += ["--history-from", "github", "--history-artifact", inputs.history_artifact]
    if inputs.post_comment:
        command += ["--post-comment", "--comment-key", inputs.comment_key, "--token-env", "GITHUB_TOKEN"]
        command += ["--require-comment"] * inputs.require_comment
        command += ["--repo", inputs.repo] * bool(inputs.repo) + ["--pr", inputs.pr] * bool(inputs.pr)
    return command


def run_summarize(orchestrator: str, action_root: Path, inputs: SummarizeInputs, output_file: str | None) -> int:
    """Run the summarizer, output the summary paths it wrote (empty for one it did not), return its exit code."""
    written = {"summary-md": Path(inputs.output_md).absolute(), "summary-json": Path(inputs.output_json).absolute()}
    # A summary left by an earlier run at these paths must not pass for this run's.
    for path in written.values():
        path.unlink(missing_ok=True)
    command = summarize_command(orchestrator, action_root, inputs)
    print("+ " + shlex.join(command), flush=True)
    code = run_bounded(command, RUN_TIMEOUT_S)
    if code is None:
        print(f"summarize.py ran over {RUN_TIMEOUT_S} s and was stopped", file=sys.stderr)
        code = 1
    write_outputs({key: str(path) if path.exists() else "" for key, path in written.items()}, output_file)
    return code


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="action_helper", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["setup", "run", "summarize", "outputs"])
    parser.add_argument("--action-root", type=Path, default=Path(__file__).resolve().parents[2], help="the action's checkout")
    parser.add_argument("--orchestrator", default=sys.executable, help="interpreter that runs our scripts (run, summarize)")
    parser.add_argument("--report", type=Path, help="report to read (outputs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    args.action_root = args.action_root.resolve()
    env = os.environ if env is None else env
    output_file = env.get("GITHUB_OUTPUT")
    try:
        if args.command == "setup":
            write_outputs(setup(args.action_root, SetupInputs.from_env(env)), output_file)
            return 0
        if args.command == "run":
            return run_preflight(args.orchestrator, args.action_root, RunInputs.from_env(env), output_file)
        if args.command == "outputs":
            if args.report is None:
                raise ActionInputError("outputs needs --report PATH")
            write_outputs(report_outputs(args.report.absolute()), output_file)
            return 0
        return run_summarize(args.orchestrator, args.action_root, SummarizeInputs.from_env(env), output_file)
    except PreflightError as exc:
        annotate_error(str(exc))
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
