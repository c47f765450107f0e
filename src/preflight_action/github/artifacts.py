"""An artifact of an earlier run: the latest successful run of a workflow on a branch, its named artifact's zip.

Anything that stops the download (no token, 403, no run, no artifact, an
expired one, a network error) is a note, never an exception: the caller goes on
without it and says why. What is inside the zip is the caller's to read, through
the hardened reader (``documents``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

from preflight_action import redact
from preflight_action.github import client

MAX_BYTES = 64 * 1024 * 1024  # a summary of 10,000 reports is a few MiB; refuse anything absurd


@dataclass(frozen=True)
class Source:
    """Which artifact of which run: flags first, then the Actions environment."""

    repo: str | None
    branch: str | None
    workflow: str | None
    api_url: str
    token: str = field(repr=False)
    artifact: str = ""
    timeout_s: int = 20

    @classmethod
    def from_environment(
        cls,
        artifact: str,
        repo: str | None = None,
        branch: str | None = None,
        workflow: str | None = None,
        token_env: str = client.TOKEN_ENV,
        api_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Source:
        import os

        env = os.environ if environ is None else environ
        where = client.Connection.from_environment(repo, token_env, api_url, env)
        return cls(
            repo=where.repo,
            # on a pull request the base branch; on a push or schedule, the branch itself
            branch=branch or env.get("GITHUB_BASE_REF") or env.get("GITHUB_REF_NAME") or None,
            workflow=workflow or workflow_file(env.get("GITHUB_WORKFLOW_REF")),
            api_url=where.api_url,
            token=where.token,
            artifact=artifact,
        )


@dataclass(frozen=True)
class Fetched:
    """The artifact's zip bytes (None when there are none), where they came from, and why not."""

    data: bytes | None
    where: str
    note: str = ""


def workflow_file(workflow_ref: str | None) -> str | None:
    """``ci.yml`` out of ``octo/demo/.github/workflows/ci.yml@refs/pull/7/merge``."""
    if not workflow_ref:
        return None
    path = workflow_ref.split("@", 1)[0]
    return path.rsplit("/", 1)[-1] or None


def fetch(source: Source, what: str, max_bytes: int = MAX_BYTES) -> Fetched:
    """``source.artifact`` of the latest successful run, or a note starting ``no {what}:`` that says why not."""
    where = f"{source.repo or '?'} {source.branch or '?'}"
    missing = [name for name, value in (("repository", source.repo), ("branch", source.branch), ("workflow", source.workflow)) if not value]
    if missing:
        return Fetched(None, where, f"no {what}: unknown {', '.join(missing)} (not in GitHub Actions? pass a file)")
    if not source.token:
        return Fetched(None, where, f"no {what}: no token to read earlier runs' artifacts")
    from github import GithubException
    from requests import HTTPError, RequestException

    try:
        with client.session(source.api_url, source.token, timeout_s=source.timeout_s, per_page=50) as gh:
            repo = gh.get_repo(str(source.repo))
            runs = repo.get_workflow(str(source.workflow)).get_runs(branch=str(source.branch), status="success")
            run = next(iter(runs), None)
            if run is None:
                return Fetched(None, where, f"no {what}: no successful {source.workflow} run on {source.branch}")
            where = run.html_url or where
            artifact = next((a for a in run.get_artifacts() if a.name == source.artifact), None)
            if artifact is None:
                return Fetched(None, where, f"no {what}: run {run.id} on {source.branch} has no {source.artifact} artifact")
            if artifact.expired:
                return Fetched(None, where, f"no {what}: the {source.artifact} artifact of run {run.id} has expired")
            if artifact.size_in_bytes > max_bytes:
                return Fetched(None, where, f"no {what}: the {source.artifact} artifact is {artifact.size_in_bytes} bytes")
            return Fetched(client.download(artifact.archive_download_url, source.token, source.timeout_s, max_bytes), where)
    except GithubException as error:
        message = error.data.get("message") if isinstance(error.data, dict) else None
        return Fetched(None, where, f"no {what}: GitHub answered {error.status}: {_scrub(str(message or 'no message'), source)}")
    except HTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        return Fetched(None, where, f"no {what}: the artifact download answered {status}")
    except (RequestException, OSError) as error:
        return Fetched(None, where, f"no {what}: {type(error).__name__}: {_scrub(str(error)[:200], source)}")


def members(data: bytes, suffix: str, max_bytes: int = MAX_BYTES) -> list[tuple[str, bytes]] | None:
    """(name, bytes) of each member ending in ``suffix``, sorted by name, each at most ``max_bytes``; None if not a zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    found = []
    with archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(suffix)):
            if archive.getinfo(name).file_size > max_bytes:
                continue
            try:
                with archive.open(name) as member:
                    content = member.read(max_bytes + 1)  # the declared size may lie: never inflate past the limit
            except (zipfile.BadZipFile, OSError, EOFError):
                continue
            if len(content) <= max_bytes:
                found.append((name, content))
    return found


def _scrub(text: str, source: Source) -> str:
    return redact.scrub_text(text, [source.token])
