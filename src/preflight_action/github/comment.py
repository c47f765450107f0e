"""The sticky PR comment: one comment per key, found by hidden marker AND author, edited in place.

Identity: the Actions token cannot call ``GET /user``, so the author is
``--comment-author``, else ``GET /user``, else ``github-actions[bot]`` (the
GITHUB_TOKEN's login); a comment we create tells us our login for certain.
Races: two jobs that both find nothing both create; after creating we list
again, keep the oldest of ours for this key, delete the rest and edit the
oldest, so exactly one remains whoever runs last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from preflight_action import redact
from preflight_action.errors import PreflightError
from preflight_action.summary.markdown import marker

ACTIONS_BOT = "github-actions[bot]"
DEFAULT_API_URL = "https://api.github.com"
ATTEMPTS = 4
MAX_WAIT_S = 60.0
T = TypeVar("T")


class CommentUnavailable(PreflightError):
    """The comment cannot be posted (no PR, no token, read-only token, GitHub refused)."""

    exit_code = 1


@dataclass(frozen=True)
class Target:
    repo: str
    pr: int
    api_url: str
    token: str = field(repr=False)
    author: str | None = None
    per_page: int = 100
    write_pause_s: float = 1.0  # GitHub asks integrations to space out writes (secondary rate limits)
    timeout_s: int = 15

    @classmethod
    def from_environment(
        cls,
        repo: str | None = None,
        pr: int | None = None,
        token_env: str = "GITHUB_TOKEN",  # noqa: S107 - the variable's name, not a secret
        api_url: str | None = None,
        author: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Target:
        """Flags first, then the standard Actions variables and event file."""
        env = os.environ if environ is None else environ
        repository = repo or env.get("GITHUB_REPOSITORY")
        number = pr if pr is not None else event_pull_number(env.get("GITHUB_EVENT_PATH"))
        token = env.get(token_env, "")
        if not repository or "/" not in repository:
            raise CommentUnavailable("no repository (pass --repo OWNER/NAME or set GITHUB_REPOSITORY)")
        if number is None:
            raise CommentUnavailable("not a pull request event (pass --pr NUMBER to comment anyway)")
        if not token:
            raise CommentUnavailable(f"no token in ${token_env} (pass the token through env: {token_env}: ${{{{ github.token }}}})")
        return cls(repository, number, (api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"), token, author)


def event_pull_number(event_path: str | None) -> int | None:
    """The pull request number in a GitHub event payload file, if the event has one.

    pull_request / pull_request_target carry ``pull_request.number``; a
    ``workflow_run`` (the way to comment on fork PRs) carries
    ``workflow_run.pull_requests[0].number``; an ``issue_comment`` on a PR
    carries ``issue.number`` with ``issue.pull_request`` set.
    """
    import json
    from pathlib import Path

    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    pull = event.get("pull_request")
    candidates: list[Any] = [pull.get("number") if isinstance(pull, dict) else None]
    run = event.get("workflow_run")
    if isinstance(run, dict) and isinstance(run.get("pull_requests"), list) and run["pull_requests"]:
        first = run["pull_requests"][0]
        candidates.append(first.get("number") if isinstance(first, dict) else None)
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request"):
        candidates.append(issue.get("number"))
    return next((n for n in candidates if isinstance(n, int) and not isinstance(n, bool)), None)


@dataclass(frozen=True)
class Outcome:
    action: str  # created | updated | unchanged
    comment_id: int
    url: str
    author: str
    deleted: tuple[int, ...] = ()


def upsert(target: Target, body: str, key: str | None, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Create or update the one comment for ``key`` on the pull request; CommentUnavailable otherwise."""
    from github import Auth, Github

    api = _Api(sleep, [target.token])
    gh = Github(
        auth=Auth.Token(target.token),
        base_url=target.api_url,
        timeout=target.timeout_s,
        per_page=target.per_page,
        retry=None,  # our own bounded loop below, with an injectable sleep
        seconds_between_requests=None,
        seconds_between_writes=target.write_pause_s or None,
    )
    tag = marker(key)
    if not body.startswith(tag):
        body = f"{tag}\n{body}"
    try:
        issue = api.call("read the pull request", lambda: gh.get_repo(target.repo).get_issue(target.pr))
        author = target.author or _whoami(gh, api)
        ours = _ours(api.call("list comments", lambda: list(issue.get_comments())), tag, author)
        if ours:
            keep, extra = ours[0], ours[1:]
            deleted = _delete(api, extra)
            if (keep.body or "") == body:
                return Outcome("unchanged", keep.id, keep.html_url, author, deleted)
            api.call("edit the comment", lambda: keep.edit(body))
            return Outcome("updated", keep.id, keep.html_url, author, deleted)
        created = api.call("create the comment", lambda: issue.create_comment(body))
        author = created.user.login if created.user else author  # now we know who we are
        ours = _ours(api.call("list comments", lambda: list(issue.get_comments())), tag, author)
        if len(ours) <= 1:
            return Outcome("created", created.id, created.html_url, author)
        keep = ours[0]  # another job raced us: the oldest wins, everyone else's goes
        deleted = _delete(api, ours[1:])
        if keep.id != created.id:
            api.call("edit the comment", lambda: keep.edit(body))
        return Outcome("created" if keep.id == created.id else "updated", keep.id, keep.html_url, author, deleted)
    finally:
        gh.close()


