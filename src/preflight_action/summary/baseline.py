"""Where the PR delta's baseline comes from: a summary JSON file, or the base branch's last good run.

``--baseline github`` takes the ``runtime-preflight-summary`` artifact (zip) of
the latest successful run of this workflow on the base branch
(``github.artifacts``) and reads the summary JSON in it through the hardened
reader. Anything that stops that (no token, 403, no run, no artifact, an expired
one, a network error) becomes a ``Baseline`` with a note, never an exception:
the summary is still written and says why it has no baseline. A baseline that
*is* read but is not a valid summary is bad input (exit 2), like a bad report.
"""

from __future__ import annotations

from pathlib import Path

from preflight_action import atomic, documents, schemas
from preflight_action.errors import InputError
from preflight_action.github import artifacts
from preflight_action.github.artifacts import Source
from preflight_action.github.client import TOKEN_ENV
from preflight_action.summary.delta import Baseline
from preflight_action.summary.load import KIND
from preflight_action.summary.serialise import MAX_BYTES, SCHEMA_NAME

ARTIFACT = "runtime-preflight-summary"
HISTORY_MAX_BYTES = 1 << 30  # a year of nightly records of a large fleet


def from_file(path: str | Path) -> Baseline:
    """A summary JSON on disk; a missing file is a note, an invalid one raises InputError/SchemaError."""
    file = Path(path)
    if file.is_dir():  # a mistake, not a first run: say what it is (bad input, exit 2)
        raise InputError(f"{file} is a directory: --baseline takes a summary JSON file (or 'github')")
    if not file.is_file():
        return Baseline("file", str(file), None, f"no baseline: {file} does not exist")
    document = schemas.read_json(file, SCHEMA_NAME, MAX_BYTES)
    return Baseline("file", str(file), document)


def source(
    repo: str | None = None,
    branch: str | None = None,
    workflow: str | None = None,
    token_env: str = TOKEN_ENV,
    api_url: str | None = None,
    artifact: str = ARTIFACT,
) -> Source:
    """What ``--baseline github`` reads, from flags first, then the Actions environment."""
    return Source.from_environment(artifact, repo=repo, branch=branch, workflow=workflow, token_env=token_env, api_url=api_url)


def from_github(where_from: Source) -> Baseline:
    """The base branch's last successful summary artifact, or a Baseline that says why not."""
    fetched = artifacts.fetch(where_from, "baseline")
    if fetched.data is None:
        return Baseline("github", fetched.where, None, fetched.note)
    found = artifacts.members(fetched.data, ".json", MAX_BYTES)
    if found is None:
        return Baseline("github", fetched.where, None, "no baseline: the artifact download is not a zip file")
    for name, data in found:
        try:
            document = documents.loads(data, f"{fetched.where} artifact {name}", MAX_BYTES).value
        except InputError:
            continue  # not JSON we can read: maybe the next member is the summary
        if isinstance(document, dict) and document.get("kind") == KIND:
            schemas.validate(document, SCHEMA_NAME, f"{fetched.where} artifact {name}")
            return Baseline("github", f"{fetched.where} ({name})", document)
    return Baseline("github", fetched.where, None, "no baseline: the artifact holds no preflight summary JSON")


def fetch_history(where_from: Source, path: str | Path) -> str | None:
    """The previous run's history artifact unpacked to ``path``; a note (and no file) when there is none."""
    fetched = artifacts.fetch(where_from, "history", HISTORY_MAX_BYTES)
    if fetched.data is None:
        return fetched.note
    found = artifacts.members(fetched.data, ".jsonl", HISTORY_MAX_BYTES)
    if found is None:
        return f"no history: the {where_from.artifact} artifact of {fetched.where} is not a zip of a JSON-lines file"
    if not found:
        return f"no history: the {where_from.artifact} artifact of {fetched.where} holds no .jsonl file"
    try:
        text = found[0][1].decode("utf-8")
    except UnicodeDecodeError:
        return f"no history: the {where_from.artifact} artifact of {fetched.where} is not a zip of a JSON-lines file"
    atomic.write_text(path, text)
    return None
