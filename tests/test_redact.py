"""Secrets: redacted by variable name, scrubbed by value, URL credentials removed."""

from __future__ import annotations

from preflight_action import redact


def test_secret_names():
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "DB_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS", "ssh_private_key"):
        assert redact.is_secret_name(name)
    for name in ("NPM_CONFIG__AUTH", "SSH_KEY", "HFTOKEN", "SENTRY_DSN"):
        assert redact.is_secret_name(name)
    for name in ("CUDA_VISIBLE_DEVICES", "PYTHONPATH", "OMP_NUM_THREADS", "NOX_CURRENT_SESSION", "GIT_AUTHOR_NAME", "KEYBOARD"):
        assert not redact.is_secret_name(name)


def test_scrub_replaces_values_in_nested_keys_and_strings():
    env = {"API_TOKEN": "tok-123456789", "SHORT_KEY": "abc", "HOME": "/root"}
    values = redact.secret_values(env)
    assert values == ["tok-123456789"]
    doc = {"a": ["x tok-123456789 y", {"tok-123456789": 1}], "b": 3}
    assert redact.scrub(doc, values) == {"a": ["x <redacted> y", {"<redacted>": 1}], "b": 3}


def test_url_credentials_are_removed():
    text = "pip index https://user:hunter22@pypi.example/simple and ssh://git@host/repo"
    assert redact.scrub_text(text, []) == "pip index https://<redacted>@pypi.example/simple and ssh://git@host/repo"


def test_redact_environment_keeps_only_named_and_redacts_secret_names():
    env = {"TORCH_HUB_TOKEN": "secret-value-xyz", "CUDA_HOME": "/usr/local/cuda", "PYTHONPATH": "/x/secret-value-xyz"}
    out = redact.redact_environment(env, ["TORCH_HUB_TOKEN", "CUDA_HOME", "PYTHONPATH", "UNSET"])
    assert out == {"CUDA_HOME": "/usr/local/cuda", "PYTHONPATH": "/x/<redacted>", "TORCH_HUB_TOKEN": "<redacted>"}


def test_report_documents_become_strict_json():
    import json

    from preflight_action.preflight.session import finalize

    doc = finalize({"details": {"rel_error": float("nan"), "peak": float("inf"), "ok": 1.5}, "list": [float("-inf")]})
    assert doc == {"details": {"rel_error": "NaN", "peak": "Infinity", "ok": 1.5}, "list": ["-Infinity"]}
    json.dumps(doc, allow_nan=False)
