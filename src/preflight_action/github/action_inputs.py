"""The composite actions' inputs: each ``PREFLIGHT_*`` variable parsed into a typed record.

Stdlib-only, like ``action_helper`` which imports it before anything of ours is installed.
A bad input raises ``ActionInputError`` naming the input as the user wrote it (kebab-case).
"""

from __future__ import annotations

import math
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from preflight_action.errors import UsageError
from preflight_action.vocab import FAIL_ON, choice_error

INSTALL_MODES = ("index", "preinstalled")
# Flags the action sets itself from its inputs; taking them from extra-args too would make the
# step outputs point at a report the run never wrote.
MANAGED_FLAGS = ("--python", "--output-path")

# One folder per downloaded artifact (merge-multiple: false), so the summarizer globs recursively:
# same-named reports from different matrix legs never overwrite each other.
DEFAULT_SUMMARY_GLOB = "outputs/runtime_preflight_ci/reports/**/*.json"


class ActionInputError(UsageError):
    """An action input is invalid; the message names the input (kebab-case, as the user wrote it)."""


def parse_bool(value: str, name: str) -> bool:
    """``true``/``false`` (any case, surrounding blanks ignored), as GitHub passes boolean inputs."""
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ActionInputError(f"input {name}: expected true or false, got {value!r}")


def parse_count(value: str, name: str) -> int | None:
    """A whole number of at least 1, or None for an empty input."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ActionInputError(f"input {name}: expected a whole number of at least 1 (or empty), got {value!r}")
    return int(text)


LEVELS = ("quick", "standard", "deep")


def parse_level(value: str) -> str:
    """The level input: quick, standard or deep (empty: standard)."""
    text = value.strip() or "standard"
    if text not in LEVELS:
        raise ActionInputError(f"input level: expected one of {', '.join(LEVELS)}, got {value!r}")
    return text


def parse_budget(value: str) -> float | None:
    """The budget input: a finite number of seconds above 0, or None for an empty input."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ActionInputError(f"input budget: expected a number of seconds above 0 (or empty), got {value!r}")
    return seconds


def split_extra_args(value: str) -> list[str]:
    """Split ``extra-args`` like a POSIX shell would (quotes group, nothing is executed)."""
    try:
        args = shlex.split(value, posix=True)
    except ValueError as exc:
        raise ActionInputError(f"input extra-args: {exc} in {value!r}") from None
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in MANAGED_FLAGS:
            name = "python" if flag == "--python" else "output-path"
            raise ActionInputError(f"input extra-args: {flag} is set by the action; use the {name} input instead")
    return args


@dataclass(frozen=True)
class SetupInputs:
    install_from: str
    python: str
    venv_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SetupInputs:
        install_from = env.get("PREFLIGHT_INSTALL_FROM", "index").strip() or "index"
        if install_from not in INSTALL_MODES:
            raise ActionInputError(f"input install-from: expected one of {', '.join(INSTALL_MODES)}, got {install_from!r}")
        temp = env.get("RUNNER_TEMP") or tempfile.gettempdir()
        return cls(
            install_from=install_from,
            python=env.get("PREFLIGHT_PYTHON", "").strip() or "python",
            venv_dir=Path(env.get("PREFLIGHT_VENV_DIR") or Path(temp) / "preflight-action-venv"),
        )


