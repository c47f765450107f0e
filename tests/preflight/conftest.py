"""Fixtures for running the real preflight under a broken runtime (tests/support/broken_*.py)."""

from __future__ import annotations

import json

import pytest

from preflight_action import schemas
from tests.support import broken_runtimes as br


def build(builder, *args, **kwargs):
    """The runtime ``builder`` makes, or a skip saying why this machine cannot make it."""
    try:
        return builder(*args, **kwargs)
    except br.Unavailable as why:
        pytest.skip(str(why))


@pytest.fixture
def under(run_preflight, monkeypatch):
    """Run the real preflight (cli.main) with ``--python`` and the environment of a broken runtime."""

    def run(runtime: br.Runtime, *args: str):
        monkeypatch.delenv("PYTHONPATH", raising=False)
        for name, value in runtime.env.items():
            monkeypatch.setenv(name, value)
        result = run_preflight("--python", str(runtime.python), "--quiet", *args)
        schemas.validate(result.report, "preflight_report", "broken-runtime report")
        # strict JSON, valid UTF-8: what any reader of the artifact gets
        json.loads(result.path.read_bytes().decode("utf-8"), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
        return result

    return run
