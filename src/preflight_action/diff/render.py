"""A diff as validated JSON (schemas/preflight_diff.schema.json), Markdown and terminal text (Jinja2 templates)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from preflight_action import __version__, schemas, templating, untrusted
from preflight_action.diff.engine import Diff, Side
from preflight_action.vocab import DIFF_GROUPS

if TYPE_CHECKING:
    import jinja2

SCHEMA_NAME = "preflight_diff"
SCHEMA_VERSION = "1.0"
KIND = "preflight-diff"
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")  # as templating.md_cell and md_block neutralise it


def _side(side: Side) -> dict[str, Any]:
    return {
        "label": side.label,
        "node_id": side.node_id,
        "finished_at": side.finished_at,
        "verdict": side.verdict,
        "inventory": side.inventory,
    }


def to_dict(diff: Diff) -> dict[str, Any]:
    """The diff document, validated (an invalid one is a bug and is never written)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": {"name": "preflight-action", "version": __version__},
        "before": _side(diff.before),
        "after": _side(diff.after),
        "changed": diff.changed,
        "counts": {group: sum(1 for c in diff.changes if c.group == group) for group in DIFF_GROUPS},
        "groups": [{"group": g, "title": t, "changes": [c.to_dict() for c in found]} for g, t, found in diff.groups()],
        "notes": list(diff.notes),
    }
    schemas.validate(document, SCHEMA_NAME, "diff JSON")
    return document


def md_code(value: Any, limit: int = 120) -> str:
    """Text as a code span in a GitHub Markdown table cell, shown exactly as written.

    GitHub decodes no character reference and honours no backslash escape inside a code span, so nothing is
    HTML-escaped (``<redacted>`` stays ``<redacted>``, not ``&lt;redacted&gt;``) and links and issue references are
    left alone: a code span shows them as text. What a code span cannot stop is escaped the way it needs: a pipe
    as ``\\|`` (the table splits a row before reading code spans, and gives the pipe back inside one), a backtick
    as ``'`` (it would end the span), newlines and runs of white space as one space (a row is one line), control
    and bidirectional characters as escapes; an @mention gets a zero-width space as in a fenced block.
    """
    text = untrusted.escape(" ".join(str(value).split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _MENTION.sub("@\u200b", text.replace("`", "'").replace("|", "\\|"))
    return f"`{text}`" if text else "(empty)"  # `` is no code span


def _md_value(value: Any) -> str:
    if value is None:
        return "—"
    return md_code(", ".join(str(v) for v in value) if isinstance(value, list) else value, 120)


@lru_cache(maxsize=2)
def _template(name: str) -> jinja2.Template:
    return templating.environment(filters={"md_value": _md_value}).get_template(name)


def markdown(diff: Diff) -> str:
    return _template("diff.md.j2").render(d=diff)


def text(diff: Diff) -> str:
    """The terminal rendering; text from reports is shown with its control characters escaped."""
    return "\n".join(untrusted.clean(line, 2000) for line in _template("diff.txt.j2").render(d=diff).splitlines()) + "\n"
