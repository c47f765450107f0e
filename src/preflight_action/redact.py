"""Keep secrets out of everything we write: redact by variable name, scrub by value."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
# Substrings that mark a secret anywhere in a name (GITHUB_TOKEN, HFTOKEN, DB_PASSWORD) ...
SECRET_SUBSTRING = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|APIKEY|API_KEY|PRIVATE_KEY", re.I)
# ... and words that do only as a whole underscore-separated part: SSH_KEY, NPM_AUTH, but not
# KEYBOARD_LAYOUT, GIT_AUTHOR_NAME or NOX_CURRENT_SESSION (whose value is a session name).
SECRET_WORDS = frozenset({"KEY", "AUTH", "AUTHORIZATION", "PAT", "COOKIE", "SIGNATURE", "PASS", "PRIVATE", "SAS", "DSN"})
# userinfo in URLs such as PIP_INDEX_URL=https://user:pass@host/simple
URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")
# Shorter values ("1", "true", "main") would scrub ordinary words out of reports.
MIN_SCRUB_LENGTH = 6


def is_secret_name(name: str) -> bool:
    if SECRET_SUBSTRING.search(name):
        return True
    return any(part in SECRET_WORDS for part in name.upper().split("_"))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named variables long enough to scrub safely, longest first."""
    env = os.environ if environ is None else environ
    values = {value for name, value in env.items() if is_secret_name(name) and len(value) >= MIN_SCRUB_LENGTH}
    return sorted(values, key=len, reverse=True)


def scrub_text(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def scrub(document: Any, values: list[str]) -> Any:
    """A deep copy of ``document`` with every secret value replaced in keys and strings."""
    if isinstance(document, str):
        return scrub_text(document, values)
    if isinstance(document, dict):
        return {scrub_text(str(k), values): scrub(v, values) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [scrub(v, values) for v in document]
    return document


def redact_environment(environ: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """The named variables that are set, with secret-named ones replaced by ``<redacted>``."""
    values = secret_values(environ)
    out: dict[str, str] = {}
    for name in sorted(names):
        if name in environ:
            out[name] = REDACTED if is_secret_name(name) else scrub_text(environ[name], values)
    return out
