"""Remedies and where they failed, in every reading of a report: JSON (old and new), terminal, Markdown, HTML, PR comment."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from preflight_action import schemas
from preflight_action.github.limits import COMMENT
from preflight_action.preflight import report as report_module
from preflight_action.summary import markdown as summary_render
from tests.summary.test_summary import report_doc, summarize


def test_a_real_failing_run_leads_with_verdict_and_triage_and_folds_the_skipped(run_preflight, tmp_path: Path):
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    run = run_preflight("--device", "cuda", "--output-md", str(md), "--output-html", str(html))
    resolve = run.check("device.resolve")
    assert resolve["remedy"]
    entry = run.report["triage"]["top_failed_checks"][0]
    assert (entry["check_id"], entry["remedy"], entry["node"]) == ("device.resolve", resolve["remedy"], run.report["host"]["node_id"])
    assert entry["os"]
    skipped = run.report["skip_count"]

    text = md.read_text()
    assert text.index("### Triage") < text.index("| device |") < text.index("### Checks")
    assert f"Where: `{entry['node']}` ({entry['os']})" in text
    assert "| critical | 98 | `device.resolve` | cuda | --device cuda was requested but is not available" in text
    what_to_do = text.split("### Checks")[0].split("**1. `device.resolve`** (critical 98): what to do", 1)[1]
    assert resolve["remedy"].split()[0] in what_to_do  # the finding's own remedy, its commands in code blocks
    assert what_to_do.index(resolve["remedy"].split()[0]) < what_to_do.index("Policy for critical: ")
    assert f"<details><summary>{skipped} skipped checks</summary>" in text
    checks_table = text.split("### Checks", 1)[1].split("<details>", 1)[0]
    assert "skip" not in checks_table  # skipped checks live in the fold only

    page = html.read_text()
    assert page.index('id="triage"') < page.index('id="checks"')
    assert f'<details id="skipped"><summary>{skipped} skipped checks</summary>' in page
    what_html = page.split('<section id="cause-1"', 1)[1].split("</section>", 1)[0]
    assert '<div class="remedy">' in what_html
    assert what_html.index('<div class="remedy">') < what_html.index("Policy for critical: Block release candidates")

    assert "what to do (on " in run.stdout
    assert "1. [critical 98] device.resolve" in run.stdout
    assert run.stdout.index("   do this:") < run.stdout.index("   policy for critical: ")  # the remedy first, the band's rule second


def test_a_1_0_report_without_remedies_still_reads_and_a_current_one_round_trips(tmp_path: Path):
    document = report_doc("gpu-1", "cuda", {"tensor.smoke": "RuntimeError: CUDA error: illegal memory access"})
    assert document["schema_version"] == report_module.SCHEMA_VERSION
    entry = document["triage"]["top_failed_checks"][0]
    assert entry["remedy"] == document["checks"][[c["id"] for c in document["checks"]].index("tensor.smoke")]["remedy"]
    old = copy.deepcopy(document)
    old["schema_version"] = "1.0"
    for check in old["checks"]:
        check.pop("remedy")
    for row in old["triage"]["top_failed_checks"]:
        for key in ("remedy", "node", "os"):
            row.pop(key)
    schemas.validate(old, "preflight_report", "a 1.0 report")
    rebuilt = report_module.Report.from_dict(old)
    assert rebuilt.triage.top_failed_checks[0].remedy is None
    assert rebuilt.check("tensor.smoke").remedy is None
    assert report_module.Report.from_dict(document).to_dict() == document


def test_pr_comment_triage_rows_say_what_to_do_and_where(tmp_path: Path):
    docs = [
        report_doc("gpu-1", "cuda", {"tensor.smoke": "RuntimeError: CUDA error: illegal memory access"}),
        report_doc("gpu-2", "cuda", {"tensor.smoke": "RuntimeError: CUDA error: misaligned address"}),
    ]
    for doc, os_name in zip(docs, ("Ubuntu 22.04", "Rocky Linux 9.4"), strict=True):
        for row in doc["triage"]["top_failed_checks"]:
            row["os"] = os_name
            row["remedy"] = f"drain {doc['host']['node_id']} and reinstall the driver"
    merged = summarize(tmp_path, docs)
    top = merged.top_failed[0]
    assert top.where == "gpu-1 (Ubuntu 22.04), gpu-2 (Rocky Linux 9.4)"
    assert top.remedy in ("drain gpu-1 and reinstall the driver", "drain gpu-2 and reinstall the driver")
    text = summary_render.render(merged, "ci", COMMENT).text
    row = next(line for line in text.splitlines() if "`tensor.smoke`" in line and line.startswith("|"))
    assert top.remedy in row
    assert "gpu-1 (Ubuntu 22.04), gpu-2 (Rocky Linux 9.4)" in row
    assert re.search(r"\| what to do \| where \|", text)
