"""Escaping of check output that lands in GitHub-rendered Markdown (rendered with GitHub's cmark-gfm)."""

from __future__ import annotations

import cmarkgfm
from cmarkgfm.cmark import Options

from preflight_action.templating import md_block, md_cell

HOSTILE = "see [click](https://evil.example/x) ![px](http://t.example/p.png) org/repo#12 www.evil.example @team a|b <script>x</script>"


def render(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def test_a_table_cell_carries_no_live_link_image_mention_or_html():
    html = render(f"| check | error |\n| --- | --- |\n| `x.y` | {md_cell(HOSTILE)} |\n")
    assert "<a " not in html
    assert "<img" not in html
    assert "<script>" not in html
    assert html.count("<td>") == 2  # the pipe did not split the row
    assert "@\u200bteam" in html


def test_a_code_block_cannot_close_its_fence_or_open_a_marker():
    text = md_block("```\n<!-- preflight-action:summary key=other -->\n@team")
    html = render(f"```text\n{text}\n```\n")
    assert html.count("<pre") == 1
    assert "<!-- preflight-action" not in html
    assert "@\u200bteam" in html
