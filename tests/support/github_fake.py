"""A local fake of the GitHub REST endpoints PyGithub calls for the sticky comment (127.0.0.1 only).

Speaks: GET /repos/{o}/{r}, GET /repos/{o}/{r}/issues/{n}, GET /user,
GET/POST /repos/{o}/{r}/issues/{n}/comments (paginated with Link headers),
PATCH/DELETE /repos/{o}/{r}/issues/comments/{id}; for the PR delta's baseline:
GET /repos/{o}/{r}/actions/workflows/{file or id}, .../workflows/{id}/runs
(filtered by branch and status, newest first), /actions/runs/{id}/artifacts,
/actions/artifacts/{id}/zip (a 302 to a blob URL on another host name, as GitHub
does; an expired artifact answers 410) and the blob itself. Scripted failures
(403, 422, 5xx, rate limits with Retry-After) are queued per method + path
pattern; every request is recorded with its decoded JSON body.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EPOCH = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)  # relative: any date


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class State:
    owner: str = "octo"
    repo: str = "demo"
    token_login: str = "github-actions[bot]"
    user_endpoint_forbidden: bool = True  # like an Actions token: GET /user -> 403
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: set[int] = field(default_factory=lambda: {7})
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    racers: list[tuple[str, str, str]] = field(default_factory=list)  # (when, login, body) on next POST
    next_id: int = 1000
    workflows: dict[str, int] = field(default_factory=dict)  # file name -> id
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest last
    artifacts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # run id -> artifacts
    blobs: dict[int, bytes] = field(default_factory=dict)  # artifact id -> zip bytes
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeGitHub:
    """Start with ``with FakeGitHub() as fake:``; ``fake.url`` is the API root for PyGithub."""

    def __init__(self) -> None:
        self.state = State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        handler.base = self.url  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- arranging ---------------------------------------------------------

    def add_comment(self, pr: int, login: str, body: str) -> dict[str, Any]:
        with self.state.lock:
            return _new_comment(self.state, self.url, pr, login, body)

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        message: str = "",
        headers: dict[str, str] | None = None,
        times: int = 1,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        body: dict[str, Any] = {"message": message or f"fake {status}", "documentation_url": "https://docs.github.com/rest"}
        if errors:
            body["errors"] = errors
        self.state.failures.append(Failure(method, re.compile(path_regex), status, body, headers or {}, times))

    def add_run(
        self,
        workflow: str = "ci.yml",
        branch: str = "main",
        conclusion: str = "success",
        artifacts: dict[str, bytes] | None = None,
        expired: tuple[str, ...] = (),
    ) -> int:
        """A completed workflow run on ``branch`` with ``artifacts`` (name -> zip bytes); returns its id."""
        with self.state.lock:
            state = self.state
            workflow_id = state.workflows.setdefault(workflow, 100 + len(state.workflows))
            state.next_id += 1
            run_id = state.next_id
            stamp = (EPOCH + timedelta(hours=run_id)).strftime("%Y-%m-%dT%H:%M:%SZ")
            full = f"{state.owner}/{state.repo}"
            state.runs.append(
                {
                    "id": run_id,
                    "name": workflow,
                    "path": f".github/workflows/{workflow}",
                    "workflow_id": workflow_id,
                    "head_branch": branch,
                    "status": "completed",
                    "conclusion": conclusion,
                    "event": "push",
                    "run_number": run_id,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "url": f"{self.url}/repos/{full}/actions/runs/{run_id}",
                    "html_url": f"https://github.com/{full}/actions/runs/{run_id}",
                    "artifacts_url": f"{self.url}/repos/{full}/actions/runs/{run_id}/artifacts",
                }
            )
            for name, data in (artifacts or {}).items():
                state.next_id += 1
                aid = state.next_id
                state.blobs[aid] = data
                state.artifacts.setdefault(run_id, []).append(
                    {
                        "id": aid,
                        "node_id": f"MDg6QXJ0aWZhY3Q{aid}",
                        "name": name,
                        "size_in_bytes": len(data),
                        "url": f"{self.url}/repos/{full}/actions/artifacts/{aid}",
                        "archive_download_url": f"{self.url}/repos/{full}/actions/artifacts/{aid}/zip",
                        "expired": name in expired,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "expires_at": (EPOCH + timedelta(hours=run_id, days=90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "workflow_run": {"id": run_id, "head_branch": branch},
                    }
                )
            return run_id

    def race(self, when: str, login: str, body: str) -> None:
        """On the next POST of a comment, another job's comment appears ``before`` or ``after`` ours."""
        self.state.racers.append((when, login, body))

    # -- reading -----------------------------------------------------------

    def comments(self, pr: int = 7) -> list[dict[str, Any]]:
        return list(self.state.comments.get(pr, []))

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[Request]:
        return [
            r
            for r in self.state.requests
            if (method is None or r.method == method) and (path_regex is None or re.search(path_regex, r.path))
        ]


