"""Keep secrets out of everything we write: redact by variable name, scrub by value and by shape.

A secret-named variable's value is scrubbed in the forms the GitHub Actions runner's log
masker derives from it (its ``ValueEncoders``): base64 at each of the three byte alignments
(a token inside ``base64("user:" + token)`` starts 0, 1 or 2 bytes into a 3-byte group),
standard and URL-safe, JSON string escaping, URL encoding, XML/HTML escaping, the expression
and command-line quote escapes, surrounding quotes trimmed. Token shapes are scrubbed whatever
variable they came from, or none (GitHub, Hugging Face, AWS access key ids, Slack, PEM private
keys). All of it is one precompiled regex per set of values (a prefix tree of the literal forms,
then the shapes), so a scrub is one pass over the text however many secrets there are.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from preflight_probe import secret_names
from preflight_probe.secret_names import MIN_SCRUB_LENGTH, is_secret_name

REDACTED = "<redacted>"
# userinfo in URLs such as PIP_INDEX_URL=https://user:pass@host/simple
URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")
# A secret-named word given a value in free text or a JSON document: "token=abc123...", "password: hunter22",
# '"WANDB_API_KEY": "wb..."'. The value goes, the name stays. The word must end there (tokenizer=, max_tokens= do not).
# The words by the stem searched for: five substring searches over a lowered text, not one per word (a 36 KB report
# pays about 90 microseconds; an IGNORECASE alternation of the words costs forty times that).
_STEMS = {
    "token": ("token",),
    "secret": ("secret",),
    "passw": ("password", "passwd"),
    "passp": ("passphrase",),
    "key": ("apikey", "api_key", "accesskey", "access_key", "private_key"),
}
_ASSIGNED = re.compile(r"""(?![A-Za-z])(?P<sep>['"]?\s*[=:]\s*['"]?)(?P<value>(?!<redacted>)[^\s'",;&]{6,})""")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# A derived form (a base64 fragment) shorter than this could match ordinary text by chance.
MIN_DERIVED_LENGTH = 8

# Token shapes, after the prefixes gitleaks and detect-secrets key on (our own patterns). Each
# starts with its literal prefix (the regex engine skips a position on its first character) and
# only then looks behind, so that a shape inside a longer word is left alone.
_WORD = "[A-Za-z0-9_]"
SHAPES = {
    "github": rf"gh[pousr]_(?<!{_WORD}gh[pousr]_)[A-Za-z0-9]{{36,255}}(?!{_WORD})",
    "github-fine-grained": rf"github_pat_(?<!{_WORD}github_pat_)[A-Za-z0-9_]{{22,255}}(?!{_WORD})",
    "huggingface": rf"hf_(?<!{_WORD}hf_)[A-Za-z0-9]{{30,64}}(?!{_WORD})",
    "aws-access-key-id": r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|IPA|NPA|NVA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])",
    "slack": rf"xox[abposr]-(?<!{_WORD}xox[abposr]-)[A-Za-z0-9][A-Za-z0-9-]{{8,250}}(?!{_WORD})",
    # a block cut off by a truncated stderr tail is scrubbed to the end of the text
    "pem-private-key": r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
}


# Secret values the diagnosed interpreter's own environment holds (its worker's hello said them): a wrapper
# script or an activate hook can export a secret this process never had, and it is scrubbed all the same.
_LEARNED: set[str] = set()


def learn(values: Iterable[str]) -> None:
    """Scrub ``values`` too, from now on in this process (each a secret-named variable's value, long enough)."""
    _LEARNED.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SCRUB_LENGTH)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named variables long enough to scrub safely, longest first; with no ``environ``, this
    process's environment and what the workers' environments held (``learn``)."""
    if environ is not None:
        return secret_names.secret_values(environ)
    values = set(secret_names.secret_values(os.environ)) | _LEARNED
    return sorted(values, key=len, reverse=True)


def _base64_forms(value: str) -> Iterable[str]:
    """base64 of ``value`` dropped by 0, 1 and 2 leading bytes (standard and URL-safe), cut to the
    characters that do not depend on the bytes after it, so the form matches inside a longer encoding."""
    raw = value.encode("utf-8")
    for shift in (0, 1, 2):
        part = raw[shift:]
        stable = 4 * (len(part) // 3) + len(part) % 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            yield encode(part).decode("ascii")[:stable]


def encoded_forms(value: str) -> set[str]:
    """``value`` and the encodings of it the Actions runner masks too (its ``ValueEncoders``)."""
    forms = {value}
    forms.update(form for form in _base64_forms(value) if len(form) >= MIN_DERIVED_LENGTH)
    forms.update(
        {
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            html.escape(value),
            html.escape(value, quote=False),
            value.replace("'", "''"),  # ExpressionStringEscape
            value.replace('"', '\\"'),  # CommandLineArgumentEscape
        }
    )
    if len(value) > 8 and value[0] == value[-1] and value[0] in "\"'":
        forms.add(value[1:-1])  # TrimDoubleQuotes
    return {form for form in forms if len(form) >= MIN_SCRUB_LENGTH}


def _common_prefix(first: str, last: str) -> str:
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def _branches(words: list[str]) -> list[str]:
    """Regex branches, one per first character, matching any of ``words`` (sorted, unique, non-empty), longest first.

    A prefix tree instead of one alternative per word: the engine checks each character once
    however many secrets share it, instead of trying every word at every position.
    """
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(word)
    branches = []
    for group in groups.values():
        common = _common_prefix(group[0], group[-1])  # sorted: the first and last bound the whole group
        rest = sorted({word[len(common) :] for word in group})
        if rest == [""]:
            branches.append(re.escape(common))
            continue
        tails = [word for word in rest if word]
        inner = _branches(tails)
        body = inner[0] if len(inner) == 1 else "(?:" + "|".join(inner) + ")"
        branches.append(re.escape(common) + (f"(?:{body})?" if "" in rest else body))
    return branches


@functools.lru_cache(maxsize=16)
def _scrubber(values: tuple[str, ...]) -> re.Pattern[str]:
    forms = sorted({form for value in values for form in encoded_forms(value)})
    # One flat alternation, literal-first branches only: the engine skips a position on one character check.
    return re.compile("|".join([*_branches(forms), *SHAPES.values()]), re.S)


def _values(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(secret_values() if values is None else values)


def scrub_text(text: str, values: Iterable[str] | None = None) -> str:
    """``text`` with every secret value (in every encoding), token shape and URL credential replaced.

    ``values`` defaults to the secret-named variables of this process's environment.
    """
    text = _scrubber(_values(values)).sub(REDACTED, text)
    if "://" in text:
        text = URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _assignments(text)


def _assigned(text: str) -> list[tuple[int, int]]:
    """(start, end) of each value given to a secret-named word in ``text``."""
    if "=" not in text and ":" not in text:
        return []
    lowered = text.lower()
    spans: list[tuple[int, int]] = []
    for stem, words in _STEMS.items():
        at = lowered.find(stem)
        while at != -1:
            for word in words:
                start = at - word.index(stem)
                if start >= 0 and lowered.startswith(word, start):
                    found = _ASSIGNED.match(text, start + len(word))
                    if found:
                        spans.append(found.span("value"))
                    break
            at = lowered.find(stem, at + 1)
    return sorted(spans)


def _assignments(text: str) -> str:
    spans = _assigned(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        if start >= last:
            out += [text[last:start], REDACTED]
            last = end
    return "".join([*out, text[last:]])


def may_hold_secrets(text: str, values: Iterable[str] | None = None) -> bool:
    """Whether ``scrub_text`` could change ``text``, without a copy: the quick no a reader pays on a clean file.

    The same test as the scrubber's one pattern, split: ``in`` for each literal form and one search per shape
    (each keeps its literal prefix, which the engine skips to) is several times faster than the one alternation.
    A secret inside any string of a JSON document is found in the document's text once its escapes are decoded.
    """
    forms, shapes = _parts(_values(values))
    if any(form in text for form in forms) or any(shape.search(text) for shape in shapes):
        return True
    if _assigned(text):  # also a secret-named key's value in a JSON document's own text
        return True
    return "://" in text and URL_CREDENTIALS.search(text) is not None


@functools.lru_cache(maxsize=16)
def _parts(values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[re.Pattern[str], ...]]:
    forms = tuple(sorted({form for value in values for form in encoded_forms(value)}))
    return forms, tuple(re.compile(shape, re.S) for shape in SHAPES.values())


def current_secret_values() -> list[str]:
    """``secret_values()`` for this process, worked out once per state of its environment (a reader of 10,000 files
    asks each time: the names' classification is most of the cost)."""
    return list(_secret_values_of(tuple(os.environ.items()), frozenset(_LEARNED)))


@functools.lru_cache(maxsize=4)
def _secret_values_of(environ: tuple[tuple[str, str], ...], learned: frozenset[str]) -> tuple[str, ...]:
    values = set(secret_names.secret_values(dict(environ))) | learned
    return tuple(sorted(values, key=len, reverse=True))


def scrub(document: Any, values: Iterable[str] | None = None) -> Any:
    """A deep copy of any JSON-like ``document`` (report, record, history line) with secrets scrubbed in keys and strings.

    ``values`` defaults to the secret-named variables of this process's environment.
    """
    pattern = _scrubber(_values(values))

    def text(value: str) -> str:
        value = pattern.sub(REDACTED, value)
        if "://" in value:
            value = URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", value)
        return _assignments(value)

    def entry(key: str, value: Any) -> Any:
        # An environment map (a report's inventory, a fingerprint): a secret-named variable's value goes whatever it
        # is, as when it was recorded; a hostile report may hold one in clear. Only UPPER_CASE keys: schema fields are not.
        if isinstance(value, str) and value and _ENV_NAME.fullmatch(key) and is_secret_name(key):
            return REDACTED
        return walk(value)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return text(node)
        if isinstance(node, dict):
            return {text(str(k)): entry(str(k), v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v) for v in node]
        return node

    return walk(document)


def redact_environment(environ: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """The named variables that are set, with secret-named ones replaced by ``<redacted>``."""
    values = secret_values(environ)
    out: dict[str, str] = {}
    for name in sorted(names):
        if name in environ:
            out[name] = REDACTED if is_secret_name(name) else scrub_text(environ[name], values)
    return out
