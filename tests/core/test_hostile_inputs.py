"""Hostile input files are one line naming the file (and the field or line), exit 2, never a hang or a traceback.

FIFOs, sockets and devices where a file is expected; YAML alias bombs and duplicate keys in policies; numbers
Python will not convert or that are not finite; secrets a report carries into the outputs built from it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight_action import documents, policy_files, redact, schemas
from preflight_action.errors import InputError
from preflight_action.history import store
from tests.conftest import ROOT
from tests.support.gate_reports import EXPORT, GATE
from tests.support.report_factory import report_doc

SEVERITY = ROOT / "policy" / "severity.yaml"
SECRET = "s3cr3t-Value-0f-a-Token-9876"
TOKEN = "ghp_" + "A1b2C3d4E5" * 4
LEAKY = f"boom token={SECRET} then {TOKEN} in the worker's stderr"


def finished(call: Callable[[], Any], within_s: float = 30.0) -> Any:
    """``call()``'s result, or the exception it raised; fails (instead of hanging the suite) when it blocks."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)  # a reader blocked in open() on a FIFO cannot be stopped
    worker.start()
    worker.join(within_s)
    assert outcome, f"still blocked after {within_s} s (a reader opened a FIFO and waits for a writer)"
    return outcome[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pf") as folder:  # short: a socket path has about 100 characters
        path = Path(folder) / "s.json"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        try:
            yield path
        finally:
            server.close()


READERS: dict[str, Callable[[Path], Any]] = {
    "json": documents.read,
    "yaml": policy_files.parse_yaml,
    "history": lambda path: store.read_tail(path, 5),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_a_fifo_is_refused_at_once_by_every_reader(fifo: Path, reader: str) -> None:
    error = finished(lambda: READERS[reader](fifo))
    assert isinstance(error, InputError)
    assert str(error).startswith(f"{fifo}: not a regular file (a FIFO)")


@pytest.mark.parametrize("reader", list(READERS))
def test_a_socket_a_device_and_a_directory_are_refused_by_name(unix_socket: Path, tmp_path: Path, reader: str) -> None:
    for path, kind in ((unix_socket, "a socket"), (Path("/dev/zero"), "a character device"), (tmp_path, "a directory")):
        error = finished(lambda path=path: READERS[reader](path))  # type: ignore[misc]
        assert isinstance(error, InputError)
        assert str(error).startswith(f"{path}: not a regular file ({kind})")


def _cli(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=env, check=False)


def test_a_fifo_given_to_the_commands_is_one_line_and_exit_2(fifo: Path, tmp_path: Path) -> None:
    report = tmp_path / "ok.json"
    report.write_text(json.dumps(report_doc()), encoding="utf-8")
    runs = {
        "preflight --policy": _cli(str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cpu", "--policy", str(fifo), "--quiet"),
        "diff": _cli("-m", "preflight_action.diff.cli", str(fifo), str(report)),
        "export": _cli(str(EXPORT), "--from-report", str(fifo), "--output-junit", str(tmp_path / "j.xml")),
        "gate": _cli(str(GATE), "--gate", "npd", "--from-report", str(fifo)),
    }
    for what, done in runs.items():
        assert done.returncode == 2, (what, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, what
        assert f"{fifo}: not a regular file (a FIFO)" in done.stdout + done.stderr, what


BOMB = """\
schema_version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        policy_files.read_yaml(path, "severity_policy")
    assert str(caught.value) == f"{path}: line 3: YAML aliases are not accepted (*a): write the value out"
    assert time.monotonic() - started < 5  # built, the 387 million strings take minutes and all the memory


def test_an_anchor_without_an_alias_and_a_star_in_a_string_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "fine.yaml"
    path.write_text('a: &first 1\nb: "*not an alias*"\nc: [x*, "**"]\n', encoding="utf-8")
    assert policy_files.parse_yaml(path) == {"a": 1, "b": "*not an alias*", "c": ["x*", "**"]}


def test_a_key_given_twice_is_refused_with_its_line_not_silently_the_last(tmp_path: Path) -> None:
    path = tmp_path / "severity.yaml"
    path.write_text(SEVERITY.read_text(encoding="utf-8") + "strict_threshold: low\n", encoding="utf-8")
    line = path.read_text(encoding="utf-8").count("\n")
    with pytest.raises(InputError) as caught:
        policy_files.read_yaml(path, "severity_policy")
    assert str(caught.value) == f"{path}: line {line}: duplicate key 'strict_threshold' (YAML would keep only the last)"
    nested = tmp_path / "nested.yaml"
    nested.write_text("outer:\n  a: 1\n  b: 2\n  a: 3\nother: {a: 1}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"nested\.yaml: line 4: duplicate key 'a'"):
        policy_files.parse_yaml(nested)
    same_text = tmp_path / "types.yaml"  # 1 and "1" are two keys (an int and a string)
    same_text.write_text('1: int\n"1": str\n', encoding="utf-8")
    assert policy_files.parse_yaml(same_text) == {1: "int", "1": "str"}


def test_the_policy_flag_refuses_a_duplicate_key_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "severity.yaml"
    path.write_text(SEVERITY.read_text(encoding="utf-8") + "strict_threshold: low\n", encoding="utf-8")
    report = tmp_path / "ok.json"
    report.write_text(json.dumps(report_doc()), encoding="utf-8")
    done = _cli("-m", "preflight_action.summary.cli", "--input-glob", str(report), "--policy", str(path), "--quiet")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "duplicate key 'strict_threshold'" in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default_score: .nan\n", "/default_score: nan is not a finite number"),
        ("bands:\n  - {name: low, min_score: -.inf}\n", "/bands/0/min_score: -inf is not a finite number"),
        ("seed: 1" + "0" * 5000 + "\n", "line 1: an integer of 5001 digits is out of range"),
    ],
    ids=["nan", "inf-in-a-list", "5001-digits"],
)
def test_yaml_numbers_python_will_not_use_are_named(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        policy_files.parse_yaml(path)
    assert str(caught.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"fail_count": 1' + "0" * 5000 + "}",
            r"an integer of 5001 digits is out of range \(it overflows to infinity\) at line 1 column 16$",
        ),
        ('{"a": [1, 2], "duration_ms": NaN}', r"NaN is not a JSON number .* at line 1 column 30$"),
        ('{"duration_ms": -Infinity}', r"-Infinity is not a JSON number"),
        ('{"duration_ms": 1e999}', r"the number 1e999 is out of range \(it overflows to infinity\) at line 1 column 17$"),
        ('{"duration_ms": 1' + "0" * 400 + "}", r"an integer of 401 digits is out of range"),
    ],
    ids=["5000-digit-int", "nan", "minus-infinity", "1e999", "400-digit-int"],
)
def test_json_numbers_no_report_holds_are_one_line_naming_the_file(tmp_path: Path, raw: str, expected: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(raw, encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{path}: {expected}"):
        documents.read(path)


def test_big_but_finite_numbers_and_the_strings_a_writer_stores_are_read() -> None:
    document = documents.loads(b'{"a": 12345678901234567890123, "b": 1.5e300, "c": "NaN", "d": "Infinity"}', "ok.json").value
    assert document == {"a": 1.2345678901234568e22, "b": 1.5e300, "c": "NaN", "d": "Infinity"}


@pytest.mark.parametrize(
    "raw",
    ['"fail_count": 1' + "0" * 5000, '"duration_ms": NaN', '"duration_ms": 1e999'],
    ids=["5000-digit-int", "nan", "1e999"],
)
def test_summarize_refuses_such_a_report_with_exit_2_and_no_traceback(tmp_path: Path, raw: str) -> None:
    document = json.dumps(report_doc())
    path = tmp_path / "report.json"
    path.write_text(document[:-1] + ", " + raw + "}", encoding="utf-8")
    out = tmp_path / "summary.json"
    done = _cli("-m", "preflight_action.summary.cli", "--input-glob", str(path), "--output-json", str(out), "--quiet")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{path}: " in done.stderr + out.read_text(encoding="utf-8")
    json.loads(out.read_text(encoding="utf-8"), parse_constant=pytest.fail)  # no bare NaN reached the summary


def _leaky_report(tmp_path: Path, node: str = "node-a") -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report_doc(node=node, failures={"torch.import": LEAKY, "tensor.smoke": TOKEN})), encoding="utf-8")
    return path


def _clean(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text
    assert TOKEN[4:] not in text
    assert redact.REDACTED in text or "&lt;redacted&gt;" in text


def test_the_reader_scrubs_secrets_and_a_scrubbed_report_keeps_its_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    path = _leaky_report(tmp_path)
    document = documents.read(path).value
    _clean(json.dumps(document))
    assert schemas.problems(document, "preflight_report") == []
    escaped = tmp_path / "escaped.json"  # the same secret behind JSON escapes is still found
    escaped.write_text(path.read_text(encoding="utf-8").replace("s3cr3t", "\\u0073\\u0033cr3t"), encoding="utf-8")
    _clean(json.dumps(documents.read(escaped).value))


def test_a_clean_report_is_read_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    path = tmp_path / "report.json"
    document = report_doc(failures={"torch.import": 'line one\nline "two" \\ naïve https://example.com/x'})
    path.write_text(json.dumps(document), encoding="utf-8")
    assert documents.read(path).value == document


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_", "PREFLIGHT_"))}
    env.update(GITHUB_TOKEN=SECRET, **extra)
    return env


def test_export_junit_carries_no_secret_from_the_report(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    done = _cli(str(EXPORT), "--from-report", str(_leaky_report(tmp_path)), "--output-junit", str(out), env=_env())
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert "boom token=" in text
    _clean(text + done.stdout + done.stderr)


def test_diff_carries_no_secret_from_the_report_to_stdout_markdown_or_json(tmp_path: Path) -> None:
    before = tmp_path / "before.json"
    before.write_text(json.dumps(report_doc()), encoding="utf-8")
    after = _leaky_report(tmp_path)
    md, js = tmp_path / "diff.md", tmp_path / "diff.json"
    done = _cli("-m", "preflight_action.diff.cli", str(before), str(after), "--output-md", str(md), "--output-json", str(js), env=_env())
    assert done.returncode == 1, done.stderr
    for text in (done.stdout, md.read_text(encoding="utf-8"), js.read_text(encoding="utf-8")):
        assert "boom token=" in text
        _clean(text)


def test_the_github_runner_gate_carries_no_secret_into_the_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    report = _leaky_report(tmp_path, node="gpu-runner-7")
    env = _env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), RUNNER_NAME="gpu-runner-7")
    done = _cli(str(GATE), "--gate", "github-runner", "--from-report", str(report), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    text = summary.read_text(encoding="utf-8")
    assert "boom token=" in text
    _clean(text + done.stdout)


def test_secrets_the_reader_never_held_are_scrubbed_by_their_names(tmp_path: Path) -> None:
    """A hostile report may carry a secret-named variable in clear, or 'password=...' in an error: neither value is in the
    reading job's environment, so only the names can say it is a secret. diff and export show neither value."""
    document = report_doc(failures={"torch.import": "licence refused: password=Hunter2xQ9 for user"})
    document["env_fingerprint"]["payload"]["environment"] = {"WANDB_API_KEY": "wbSecretValue998877665544", "NCCL_DEBUG": "INFO"}
    leaky = tmp_path / "after.json"
    leaky.write_text(json.dumps(document), encoding="utf-8")
    before = tmp_path / "before.json"
    earlier = report_doc()
    earlier["env_fingerprint"]["payload"]["environment"] = {"NCCL_DEBUG": "INFO"}
    before.write_text(json.dumps(earlier), encoding="utf-8")
    md, junit = tmp_path / "diff.md", tmp_path / "junit.xml"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "RUNNER_", "PREFLIGHT_"))}
    diffed = _cli("-m", "preflight_action.diff.cli", str(before), str(leaky), "--output-md", str(md), env=env)
    exported = _cli(str(EXPORT), "--from-report", str(leaky), "--output-junit", str(junit), env=env)
    assert (diffed.returncode, exported.returncode) == (1, 0), diffed.stderr + exported.stderr
    for text in (diffed.stdout, md.read_text(encoding="utf-8"), junit.read_text(encoding="utf-8")):
        assert "Hunter2xQ9" not in text
        assert "wbSecretValue998877665544" not in text
    read = documents.read(leaky).value["env_fingerprint"]["payload"]["environment"]
    assert read == {"WANDB_API_KEY": "<redacted>", "NCCL_DEBUG": "INFO"}  # the variable is named, its value is not
    assert "password=&lt;redacted&gt;" in junit.read_text(encoding="utf-8") or "password=<redacted>" in junit.read_text(encoding="utf-8")


def test_summarize_publishes_no_secret_of_a_hostile_report_it_read_without_the_readers_scrub(tmp_path: Path) -> None:
    """summarize reads without the per-file scrub (it scrubs what it writes): what it writes still holds no secret."""
    from preflight_action.summary import cli as summarize

    document = report_doc(failures={"torch.import": "licence refused: password=Hunter2xQ9 for user"})
    document["env_fingerprint"]["payload"]["environment"] = {"MY_DB_PASS": "dbSecret77665544", "NCCL_DEBUG": "INFO"}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.json").write_text(json.dumps(document), encoding="utf-8")
    md, js = tmp_path / "s.md", tmp_path / "s.json"
    code = summarize.main(["--input-glob", str(tmp_path / "in" / "*.json"), "--output-md", str(md), "--output-json", str(js), "--quiet"])
    assert code in (0, 1)
    for text in (md.read_text(encoding="utf-8"), js.read_text(encoding="utf-8")):
        assert "Hunter2xQ9" not in text
        assert "dbSecret77665544" not in text