def _whoami(gh: Any, api: _Api) -> str:
    from github import GithubException

    try:
        login: str = gh.get_user().login
        return login
    except GithubException as error:
        if error.status in (401, 403, 404):
            return ACTIONS_BOT  # an installation/Actions token may not read /user
        raise api.unavailable("identify the token's user", error) from None


def _ours(comments: list[Any], tag: str, author: str) -> list[Any]:
    """Comments that START with this key's marker AND were written by ``author``, oldest first.

    The marker must open the body: a marker quoted further down (by a person, or
    smuggled in through check output) never makes a comment one of ours.
    """
    mine = [c for c in comments if (c.body or "").startswith(tag) and c.user is not None and c.user.login == author]
    return sorted(mine, key=lambda c: (c.created_at, c.id))


def _delete(api: _Api, comments: list[Any]) -> tuple[int, ...]:
    from github import UnknownObjectException

    gone = []
    for comment in comments:
        try:
            api.call("delete a duplicate comment", comment.delete)
        except CommentUnavailable as error:
            if not isinstance(error.__cause__, UnknownObjectException):
                raise
        gone.append(comment.id)  # deleted now, or already by the job we raced
    return tuple(gone)


class _Api:
    """Run one GitHub call with bounded retries on 5xx, 429 and secondary rate limits."""

    def __init__(self, sleep: Callable[[float], None], secrets: list[str]) -> None:
        self.sleep = sleep
        self.secrets = [s for s in secrets if s]

    def call(self, what: str, fn: Callable[[], T]) -> T:
        from requests import RequestException

        from github import GithubException

        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except GithubException as error:
                wait = _retry_wait(error, attempt)
                if wait is None or attempt == ATTEMPTS:
                    raise self.unavailable(what, error, attempt) from error
            except RequestException as error:
                wait = float(2 ** (attempt - 1))
                if attempt == ATTEMPTS:
                    raise CommentUnavailable(f"cannot {what}: {self._clean(type(error).__name__)} after {attempt} attempts") from error
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def unavailable(self, what: str, error: Any, attempts: int = 1) -> CommentUnavailable:
        data = error.data if isinstance(error.data, dict) else {}
        message = str(data.get("message") or error.data or "")
        details = "; ".join(str(e.get("message") or e.get("code")) for e in data.get("errors", []) if isinstance(e, dict))
        text = f"cannot {what}: GitHub answered {error.status} {message}" + (f" ({details})" if details else "")
        if attempts > 1:
            text += f" after {attempts} attempts"
        if error.status == 403 and "not accessible by integration" in message.lower():
            text += "; the token is read-only here (fork or Dependabot pull request): post from a workflow_run workflow"
        return CommentUnavailable(self._clean(text))

    def _clean(self, text: str) -> str:
        return redact.scrub_text(" ".join(text.split()), self.secrets)


def _retry_wait(error: Any, attempt: int) -> float | None:
    """Seconds to wait before retrying ``error``, or None when retrying cannot help."""
    headers = {k.lower(): v for k, v in (error.headers or {}).items()}
    retry_after = headers.get("retry-after")
    backoff = float(2 ** (attempt - 1))
    status = error.status
    if status in (500, 502, 503, 504):
        return backoff
    data = error.data if isinstance(error.data, dict) else {}
    rate_limited = status == 429 or (status == 403 and (retry_after is not None or "rate limit" in str(data.get("message", "")).lower()))
    if not rate_limited:
        return None
    if retry_after is not None:
        try:
            wait = float(retry_after)
        except ValueError:
            return None
        return wait if wait <= MAX_WAIT_S else None
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        wait = float(headers["x-ratelimit-reset"]) - time.time()
        return max(1.0, wait) if wait <= MAX_WAIT_S else None
    return min(MAX_WAIT_S, 60.0 * attempt)  # secondary limit without a header: GitHub asks for at least a minute
