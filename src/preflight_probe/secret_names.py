"""Which environment variables hold secrets, by name: the one rule the orchestrator's redaction and the worker share.

The worker runs under the diagnosed interpreter, whose environment may hold secrets the orchestrator never
saw (a wrapper script that exports WANDB_API_KEY, a conda activate hook): it sends their values in its hello
line, and the orchestrator scrubs them out of everything it writes, as it does its own (``redact``).
Standard library only, Python 3.8 syntax (the worker's interpreter may be old).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Substrings that mark a secret anywhere in a name (GITHUB_TOKEN, HFTOKEN, DB_PASSWORD) ...
SECRET_SUBSTRING = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|APIKEY|API_KEY|PRIVATE_KEY", re.I)
# ... and words that do only as a whole underscore-separated part: SSH_KEY, NPM_AUTH, but not
# KEYBOARD_LAYOUT, GIT_AUTHOR_NAME or NOX_CURRENT_SESSION (whose value is a session name).
SECRET_WORDS = frozenset({"KEY", "AUTH", "AUTHORIZATION", "PAT", "COOKIE", "SIGNATURE", "PASS", "PRIVATE", "SAS", "DSN"})
# A part that ends in KEY or KEYS is a key too, the word run into another (HF_ACCESSKEY, NVIDIA_NGCKEY,
# TORCH_HUBKEY, OPENAIKEY); KEYBOARD_LAYOUT and MONKEYPATCH_* do not end in it. Exempt by name, as not secret:
# PKEY, the InfiniBand partition key (NCCL_IB_PKEY, UCX_IB_PKEY), a fabric setting like a VLAN id.
KEY_ENDINGS = ("KEY", "KEYS")
NOT_SECRET_KEYS = frozenset({"PKEY"})
# Shorter values ("1", "true", "main") would scrub ordinary words out of reports.
MIN_SCRUB_LENGTH = 6


def _secret_part(part: str) -> bool:
    if part in SECRET_WORDS:
        return True
    return part.endswith(KEY_ENDINGS) and part not in NOT_SECRET_KEYS


def is_secret_name(name: str) -> bool:
    if SECRET_SUBSTRING.search(name):
        return True
    return any(_secret_part(part) for part in name.upper().split("_"))


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of secret-named variables long enough to scrub safely, longest first."""
    values = {value for name, value in environ.items() if is_secret_name(name) and len(value) >= MIN_SCRUB_LENGTH}
    return sorted(values, key=len, reverse=True)
