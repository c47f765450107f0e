"""The static matrix dashboard in headless chromium: it loads, every cell is labelled, severities have colours and words."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from preflight_action.matrix import model as matrix
from preflight_action.matrix import view as matrix_view
from tests.support import headless_chromium

pytestmark = [
    pytest.mark.integration,
    headless_chromium.requires_chromium,
]
# Runs in the page after layout: copies each cell's computed colours into data attributes for --dump-dom.
PROBE = """<script>
for (const cell of document.querySelectorAll('.cell, .legend span')) {
  const style = getComputedStyle(cell);
  cell.dataset.bg = style.backgroundColor;
  cell.dataset.fg = style.color;
}
document.body.dataset.probed = 'yes';
</script>"""
NOW = datetime.now(timezone.utc).replace(microsecond=0)  # ages are relative to the real clock


def lane(node: str, backend: str, code: str, simulated: bool = False, age_hours: float = 0.0) -> matrix.Lane:
    updated = matrix.iso(NOW - timedelta(hours=age_hours))
    return matrix.Lane(node, backend, code, f"{code} <b>on</b> {backend}", (f"detail for {node}",), updated, "smoke", simulated=simulated)


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.body: dict[str, str] = {}
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = found
        if tag in ("td", "th") and "cell" in found.get("class", "").split():
            self._open = {**found, "tag": tag, "text": ""}
            self.cells.append(self._open)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data


def dump_dom(page: Path, profile: Path) -> str:
    result = headless_chromium.run(page, profile, "--dump-dom", timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_dashboard_cells_have_labels_colours_and_words(tmp_path: Path) -> None:
    lanes = [
        lane("node-a", "cpu", "ok"),
        lane("node-a", "cuda", "error"),
        lane("node-b", "cuda", "down"),
        lane("node-b", "cpu", "ok", age_hours=30),  # older than the ttl: stale
        lane("node-c", "cuda", "skipped", simulated=True),
    ]
    snapshot = matrix.build_snapshot(lanes, now=NOW, ttl_seconds=3600)
    html = matrix_view.html(snapshot)
    assert "<b>on</b>" not in html  # artifact text is escaped
    page = tmp_path / "matrix.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    parser = Cells()
    parser.feed(dump_dom(page, tmp_path / "profile"))
    assert parser.body.get("data-probed") == "yes", "the page did not load and run"
    data_cells = [c for c in parser.cells if c["tag"] == "td"]
    assert len(data_cells) == 3 * 2  # nodes x backends, empty cells included
    for cell in parser.cells:
        assert cell.get("aria-label", "").strip(), f"cell without an aria-label: {cell}"
        assert cell["data-bg"] not in ("", "rgba(0, 0, 0, 0)", "transparent"), f"cell without a background colour: {cell}"
    by_severity: dict[str, set[str]] = {}
    for cell in data_cells:
        by_severity.setdefault(cell["data-severity"], set()).add(cell["data-bg"])
        word = {**matrix.CODE_WORD, "none": "No data"}[cell["data-code"]]
        assert cell["text"].split()[0] == word.split()[0], f"status {cell['data-code']} without its headline word: {cell['text']!r}"
        assert "Info" not in cell["text"]  # a healthy cell says Ready; colour and word carry the severity
    assert set(by_severity) == {"info", "warning", "error", "critical", "none"}
    colours = [next(iter(v)) for v in by_severity.values()]
    assert all(len(v) == 1 for v in by_severity.values()), by_severity
    assert len(set(colours)) == len(colours), by_severity
    stale = next(c for c in data_cells if c["data-severity"] == "warning")
    assert "Stale" in stale["text"]
    assert "ttl 3600 s" in stale["aria-label"]
    simulated = next(c for c in data_cells if "node-c, cuda" in c["aria-label"])
    assert "simulated" in simulated["text"]
    empty = next(c for c in data_cells if c["data-severity"] == "none")
    assert "no report" in empty["aria-label"]
    ready = next(c for c in data_cells if "node-a, cpu" in c["aria-label"])
    assert ready["text"].split()[0] == "Ready"
    assert "just now" in ready["text"]
    assert "Updated just now." in ready["aria-label"]
    old = next(c for c in data_cells if "node-b, cpu" in c["aria-label"])
    assert "1 d ago" in old["text"]  # 30 h before the snapshot's own time
    row = next(c for c in parser.cells if c["tag"] == "th" and c["text"].strip().startswith("node-b"))
    assert row["text"].split()[1:4] == ["Down", "cuda", "smoke:"]  # the word once, then what it is about: no "Critical Down - ..."
    assert "Critical" not in row["text"]
