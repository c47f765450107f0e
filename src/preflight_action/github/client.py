"""The one GitHub REST client: where the API root, token and repository come from, PyGithub set up once, bounded retries.

Every GitHub call of the project (the sticky comment, the baseline and history artifacts, anything
later) opens its session here. The token is read from the environment variable a flag names,
never printed (``repr`` hides it) and scrubbed from every message built from an answer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from preflight_action import redact
from preflight_action.errors import PreflightError, UsageError

if TYPE_CHECKING:  # PyGithub loads when a call is made: the action helper imports this room without it
    from github import Github

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a secret
ATTEMPTS = 4
MAX_WAIT_S = 60.0
T = TypeVar("T")


class GitHubUnavailable(PreflightError):
    """GitHub cannot be reached or refused (no token, read-only token, 4xx, 5xx past the retries)."""

    exit_code = 1


@dataclass(frozen=True)
class Connection:
    """The repository, API root and token of a session: flags first, then the standard Actions variables."""

    repo: str | None
    api_url: str
    token: str = field(repr=False)
    token_env: str = TOKEN_ENV

    @classmethod
    def from_environment(
        cls,
        repo: str | None = None,
        token_env: str = TOKEN_ENV,
        api_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Connection:
        env = os.environ if environ is None else environ
        named = "--api-url" if api_url else "$GITHUB_API_URL"
        return cls(
            repo=repo or env.get("GITHUB_REPOSITORY") or None,
            api_url=checked_api_url((api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"), named),
            token=env.get(token_env, ""),
            token_env=token_env,
        )


def checked_api_url(url: str, named: str = "--api-url") -> str:
    """``url`` when it is an http(s) URL with a host (the REST API root); a UsageError naming ``named`` otherwise."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("https", "http") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        valid = False
    if not valid:
        shown = url if len(url) <= 120 else f"{url[:120]}…"
        raise UsageError(f"{named} {shown!r}: not an http(s) URL with a host (the REST API root, e.g. {DEFAULT_API_URL})")
    return url


@contextmanager
def session(api_url: str, token: str, *, timeout_s: int, per_page: int = 100, write_pause_s: float | None = None) -> Iterator[Github]:
    """A PyGithub client, closed on exit; retries are ours (``Calls``), so PyGithub's own are off."""
    from github import Auth, Github

    gh = Github(
        auth=Auth.Token(token),
        base_url=api_url,
        timeout=timeout_s,
        per_page=per_page,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=write_pause_s or None,  # GitHub asks integrations to space out writes
    )
    try:
        yield gh
    finally:
        gh.close()


def download(url: str, token: str, timeout_s: int, max_bytes: int) -> bytes:
    """An artifact zip. GitHub answers with a redirect to short-lived blob storage on another host
    (PyGithub's own stream refuses hosts outside github.com); requests drops the token on that hop."""
    import requests

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    with requests.get(url, headers=headers, timeout=timeout_s, stream=True) as response:
        response.raise_for_status()
        chunks, total = [], 0
        for chunk in response.iter_content(65536):
            total += len(chunk)
            if total > max_bytes:
                raise OSError(f"the artifact is larger than {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def answer(error: Any) -> str:
    """GitHub's message in a GithubException (``message``, else the raw data), one line."""
    data = error.data if isinstance(error.data, dict) else {}
    return " ".join(str(data.get("message") or error.data or "").split())


class Calls:
    """Run GitHub calls with bounded retries on 5xx, 429 and secondary rate limits; failures raise ``error``."""

    def __init__(self, sleep: Callable[[float], None], secrets: list[str], error: type[GitHubUnavailable] = GitHubUnavailable) -> None:
        self.sleep = sleep
        self.secrets = [s for s in secrets if s]
        self.error = error

    def call(self, what: str, fn: Callable[[], T]) -> T:
        from github import GithubException
        from requests import RequestException

        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except GithubException as error:
                wait = retry_wait(error, attempt)
                if wait is None or attempt == ATTEMPTS:
                    raise self.unavailable(what, error, attempt) from error
            except RequestException as error:
                wait = float(2 ** (attempt - 1))
                if attempt == ATTEMPTS:
                    raise self.error(f"cannot {what}: {self.clean(type(error).__name__)} after {attempt} attempts") from error
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def unavailable(self, what: str, error: Any, attempts: int = 1) -> GitHubUnavailable:
        data = error.data if isinstance(error.data, dict) else {}
        message = answer(error)
        details = "; ".join(str(e.get("message") or e.get("code")) for e in data.get("errors", []) if isinstance(e, dict))
        text = f"cannot {what}: GitHub answered {error.status} {message}" + (f" ({details})" if details else "")
        if attempts > 1:
            text += f" after {attempts} attempts"
        if error.status == 403 and "not accessible by integration" in message.lower():
            text += "; the token is read-only here (fork or Dependabot pull request): post from a workflow_run workflow"
        return self.error(self.clean(text))

    def clean(self, text: str) -> str:
        """``text`` on one line with every secret we hold scrubbed."""
        return redact.scrub_text(" ".join(text.split()), self.secrets)


def retry_wait(error: Any, attempt: int) -> float | None:
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
