"""The report's Markdown and HTML renderings: the verdict first, unfinished checks before passes, one block per cause."""

from __future__ import annotations

import json
import re
from pathlib import Path

from preflight_action import outputs, templating
from preflight_action.preflight import describe
from preflight_action.preflight.cli import Outputs
from preflight_action.preflight.report import BudgetRecord, CheckResult, Report
from tests.support import headless_chromium, report_factory

FINISHED = "2026-01-01T00:00:00.000Z"
PAIR = (
    "torchvision 0.29.1 (CUDA 13 build, links libcudart.so.13) does not pair with torch 2.13.0+cpu (CPU build): it is a "
    "release for another torch (torch 2.13.0+cpu pairs with torchvision 0.28.x); its extension is a CUDA 13 build, links "
    "libcudart.so.13 but torch is a CPU build; the pair that works is torch 2.13.0+cpu with torchvision 0.28.x from the cpu index"
)
FIX = '/venv/bin/python -m pip install "torchvision==0.28.*" --index-url https://download.pytorch.org/whl/cpu'


def _render(report: Report, tmp_path: Path) -> tuple[str, str]:
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    assert outputs.write_all(report, Outputs(str(tmp_path / "r.json"), str(md), str(html)), "test") == 0
    return md.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")


def _report(checks: list[CheckResult], **changes: object) -> Report:
    document = report_factory.build(checks, node="node-a", backend="cpu", finished_at=FINISHED)
    document.update(changes)
    return Report.from_dict(document)


def _interrupted() -> Report:
    passed = [CheckResult(c, "pass", 3.0) for c in ("torch.import", "device.resolve")]
    stopped = [
        CheckResult.skipped(c, "not run: the run was interrupted by SIGINT", unfinished="interrupted")
        for c in ("tensor.smoke", "deps.consistency")
    ]
    return _report(passed + stopped, interrupted_by="SIGINT")


def test_an_interrupted_report_reads_not_judged_first_in_markdown_and_html(tmp_path: Path) -> None:
    md, html = _render(_interrupted(), tmp_path)
    assert md.startswith("## Runtime preflight: NOT JUDGED on `node-a`\n\n**NOT JUDGED**: 2 not finished, 2 passed")
    assert "Interrupted by SIGINT: this report is partial, not a pass." in md
    assert md.index("### Not finished: not judged") < md.index("| ✅ pass | `torch.import`")
    assert "| `tensor.smoke` | the run was interrupted: not run: the run was interrupted by SIGINT |" in md
    assert "PASS" not in md
    assert '<p class="verdict not_judged" role="status"><strong>NOT JUDGED</strong>: 2 not finished, 2 passed' in html
    assert html.index('id="unfinished"') < html.index('id="checks"')
    assert "PASS" not in html


def test_one_cause_is_one_what_to_do_block_whose_command_is_whole(tmp_path: Path) -> None:
    checks = [
        CheckResult("torch.import", "pass", 3.0),
        CheckResult("torchvision.import", "fail", 4.0, error=f"{PAIR} (import failed with RuntimeError)", remedy=FIX),
        CheckResult("deps.consistency", "fail", 2.0, error=PAIR, remedy=FIX),
    ]
    md, html = _render(_report(checks), tmp_path)
    assert "**BLOCKING**: 2 checks failed (1 cause), 1 passed" in md
    assert re.search(r"\| medium \| 70 \| `torchvision.import` \| cpu \| .* \| 1 \|", md)
    assert re.search(r"\| medium \| 65 \| `deps.consistency` \| cpu \| .* \| 1 \|", md)
    assert md.count("): what to do") == 1
    assert "**1. `torchvision.import`, `deps.consistency`** (medium 70, one cause): what to do" in md
    assert f"```sh\n{FIX}\n```" in md  # a code block: the URL as it is, no zero-width space, no line break
    assert md.index(f"```sh\n{FIX}") < md.index("Policy for medium: ")
    assert "the pair that works is torch 2.13.0+cpu with torchvision 0.28.x from the cpu index" in md.split("### Checks")[0]
    assert html.count('<section id="cause-') == 1
    assert f'<pre class="command">{FIX.replace(chr(34), "&#34;")}</pre>' in html
    triage = html.split('id="triage"', 1)[1].split("</table>", 1)[0]
    assert f"{PAIR} (import failed with RuntimeError)" in triage  # the whole cause, not cut at "the pair that works is…"
    assert "…" not in triage


def test_a_passing_report_has_no_severity_column_and_says_its_level_and_budget(tmp_path: Path) -> None:
    report = _report([CheckResult(c, "pass", 2400.0) for c in ("torch.import", "tensor.smoke")])
    report = Report.from_dict({**report.to_dict(), "budget": {"budget_s": 30.0, "spent_s": 4.2, "cut_short": []}})
    md, html = _render(report, tmp_path)
    assert "| status | check | time | details |" in md
    assert "severity" not in md
    assert "| ✅ pass | `torch.import` | 2.40\u00a0s |" in md  # the unit never wraps away from its figure
    assert "<th>severity</th>" not in html
    assert "level standard, budget 30 s (spent 4.2 s)" in md
    assert "level standard, budget 30 s (spent 4.2 s)" in html


def test_the_checks_the_budget_cut_are_named(tmp_path: Path) -> None:
    cut = CheckResult.skipped("tensor.smoke", "cut short by the --budget of 30 s: ...", unfinished="budget_cut")
    report = _report([CheckResult("torch.import", "pass", 3.0), cut])
    report = Report.from_dict({**report.to_dict(), "budget": {"budget_s": 30.0, "spent_s": 30.5, "cut_short": ["tensor.smoke"]}})
    assert report.budget == BudgetRecord(30.0, 30.5, ["tensor.smoke"])
    md, html = _render(report, tmp_path)
    assert "| cut by the budget | `tensor.smoke` |" in md
    assert '<th scope="row">cut by the budget</th><td><code>tensor.smoke</code></td>' in html


@headless_chromium.requires_chromium
def test_a_time_cell_stays_on_one_line_in_a_narrow_browser(tmp_path: Path) -> None:
    long_words = {"summary": "a long description " * 30}
    report = _report([CheckResult("torch.import", "pass", 2400.0, details=long_words), CheckResult("tensor.smoke", "pass", 12345.0)])
    _, html = _render(report, tmp_path)
    measure = (
        "<script>document.title = JSON.stringify([...document.querySelectorAll('#checks td.num')].map(td => {"
        "const r = document.createRange(); r.selectNodeContents(td);"
        "return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }));</script></body>"
    )
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", measure), encoding="utf-8")
    done = headless_chromium.run(page, tmp_path / "profile", "--window-size=360,800", "--dump-dom")
    title = re.search(r"<title>(.*?)</title>", done.stdout)
    assert title, done.stderr
    assert json.loads(title.group(1)) == [1, 1]  # each time cell's text on one line


def test_the_renderings_and_the_terminal_say_the_same_words() -> None:
    report = _interrupted()
    env = templating.environment(filters=describe.template_filters())
    text = env.get_template("report.md.j2").render(report=report)
    assert describe.counts_words(report) in text
    assert describe.budget_words(report) in text
