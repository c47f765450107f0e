"""The diff's Markdown as GitHub renders it (cmarkgfm): values in code spans show as written, and stay in their cell."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from preflight_action import schemas
from preflight_action.diff import cli, render
from tests.support import environments as envs
from tests.support.report_factory import report_doc


class Cells(HTMLParser):
    """Each table row's cells as a reader sees them, the text inside <code> in each, and every tag."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.codes: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None
        self._code: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
            self.codes.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "code":
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "code" and self._code is not None:
            self.codes[-1].append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._code):
            if sink is not None:
                sink.append(data)


def github(markdown: str) -> Cells:
    return Cells(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))


VALUES = {
    "HF_TOKEN": "<redacted>",
    "NCCL_SOCKET_IFNAME": "eth0|ib0",
    "TORCH_LOGS": "+dynamo `rm -rf` & <b>bold</b>",
    "CUDA_VISIBLE_DEVICES": "@octo-org/admins see [docs](https://evil.example) #12",
    "OMP_PROC_BIND": "close\nspread",
    "PYTORCH_CUDA_ALLOC_CONF": "C:\\cache\\|x",
}


def test_values_in_code_spans_read_as_written_and_nothing_leaves_its_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, after = report_doc(), report_doc()
    before["inventory"], after["inventory"] = envs.inventory(envs.FLEET_PACKAGES), envs.inventory(envs.FLEET_PACKAGES, VALUES)
    paths = []
    for name, document in (("a.json", before), ("b.json", after)):
        schemas.validate(document, "preflight_report", "test report")
        (tmp_path / name).write_text(json.dumps(document), encoding="utf-8")
        paths.append(str(tmp_path / name))
    assert cli.main([*paths, "--output-md", str(tmp_path / "d.md"), "--quiet"]) == 1
    page = github((tmp_path / "d.md").read_text(encoding="utf-8"))
    rows = {row[0].split(" set (")[0]: (row, codes) for row, codes in zip(page.rows, page.codes, strict=True) if " set (" in row[0]}
    shown = {name: codes for name, (_, codes) in rows.items()}
    assert shown == {
        "HF_TOKEN": ["<redacted>"],  # not &lt;redacted&gt;: GitHub decodes no entity inside a code span
        "NCCL_SOCKET_IFNAME": ["eth0|ib0"],
        "TORCH_LOGS": ["+dynamo 'rm -rf' & <b>bold</b>"],  # a backtick would end the span
        "CUDA_VISIBLE_DEVICES": ["@\u200bocto-org/admins see [docs](https://evil.example) #12"],
        "OMP_PROC_BIND": ["close spread"],
        "PYTORCH_CUDA_ALLOC_CONF": ["C:\\cache\\|x"],
    }
    assert all(len(row) == 3 and row[1] == "—" for row, _ in rows.values())  # change, was, now: no pipe split a row
    assert not {"a", "b", "img", "script"} & set(page.tags)


@pytest.mark.parametrize(
    ("value", "markdown"),
    [
        ("<redacted>", "`<redacted>`"),
        ("a|b", "`a\\|b`"),
        ("x`y", "`x'y`"),
        ("two\n  lines", "`two lines`"),
        ("@team", "`@\u200bteam`"),
        ("", "(empty)"),
        ("x" * 130, "`" + "x" * 119 + "…`"),
    ],
)
def test_a_value_is_a_code_span_escaped_as_code_spans_need(value: str, markdown: str) -> None:
    assert render.md_code(value) == markdown
