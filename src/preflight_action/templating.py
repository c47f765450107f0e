"""The one Jinja2 template environment (user-overridable) and the escaping filters GitHub output needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import untrusted
from preflight_action.paths import templates_dir

if TYPE_CHECKING:  # Jinja2 loads when a template is rendered: the filters below serve the terminal without it
    import jinja2

_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")
_HTML = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;"})
_LINKISH = re.compile(r"[\[\]!#]")  # link/image brackets and #123 issue references
FENCE = "`" * 3


def md_cell(value: Any, limit: int = 300) -> str:
    """Text safe inside a GitHub Markdown table cell.

    No pipes or newlines (table breaks), no HTML, no @mentions, and no live
    links, images or issue references: check output may come from a fork, and
    the bot signs the comment it lands in.
    """
    text = " ".join(untrusted.clean(str(value if value is not None else ""), 4 * limit).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.translate(_HTML).replace("|", "\\|").replace("`", "'")
    text = _LINKISH.sub(lambda m: "\\" + m.group(0), text)
    text = text.replace("://", ":/\u200b/").replace("www.", "www\u200b.")
    return _MENTION.sub("@\u200b", text)


def md_block(value: Any, limit: int = 2000) -> str:
    """Text safe inside a fenced code block: no fence breaks, no @mentions, no HTML comment openers."""
    # controls and bidi overrides escaped even when the text did not come through a finished report (a reader's input)
    text = untrusted.clean(str(value if value is not None else "")[:limit], limit).replace(FENCE, "'" * 3).replace("<!--", "<!\u200b--")
    return _MENTION.sub("@\u200b", text)


def duration(ms: float) -> str:
    """Milliseconds as a short human figure: ``850 ms``, ``3.20 s``."""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def environment(extra_dirs: list[Path] | None = None, html: bool = False, filters: dict[str, Any] | None = None) -> jinja2.Environment:
    """Templates from ``extra_dirs`` (user overrides) first, then ours; ``filters`` adds a renderer's own."""
    import jinja2

    loader = jinja2.FileSystemLoader([str(p) for p in (extra_dirs or [])] + [str(templates_dir())])
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=html),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md_cell=md_cell, md_block=md_block, duration=duration, **(filters or {}))
    return env


def render(template: str, extra_dirs: list[Path] | None = None, filters: dict[str, Any] | None = None, **context: Any) -> str:
    return environment(extra_dirs, filters=filters).get_template(template).render(**context)