def _new_comment(state: State, base: str, pr: int, login: str, body: str) -> dict[str, Any]:
    state.next_id += 1
    cid = state.next_id
    stamp = (EPOCH + timedelta(seconds=cid)).strftime("%Y-%m-%dT%H:%M:%SZ")
    comment = {
        "id": cid,
        "node_id": f"IC_{cid}",
        "url": f"{base}/repos/{state.owner}/{state.repo}/issues/comments/{cid}",
        "html_url": f"https://github.com/{state.owner}/{state.repo}/pull/{pr}#issuecomment-{cid}",
        "issue_url": f"{base}/repos/{state.owner}/{state.repo}/issues/{pr}",
        "body": body,
        "user": {"login": login, "id": abs(hash(login)) % 100000, "type": "Bot" if login.endswith("[bot]") else "User"},
        "created_at": stamp,
        "updated_at": stamp,
        "author_association": "NONE",
    }
    state.comments.setdefault(pr, []).append(comment)
    return comment


class _Handler(BaseHTTPRequestHandler):
    state: State
    base: str
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        state = self.state
        with state.lock:
            state.requests.append(Request(method, parts.path, query, body, self.headers.get("Authorization")))
            for failure in state.failures:
                if failure.times > 0 and failure.method == method and failure.pattern.search(parts.path):
                    failure.times -= 1
                    self._send(failure.status, failure.body, failure.headers)
                    return
            status, payload, headers = self._route(method, parts.path, query, body)
        self._send(status, payload, headers)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        state, base = self.state, self.base
        repo_path = f"/repos/{state.owner}/{state.repo}"
        if method == "GET" and path == "/user":
            if state.user_endpoint_forbidden:
                return 403, {"message": "Resource not accessible by integration"}, {}
            return 200, {"login": state.token_login, "id": 1, "type": "User"}, {}
        if method == "GET" and path == repo_path:
            return 200, _repo(state, base), {}
        if method == "GET" and path.startswith(f"{repo_path}/actions/"):
            return self._actions(path[len(repo_path) :], query)
        if method == "GET" and (match := re.fullmatch(r"/blob/(\d+)\.zip", path)):
            data = state.blobs.get(int(match.group(1)))
            return (200, data, {"Content-Type": "application/zip"}) if data is not None else (404, {"message": "Not Found"}, {})
        if match := re.fullmatch(rf"{repo_path}/issues/(\d+)", path):
            number = int(match.group(1))
            if method == "GET" and number in state.pulls:
                return 200, _issue(state, base, number), {}
            return 404, {"message": "Not Found"}, {}
        if match := re.fullmatch(rf"{repo_path}/issues/(\d+)/comments", path):
            number = int(match.group(1))
            if number not in state.pulls:
                return 404, {"message": "Not Found"}, {}
            if method == "GET":
                return self._page(path, query, state.comments.get(number, []))
            if method == "POST":
                for _when, login, text in [r for r in state.racers if r[0] == "before"]:
                    _new_comment(state, base, number, login, text)
                created = _new_comment(state, base, number, state.token_login, body["body"])
                for _when, login, text in [r for r in state.racers if r[0] == "after"]:
                    _new_comment(state, base, number, login, text)
                state.racers.clear()
                return 201, created, {}
        if match := re.fullmatch(rf"{repo_path}/issues/comments/(\d+)", path):
            cid = int(match.group(1))
            for comments in state.comments.values():
                for comment in comments:
                    if comment["id"] == cid:
                        if method == "PATCH":
                            comment["body"] = body["body"]
                            comment["updated_at"] = (EPOCH + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                            return 200, comment, {}
                        if method == "DELETE":
                            comments.remove(comment)
                            return 204, None, {}
            return 404, {"message": "Not Found"}, {}
        return 404, {"message": f"fake GitHub: no route for {method} {path}"}, {}

    def _actions(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state, base = self.state, self.base
        full = f"{state.owner}/{state.repo}"
        if match := re.fullmatch(r"/actions/workflows/([^/]+)", path):
            key = match.group(1)
            found = next(((f, i) for f, i in state.workflows.items() if key in (f, str(i))), None)
            if found is None:
                return 404, {"message": "Not Found"}, {}
            name, wid = found
            url = f"{base}/repos/{full}/actions/workflows/{wid}"
            return (
                200,
                {
                    "id": wid,
                    "node_id": f"W_{wid}",
                    "name": name,
                    "path": f".github/workflows/{name}",
                    "state": "active",
                    "url": url,
                    "html_url": f"https://github.com/{full}/actions/workflows/{name}",
                    "badge_url": f"{url}/badge",
                    "created_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "updated_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                {},
            )
        if match := re.fullmatch(r"/actions/workflows/(\d+)/runs", path):
            wid = int(match.group(1))
            runs = [
                r
                for r in reversed(state.runs)
                if r["workflow_id"] == wid
                and ("branch" not in query or r["head_branch"] == query["branch"])
                and ("status" not in query or query["status"] in (r["status"], r["conclusion"]))
            ]
            return self._listing(path, query, "workflow_runs", runs)
        if match := re.fullmatch(r"/actions/runs/(\d+)/artifacts", path):
            return self._listing(path, query, "artifacts", state.artifacts.get(int(match.group(1)), []))
        if match := re.fullmatch(r"/actions/artifacts/(\d+)/zip", path):
            aid = int(match.group(1))
            artifact = next((a for items in state.artifacts.values() for a in items if a["id"] == aid), None)
            if artifact is None:
                return 404, {"message": "Not Found"}, {}
            if artifact["expired"]:
                return 410, {"message": "Artifact has expired"}, {}
            # GitHub answers with a short-lived blob URL on another host: the token must not follow the redirect
            port = self.server.server_address[1]
            return 302, None, {"Location": f"http://localhost:{port}/blob/{aid}.zip"}
        return 404, {"message": f"fake GitHub: no route for GET {path}"}, {}

    def _listing(self, path: str, query: dict[str, str], key: str, items: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        full_path = f"/repos/{self.state.owner}/{self.state.repo}{path}"
        status, chunk, headers = self._page(full_path, query, items)
        return status, {"total_count": len(items), key: chunk}, headers

    def _page(self, path: str, query: dict[str, str], items: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        if page < last:
            links.append(f'<{self.base}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.base}{path}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{self.base}{path}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{self.base}{path}?per_page={per_page}&page={page - 1}>; rel="prev"')
        return 200, chunk, ({"Link": ", ".join(links)} if links else {})

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        raw = isinstance(payload, bytes)
        data = payload if raw else b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if "Content-Type" not in headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


def _repo(state: State, base: str) -> dict[str, Any]:
    full = f"{state.owner}/{state.repo}"
    return {
        "id": 1,
        "name": state.repo,
        "full_name": full,
        "owner": {"login": state.owner, "id": 2, "type": "Organization"},
        "private": False,
        "url": f"{base}/repos/{full}",
        "html_url": f"https://github.com/{full}",
    }


def _issue(state: State, base: str, number: int) -> dict[str, Any]:
    full = f"{state.owner}/{state.repo}"
    return {
        "id": 500 + number,
        "number": number,
        "title": "A pull request",
        "state": "open",
        "url": f"{base}/repos/{full}/issues/{number}",
        "html_url": f"https://github.com/{full}/pull/{number}",
        "repository_url": f"{base}/repos/{full}",
        "comments_url": f"{base}/repos/{full}/issues/{number}/comments",
        "comments": len(state.comments.get(number, [])),
        "pull_request": {"url": f"{base}/repos/{full}/pulls/{number}"},
        "user": {"login": "contributor", "id": 3, "type": "User"},
    }
