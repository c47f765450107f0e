"""Trend charts: the Mermaid we emit parses and renders in the real mermaid package (headless Chromium); the SVG is inert."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from preflight_action.history import charts
from preflight_action.history.trends import Series
from tests.support import headless_chromium

ROOT = Path(__file__).resolve().parents[2]
MERMAID = Path(os.environ.get("PREFLIGHT_MERMAID_JS") or ROOT / "tests" / ".node" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js")
requires_mermaid = pytest.mark.skipif(
    not MERMAID.is_file(),
    reason=f"the mermaid npm package is not installed at {MERMAID} (npm install --prefix tests/.node mermaid@11.17.2; .ci/run does)",
)

HOSTILE = 'node "17"\n  line [1, 2] %% @team <b>x</b> ]] --> end'


def series(title: str = "node-17 perf.matmul bf16: -30% vs median 700", regressed: bool = True, points: int = 12) -> Series:
    values = (*tuple(700.0 + i % 3 for i in range(points - 1)), 490.0)
    return Series(
        title, "TFLOP/s", tuple(f"03-{i + 1:02d} 02:00" for i in range(points)), values, (700.0,) * points, "baseline (median)", regressed
    )


def test_mermaid_is_one_xychart_with_the_line_and_its_baseline() -> None:
    text = charts.mermaid(series())
    lines = text.splitlines()
    assert lines[0] == "xychart-beta"
    assert lines[1] == '    title "node-17 perf.matmul bf16: -30% vs median 700"'
    assert lines[3].startswith('    y-axis "TFLOP/s" ')
    assert lines[4].startswith("    line [700, 701, 702,")
    assert lines[4].endswith(", 490]")
    assert lines[5] == "    line [" + ", ".join(["700"] * 12) + "]"


def test_report_text_cannot_break_out_of_the_chart() -> None:
    text = charts.mermaid(series(title=HOSTILE))
    assert len(text.splitlines()) == 6  # the newline in the title did not start a new statement
    title = text.splitlines()[1]
    assert title.count('"') == 2
    assert "<" not in text
    assert "@" not in text
    svg = charts.svg(series(title=HOSTILE))
    assert "<b>" not in svg
    assert "<script" not in svg
    assert re.search(r'role="img"', svg)
    assert "<title>node _17_" in svg


def page(tmp_path: Path, blocks: list[str]) -> Path:
    html = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><script src="{MERMAID.as_uri()}"></script></head>
<body><pre id="result">pending</pre><div id="out"></div><script>
const blocks = {json.dumps(blocks)};
mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
(async () => {{
  const lines = [];
  for (let i = 0; i < blocks.length; i++) {{
    try {{
      await mermaid.parse(blocks[i]);
      const {{svg}} = await mermaid.render("chart" + i, blocks[i]);
      document.getElementById("out").insertAdjacentHTML("beforeend", svg);
      lines.push("ok " + i + " " + (svg.includes("<svg") ? "svg" : "empty"));
    }} catch (e) {{
      lines.push("error " + i + " " + String(e && e.message || e).split("\\n")[0]);
    }}
  }}
  document.getElementById("result").textContent = lines.join("\\n");
}})();
</script></body></html>"""
    path = tmp_path / "charts.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.integration
@headless_chromium.requires_chromium
@requires_mermaid
def test_the_charts_summarize_emits_parse_and_render_in_mermaid(tmp_path: Path) -> None:
    import random

    from tests.history.test_history import fleet, night

    rng = random.Random(5)
    for day in range(5):
        _, _, markdown = night(tmp_path, day, fleet(day, rng, drop_node_today=day == 4))
    emitted = re.findall(r"```mermaid\n(.*?)\n```", markdown, re.S)
    assert len(emitted) >= 3  # node-17's regression, then the watched bf16 and copy_tbs fleet charts
    assert "node-17 perf.matmul bf16" in emitted[0]
    blocks = [*emitted[:2], charts.mermaid(series(title=HOSTILE, regressed=False, points=2))]
    broken = "xychart-beta\n    line [1, 2\n"  # proves the harness reports a parse error
    done = headless_chromium.run(page(tmp_path, [*blocks, broken]), tmp_path / "profile", "--virtual-time-budget=20000", "--dump-dom")
    result = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert result, done.stderr[-2000:]
    lines = result.group(1).strip().splitlines()
    assert lines[:3] == ["ok 0 svg", "ok 1 svg", "ok 2 svg"], lines
    assert lines[3].startswith("error 3"), lines


def test_the_matrix_dashboard_draws_the_historys_charts_as_inline_svg(tmp_path: Path) -> None:
    import random

    from preflight_action.matrix import cli as matrix_cli
    from tests.history.test_history import fleet, night

    rng = random.Random(5)
    for day in range(5):
        night(tmp_path, day, fleet(day, rng, drop_node_today=day == 4))
    page_path = tmp_path / "matrix.html"
    code = matrix_cli.main(
        ["status", "--input-glob", str(tmp_path / "in" / "*.json"), "--html", str(page_path), "--history", str(tmp_path / "h.jsonl")]
    )
    assert code == 0
    html = page_path.read_text(encoding="utf-8")
    assert "1 regression in the history's last run" in html
    figures = re.findall(r'<figure class="trend-chart( regressed)?"><svg [^>]*role="img"', html)
    assert len(figures) >= 3
    assert figures[0] == " regressed"
    assert "<title>node-17 perf.matmul bf16: -" in html
    assert "&lt;svg" not in html  # the SVG is markup, not escaped text


@pytest.mark.integration
@headless_chromium.requires_chromium
def test_the_inline_svg_is_drawn_by_a_browser(tmp_path: Path) -> None:
    path = tmp_path / "svg.html"
    path.write_text(f"<!DOCTYPE html><html><body>{charts.svg(series())}</body></html>", encoding="utf-8")
    done = headless_chromium.run(path, tmp_path / "profile", "--dump-dom")
    assert done.stdout.count("<polyline") == 2
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img"' in done.stdout
