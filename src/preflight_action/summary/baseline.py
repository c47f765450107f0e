"""Where the PR delta's baseline comes from: a summary JSON file, or the base branch's last good run.

``--baseline github`` asks the REST API (through PyGithub) for the latest
successful run of this workflow on the base branch, takes its
``runtime-preflight-summary`` artifact (zip) and reads the summary JSON in it.
Anything that stops that (no token, 403, no run, no artifact, an expired one, a
network error) becomes a ``Baseline`` with a note, never an exception: the
summary is still written and says why it has no baseline. A baseline that *is*
read but is not a valid summary is bad input (exit 2), like a bad report.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight_action import redact, schemas
from preflight_action.errors import InputError
from preflight_action.summary.delta import Baseline
from preflight_action.summary.load import KIND
from preflight_action.summary.serialise import SCHEMA_NAME

DEFAULT_API_URL = "https://api.github.com"
ARTIFACT = "runtime-preflight-summary"
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024  # a summary of 10,000 reports is a few MiB; refuse anything absurd


def from_file(path: str | Path) -> Baseline:
    """A summary JSON on disk; a missing file is a note, an invalid one raises InputError/SchemaError."""
    file = Path(path)
    if file.is_dir():  # a mistake, not a first run: say what it is (bad input, exit 2)
        raise InputError(f"{file} is a directory: --baseline takes a summary JSON file (or 'github')")
    if not file.is_file():
        return Baseline("file", str(file), None, f"no baseline: {file} does not exist")
    document = schemas.read_json(file, SCHEMA_NAME)
    return Baseline("file", str(file), document)


@dataclass(frozen=True)
class Source:
    """What ``--baseline github`` needs, from flags first, then the Actions environment."""

    repo: str | None
    branch: str | None
    workflow: str | None
    api_url: str
    token: str = field(repr=False)
    artifact: str = ARTIFACT
    timeout_s: int = 20

    @classmethod
    def from_environment(
        cls,
        repo: str | None = None,
        branch: str | None = None,
        workflow: str | None = None,
        token_env: str = "GITHUB_TOKEN",  # noqa: S107 - the variable's name, not a secret
        api_url: str | None = None,
        artifact: str = ARTIFACT,
        environ: Mapping[str, str] | None = None,
    ) -> Source:
        env = os.environ if environ is None else environ
        return cls(
            repo=repo or env.get("GITHUB_REPOSITORY"),
            # on a pull request the base branch; on a push or schedule, the branch itself
            branch=branch or env.get("GITHUB_BASE_REF") or env.get("GITHUB_REF_NAME") or None,
            workflow=workflow or workflow_file(env.get("GITHUB_WORKFLOW_REF")),
            api_url=(api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            token=env.get(token_env, ""),
            artifact=artifact,
        )


def workflow_file(workflow_ref: str | None) -> str | None:
    """``ci.yml`` out of ``octo/demo/.github/workflows/ci.yml@refs/pull/7/merge``."""
    if not workflow_ref:
        return None
    path = workflow_ref.split("@", 1)[0]
    return path.rsplit("/", 1)[-1] or None


def from_github(source: Source) -> Baseline:
    """The base branch's last successful summary artifact, or a Baseline that says why not."""
    data, where, note = fetch(source, "baseline")
    if data is None:
        return Baseline("github", where, None, note)
    return _from_zip(data, where)


def fetch_history(source: Source, path: str | Path, max_bytes: int = 1 << 30) -> str | None:
    """The previous run's history artifact unpacked to ``path``; a note (and no file) when there is none."""
    from preflight_action import atomic

    data, where, note = fetch(source, "history", max_bytes)
    if data is None:
        return note
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = next((n for n in sorted(archive.namelist()) if n.endswith(".jsonl")), None)
            if name is None:
                return f"no history: the {source.artifact} artifact of {where} holds no .jsonl file"
            text = archive.read(name).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError):
        return f"no history: the {source.artifact} artifact of {where} is not a zip of a JSON-lines file"
    atomic.write_text(path, text)
    return None


def fetch(source: Source, what: str, max_bytes: int = MAX_ARTIFACT_BYTES) -> tuple[bytes | None, str, str]:
    """(zip bytes, where they came from, "") of ``source.artifact`` from the latest successful run, or (None, where, why not)."""
    where = f"{source.repo or '?'} {source.branch or '?'}"
    missing = [name for name, value in (("repository", source.repo), ("branch", source.branch), ("workflow", source.workflow)) if not value]
    if missing:
        return None, where, f"no {what}: unknown {', '.join(missing)} (not in GitHub Actions? pass a file)"
    if not source.token:
        return None, where, f"no {what}: no token to read earlier runs' artifacts"
    from github import Auth, Github, GithubException
    from requests import HTTPError, RequestException

    gh = Github(auth=Auth.Token(source.token), base_url=source.api_url, timeout=source.timeout_s, retry=None, per_page=50)
    try:
        repo = gh.get_repo(str(source.repo))
        runs = repo.get_workflow(str(source.workflow)).get_runs(branch=str(source.branch), status="success")
        run = next(iter(runs), None)
        if run is None:
            return None, where, f"no {what}: no successful {source.workflow} run on {source.branch}"
        where = run.html_url or where
        artifact = next((a for a in run.get_artifacts() if a.name == source.artifact), None)
        if artifact is None:
            return None, where, f"no {what}: run {run.id} on {source.branch} has no {source.artifact} artifact"
        if artifact.expired:
            return None, where, f"no {what}: the {source.artifact} artifact of run {run.id} has expired"
        if artifact.size_in_bytes > max_bytes:
            return None, where, f"no {what}: the {source.artifact} artifact is {artifact.size_in_bytes} bytes"
        return _download(artifact.archive_download_url, source, max_bytes), where, ""
    except GithubException as error:
        message = error.data.get("message") if isinstance(error.data, dict) else None
        return None, where, f"no {what}: GitHub answered {error.status}: {message or 'no message'}"
    except HTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        return None, where, f"no {what}: the artifact download answered {status}"
    except (RequestException, OSError) as error:
        return None, where, f"no {what}: {type(error).__name__}: {redact.scrub_text(str(error)[:200], [source.token])}"
    finally:
        gh.close()


def _download(url: str, source: Source, max_bytes: int) -> bytes:
    """The artifact zip. GitHub answers with a redirect to short-lived blob storage on another host
    (PyGithub's own stream refuses hosts outside github.com); requests drops the token on that hop."""
    import requests

    headers = {"Authorization": f"Bearer {source.token}", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    with requests.get(url, headers=headers, timeout=source.timeout_s, stream=True) as response:
        response.raise_for_status()
        chunks, total = [], 0
        for chunk in response.iter_content(65536):
            total += len(chunk)
            if total > max_bytes:
                raise OSError(f"the artifact is larger than {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _from_zip(data: bytes, where: str) -> Baseline:
    """The summary JSON inside an artifact zip (the first member whose ``kind`` says it is one)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return Baseline("github", where, None, "no baseline: the artifact download is not a zip file")
    with archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
            if archive.getinfo(name).file_size > MAX_ARTIFACT_BYTES:
                continue
            try:
                document: Any = json.loads(archive.read(name))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(document, dict) and document.get("kind") == KIND:
                schemas.validate(document, SCHEMA_NAME, f"{where} artifact {name}")
                return Baseline("github", f"{where} ({name})", document)
    return Baseline("github", where, None, "no baseline: the artifact holds no preflight summary JSON")
