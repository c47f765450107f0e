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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from preflight_action.github import client
from preflight_action.github.client import GitHubUnavailable

ACTIONS_BOT = "github-actions[bot]"
MARKER_PREFIX = "<!-- preflight-action:summary key="
DEFAULT_KEY = "default"
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class CommentUnavailable(GitHubUnavailable):
    """The comment cannot be posted (no PR, no token, read-only token, GitHub refused)."""


def comment_key(key: str | None) -> str:
    """A key safe inside the hidden marker (no ``-->``, spaces or quotes)."""
    cleaned = re.sub(r"-{2,}", "-", _KEY_UNSAFE.sub("-", (key or DEFAULT_KEY).strip())).strip("-")[:64]
    return cleaned or DEFAULT_KEY


def marker(key: str | None) -> str:
    """The hidden first line that names the sticky comment for ``key``."""
    return f"{MARKER_PREFIX}{comment_key(key)} -->"


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
        token_env: str = client.TOKEN_ENV,
        api_url: str | None = None,
        author: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Target:
        """Flags first, then the standard Actions variables and event file."""
        env = os.environ if environ is None else environ
        where = client.Connection.from_environment(repo, token_env, api_url, env)
        number = pr if pr is not None else event_pull_number(env.get("GITHUB_EVENT_PATH"))
        if not where.repo or "/" not in where.repo:
            raise CommentUnavailable("no repository (pass --repo OWNER/NAME or set GITHUB_REPOSITORY)")
        if number is None:
            raise CommentUnavailable("not a pull request event (pass --pr NUMBER to comment anyway)")
        if not where.token:
            raise CommentUnavailable(f"no token in ${token_env} (pass the token through env: {token_env}: ${{{{ github.token }}}})")
        return cls(where.repo, number, where.api_url, where.token, author)


def event_pull_number(event_path: str | None) -> int | None:
    """The pull request number in a GitHub event payload file, if the event has one.

    pull_request / pull_request_target carry ``pull_request.number``; a
    ``workflow_run`` (the way to comment on fork PRs) carries
    ``workflow_run.pull_requests[0].number``; an ``issue_comment`` on a PR
    carries ``issue.number`` with ``issue.pull_request`` set.
    """
    from preflight_action import documents
    from preflight_action.errors import InputError

    if not event_path:
        return None
    try:
        event = documents.read(event_path).value
    except InputError:
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
    api = client.Calls(sleep, [target.token], CommentUnavailable)
    tag = marker(key)
    if not body.startswith(tag):
        body = f"{tag}\n{body}"
    with client.session(
        target.api_url, target.token, timeout_s=target.timeout_s, per_page=target.per_page, write_pause_s=target.write_pause_s
    ) as gh:
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


def _whoami(gh: Any, api: client.Calls) -> str:
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


def _delete(api: client.Calls, comments: list[Any]) -> tuple[int, ...]:
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
