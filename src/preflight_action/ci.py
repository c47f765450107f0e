"""Facts about the GitHub Actions run we are in, read from its standard environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def in_actions(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def run_url(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (server and repo and run):
        return None
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"


def ci_context(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The run's identity for a report, or None outside GitHub Actions."""
    env = os.environ if environ is None else environ
    if not in_actions(env):
        return None
    return {
        "provider": "github-actions",
        "repository": env.get("GITHUB_REPOSITORY"),
        "workflow": env.get("GITHUB_WORKFLOW"),
        "job": env.get("GITHUB_JOB"),
        "run_id": env.get("GITHUB_RUN_ID"),
        "run_attempt": env.get("GITHUB_RUN_ATTEMPT"),
        "sha": env.get("GITHUB_SHA"),
        "ref": env.get("GITHUB_REF"),
        "event_name": env.get("GITHUB_EVENT_NAME"),
        "server_url": env.get("GITHUB_SERVER_URL"),
        "run_url": run_url(env),
    }