@dataclass(frozen=True)
class RunInputs:
    device: str
    check_torchvision: bool
    check_compile: bool
    strict: bool
    python: str
    output_path: Path
    extra_args: tuple[str, ...]
    node_id: str = ""  # the node-id input: empty keeps PREFLIGHT_NODE_ID / the runner name
    level: str = "standard"
    budget_s: float | None = None  # the budget input: empty is the level's default
    check_distributed: bool = False
    expect_gpus: int | None = None  # the expect-gpus input: empty is no expectation

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunInputs:
        output = env.get("PREFLIGHT_OUTPUT_PATH", "").strip() or "outputs/runtime_preflight/preflight.json"
        return cls(
            device=env.get("PREFLIGHT_DEVICE", "").strip() or "auto",
            check_torchvision=parse_bool(env.get("PREFLIGHT_CHECK_TORCHVISION", "false"), "check-torchvision"),
            check_compile=parse_bool(env.get("PREFLIGHT_CHECK_COMPILE", "false"), "check-compile"),
            strict=parse_bool(env.get("PREFLIGHT_STRICT", "false"), "strict"),
            python=env.get("PREFLIGHT_PYTHON", "").strip() or "python",
            output_path=Path(output).absolute(),
            extra_args=tuple(split_extra_args(env.get("PREFLIGHT_EXTRA_ARGS", ""))),
            node_id=env.get("PREFLIGHT_INPUT_NODE_ID", "").strip(),
            level=parse_level(env.get("PREFLIGHT_LEVEL", "")),
            budget_s=parse_budget(env.get("PREFLIGHT_BUDGET", "")),
            check_distributed=parse_bool(env.get("PREFLIGHT_CHECK_DISTRIBUTED", "false"), "check-distributed"),
            expect_gpus=parse_count(env.get("PREFLIGHT_EXPECT_GPUS", ""), "expect-gpus"),
        )


@dataclass(frozen=True)
class SummarizeInputs:
    input_glob: str
    output_md: str
    output_json: str
    step_summary: bool
    annotations: bool
    post_comment: bool
    comment_key: str
    require_comment: bool
    repo: str
    pr: str
    artifact_url: str = ""
    comment_author: str = ""
    allow_invalid: bool = False
    baseline: str = ""  # a summary JSON path, or github (the base branch's last successful run)
    fail_on: str = "never"
    history: str = ""
    history_from: str = ""  # github: fetch the history from the workflow's last successful run when it is not here
    history_artifact: str = "runtime-preflight-history"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SummarizeInputs:
        pr = env.get("PREFLIGHT_PR", "").strip()
        if pr and not pr.isdigit():
            raise ActionInputError(f"input pr: expected a pull request number, got {pr!r}")
        fail_on = env.get("PREFLIGHT_FAIL_ON", "").strip() or "never"
        if fail_on not in FAIL_ON:
            raise ActionInputError(choice_error("input fail-on:", fail_on, FAIL_ON))
        return cls(
            input_glob=env.get("PREFLIGHT_INPUT_GLOB", "").strip() or DEFAULT_SUMMARY_GLOB,
            output_md=env.get("PREFLIGHT_OUTPUT_MD", "").strip() or "outputs/runtime_preflight_ci/preflight_summary.md",
            output_json=env.get("PREFLIGHT_OUTPUT_JSON", "").strip() or "outputs/runtime_preflight_ci/preflight_summary.json",
            step_summary=parse_bool(env.get("PREFLIGHT_STEP_SUMMARY", "true"), "step-summary"),
            annotations=parse_bool(env.get("PREFLIGHT_ANNOTATIONS", "false"), "annotations"),
            post_comment=parse_bool(env.get("PREFLIGHT_POST_COMMENT", "false"), "post-comment"),
            comment_key=env.get("PREFLIGHT_COMMENT_KEY", "").strip() or "runtime-preflight",
            require_comment=parse_bool(env.get("PREFLIGHT_REQUIRE_COMMENT", "false"), "require-comment"),
            repo=env.get("PREFLIGHT_REPO", "").strip() or env.get("GITHUB_REPOSITORY", ""),
            pr=pr,
            artifact_url=env.get("PREFLIGHT_ARTIFACT_URL", "").strip(),
            comment_author=env.get("PREFLIGHT_COMMENT_AUTHOR", "").strip(),
            allow_invalid=parse_bool(env.get("PREFLIGHT_ALLOW_INVALID", "false"), "allow-invalid"),
            baseline=env.get("PREFLIGHT_BASELINE", "").strip(),
            fail_on=fail_on,
            history=env.get("PREFLIGHT_HISTORY", "").strip(),
            history_from=env.get("PREFLIGHT_HISTORY_FROM", "").strip(),
            history_artifact=env.get("PREFLIGHT_HISTORY_ARTIFACT", "").strip() or "runtime-preflight-history",
        )
