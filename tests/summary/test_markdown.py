"""The summary Markdown as GitHub renders it (cmarkgfm, raw HTML allowed as in comments), and its size limits."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from preflight_action.github.comment import marker
from preflight_action.github.limits import COMMENT, STEP_SUMMARY
from preflight_action.summary import markdown as summary_render
from preflight_action.summary.markdown import render
from tests.summary.test_summary import NOW, matrix_docs, report_doc, summarize

HOSTILE = "@team please look <script>alert(1)</script> <img src=x onerror=alert(1)> | broken | cell |\n\n# heading\n```\nfence"


class Page(HTMLParser):
    """What a reader sees: tables (rows of cell texts), <details> folds, comments, tags, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.details = 0
        self.summaries: list[str] = []
        self.comments: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._in_summary = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "details":
            self.details += 1
        elif tag == "summary":
            self._in_summary = True
            self.summaries.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "summary":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_summary:
            self.summaries[-1] += data

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def github_html(markdown: str) -> Page:
    return Page(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))


def test_tables_stay_tables_and_details_fold(tmp_path: Path) -> None:
    merged = summarize(tmp_path, matrix_docs())
    page = github_html(render(merged, "ci").text)
    headers = [table[0] for table in page.tables]
    assert ["band", "score", "check", "reports", "backends", "first error", "what to do", "where"] in headers
    assert ["backend", "worst band", "reports failing", "failed checks", "action"] in headers
    assert ["node", "cpu", "cuda", "mps"] in headers
    assert ["status", "node", "OS", "Python", "device", "pass", "fail", "skip", "duration", "finished"] in headers
    for table in page.tables:
        assert all(len(row) == len(table[0]) for row in table), table
    status_table = next(t for t in page.tables if t[0][0] == "status")
    assert len(status_table) == 1 + 5
    matrix_table = next(t for t in page.tables if t[0][0] == "node")
    assert ["gpu-1", "✅ Ready", "🛑 Down", "–"] in matrix_table
    assert page.details == 1
    assert page.summaries == ["Errors of failed checks (2)"]


def test_marker_stays_hidden_and_names_the_key(tmp_path: Path) -> None:
    page = github_html(render(summarize(tmp_path, matrix_docs()), "nightly").text)
    assert page.comments == [" preflight-action:summary key=nightly "]
    assert "preflight-action:summary" not in "".join(page.text)


def test_comment_key_cannot_break_out_of_the_marker() -> None:
    assert marker("evil --> <b>x</b>") == "<!-- preflight-action:summary key=evil-b-x-b -->"
    assert marker("") == marker(None) == "<!-- preflight-action:summary key=default -->"


def test_check_output_cannot_ping_inject_html_or_break_tables(tmp_path: Path) -> None:
    documents = [
        report_doc("gpu-1", "cuda", {"tensor.smoke": HOSTILE}),
        report_doc("@org/admins <b>", "cpu", {"deps.consistency": HOSTILE}),
    ]
    text = render(summarize(tmp_path, documents), "ci").text
    page = github_html(text)
    assert not {"script", "img", "b", "h1"} & set(page.tags)
    visible = "".join(page.text)
    assert "@team" not in visible
    assert "@org" not in visible
    assert "@\u200bteam" in visible
    for table in page.tables:
        assert all(len(row) == len(table[0]) for row in table), table
    triage = next(t for t in page.tables if t[0][0] == "band")
    assert triage[1][5].startswith("@\u200bteam please look <script>alert(1)</script> <img src=x onerror=alert(1)> | broken | cell |")
    assert page.details == 1  # the fence in the error did not swallow the rest of the document
    assert any(t[0][0] == "status" for t in page.tables)


def test_links_only_for_http_urls(tmp_path: Path) -> None:
    good = summarize(tmp_path / "a", [report_doc()], run_url="https://github.com/o/r/actions/runs/1", artifact_url="javascript:alert(1)")
    text = render(good).text
    assert "[Workflow run](https://github.com/o/r/actions/runs/1)" in text
    assert "javascript:" not in text


def many_reports(count: int) -> list[dict[str, object]]:
    docs = []
    for i in range(count):
        failures = {"tensor.smoke": f"RuntimeError: lane {i} failed with a long explanation " + "x" * 200} if i % 3 == 0 else {}
        if i % 7 == 0:
            failures[f"custom.check_{i}"] = "custom failure"
        docs.append(report_doc(f"node-{i:05d}", ("cuda", "cpu", "rocm", "mps")[i % 4], failures))
    return docs


@pytest.fixture(scope="module")
def big_summary(tmp_path_factory: pytest.TempPathFactory) -> object:
    return summarize(tmp_path_factory.mktemp("big"), many_reports(1200), artifact_url="https://github.com/o/r/actions/runs/9#artifacts")


def test_comment_over_the_limit_drops_detail_with_a_note_to_the_artifact(big_summary: summary_render.Summary) -> None:
    full = render(big_summary, "ci")
    assert COMMENT.measure(full.text) > COMMENT.size
    fitted = render(big_summary, "ci", limit=COMMENT)
    assert fitted.reduced
    assert COMMENT.measure(fitted.text) <= COMMENT.size
    assert "Detail was dropped to stay under GitHub's PR comment size limit" in fitted.text
    assert "[run's artifacts](https://github.com/o/r/actions/runs/9#artifacts)" in fitted.text
    page = github_html(fitted.text)
    status_table = next(t for t in page.tables if t[0][0] == "status")
    assert all(row[0].startswith("❌") for row in status_table[1:])  # failing reports are kept first
    assert "more reports not shown" in fitted.text
    assert page.comments == [" preflight-action:summary key=ci "]


def test_step_summary_budget_counts_bytes_already_used(big_summary: summary_render.Summary) -> None:
    roomy = render(big_summary, "ci", limit=STEP_SUMMARY)
    assert STEP_SUMMARY.measure(roomy.text) <= STEP_SUMMARY.size
    tight = render(big_summary, "ci", limit=STEP_SUMMARY, budget=40_000)
    assert STEP_SUMMARY.measure(tight.text) <= 40_000
    assert tight.level > roomy.level


def test_last_resort_cut_still_fits_and_says_so(tmp_path: Path) -> None:
    merged = summarize(tmp_path, [report_doc("n" * 50, "cpu", {"tensor.smoke": "boom"})])
    cut = render(merged, "ci", limit=COMMENT, budget=600, artifact_hint="outputs/summary.json")
    assert COMMENT.measure(cut.text) <= 600
    assert cut.text.startswith("<!-- preflight-action:summary key=ci -->")
    assert cut.text.rstrip().endswith("Cut to fit GitHub's PR comment limit. The full summary is in outputs/summary.json.")


def test_invalid_inputs_are_listed_in_the_markdown(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x|<i>.json").write_text("[", encoding="utf-8")
    merged = summarize(tmp_path, [report_doc()])
    from preflight_action.preflight import severity as policy
    from preflight_action.summary import load as summary_load
    from preflight_action.summary import model as summary

    merged = summary.build(summary_load.load_reports(summary_load.expand([str(tmp_path / "in" / "*")])), policy.load(), now=NOW)
    page = github_html(render(merged).text)
    table = next(t for t in page.tables if t[0] == ["file", "reason"])
    assert table[1][0].endswith("x|<i>.json")
    assert table[1][1].startswith("malformed JSON at line 1")
    assert "i" not in page.tags
