"""--output-prom: real promtool checks, a real node_exporter serving our textfile, and the alert rules on what it served."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from preflight_action.exports import prometheus
from preflight_action.preflight import report as report_module
from tests.conftest import ROOT
from tests.support.gate_reports import EXPORT, no_torch_python, perf_report, run_preflight

RULES = ROOT / "deploy" / "prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus; .ci/run installs it)")
needs_exporter = pytest.mark.skipif(
    NODE_EXPORTER is None, reason="node_exporter not installed (Debian package prometheus-node-exporter; .ci/run installs it)"
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("reports")
    healthy = run_preflight(where / "healthy.json")
    broken = run_preflight(where / "broken.json", python=no_torch_python(where / "venv"))
    return {"healthy": healthy, "broken": broken, "perf": perf_report(healthy, where / "perf.json")}


def _textfile(reports: dict[str, Path], name: str, where: Path) -> Path:
    out = where / f"{name}.prom"
    done = subprocess.run(
        [sys.executable, str(EXPORT), "--from-report", str(reports[name]), "--output-prom", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample, keyed by name and label set, parsed by prometheus-client's own text parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


@needs_promtool
@pytest.mark.parametrize("name", ["healthy", "broken", "perf"])
def test_promtool_check_metrics_accepts_the_textfile(reports: dict[str, Path], name: str, tmp_path: Path) -> None:
    text = _textfile(reports, name, tmp_path).read_text()
    done = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_the_textfile_reads_the_reports_own_verdict(reports: dict[str, Path], tmp_path: Path) -> None:
    broken = report_module.read(reports["broken"])
    samples = _samples(_textfile(reports, "broken", tmp_path).read_text())
    where = {"device": "none", "level": "standard", "node": broken.host.node_id}
    torch_import = {"check": "torch.import", **where}
    assert samples[_key("preflight_check_status", **torch_import, status="fail")] == 1
    assert samples[_key("preflight_check_status", **torch_import, status="pass")] == 0
    severity = broken.check("torch.import").severity
    assert severity is not None
    assert samples[_key("preflight_check_severity_score", **torch_import)] == severity.score
    assert samples[_key("preflight_check_blocking", **torch_import)] == 1
    assert samples[_key("preflight_check_blocking", check="deps.consistency", **where)] == 0
    assert samples[_key("preflight_report_blocking", **where)] == 1
    assert samples[_key("preflight_report_checks", **where, status="skip")] == broken.count("skip")
    finished = samples[_key("preflight_report_timestamp_seconds", **where)]
    assert finished == datetime.fromisoformat(broken.finished_at.replace("Z", "+00:00")).timestamp()  # the report's time, not the export's
    durations = [v for (name, _), v in samples.items() if name == "preflight_check_duration_seconds"]
    assert len(durations) == len(broken.checks)
    assert all(v >= 0 for v in durations)
    info = [dict(labels) for (name, labels), _ in samples.items() if name == "preflight_info"]
    assert len(info) == 1
    assert info[0]["highest_band"] == "critical"
    assert info[0]["simulated"] == "false"


def test_perf_figures_are_in_base_units_with_their_reference_ratio(reports: dict[str, Path], tmp_path: Path) -> None:
    samples = _samples(_textfile(reports, "perf", tmp_path).read_text())
    where = {"device": "cuda:0", "level": "standard", "node": report_module.read(reports["perf"]).host.node_id}
    matmul = {"check": "perf.matmul", **where}
    assert samples[_key("preflight_perf_matmul_flops_per_second", **matmul, dtype="bf16")] == pytest.approx(312e12)
    assert samples[_key("preflight_perf_copy_bytes_per_second", check="perf.bandwidth", **where)] == pytest.approx(1.5e12)
    assert samples[_key("preflight_perf_reference_ratio", **matmul, figure="bf16")] == pytest.approx(312 / 781.6)
    assert samples[_key("preflight_perf_reference_threshold_ratio", **matmul, figure="bf16")] == 0.7
    # a CPU report measures no perf figures, so it exports none rather than zeros
    healthy = _samples(_textfile(reports, "healthy", tmp_path).read_text())
    assert not [name for name, _ in healthy if name.startswith("preflight_perf_")]


def test_label_values_are_escaped(reports: dict[str, Path]) -> None:
    document = json.loads(reports["healthy"].read_text())
    document["host"]["node_id"] = 'rack "7"\\gpu\nnode'
    text = prometheus.render(report_module.Report.from_dict(document))
    assert 'node="rack \\"7\\"\\\\gpu\\nnode"' in text
    if PROMTOOL:
        done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def _export_argv(report: Path, *outputs: str) -> list[str]:
    return [sys.executable, str(EXPORT), "--from-report", str(report), *outputs]


def test_an_unwritable_textfile_is_refused_before_anything_is_written(reports: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the textfile directory should be")
    junit = tmp_path / "junit.xml"
    argv = _export_argv(reports["broken"], "--output-prom", str(blocker / "preflight.prom"), "--output-junit", str(junit))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"export.py: error: argument --output-prom: {blocker / 'preflight.prom'}")
    assert not junit.exists()  # output flags are checked when parsed, so nothing is half done
    assert blocker.read_text().startswith("a file")


def test_the_textfile_must_be_a_prom_file(reports: dict[str, Path], tmp_path: Path) -> None:
    wrong = tmp_path / "metrics.txt"
    done = subprocess.run(
        _export_argv(reports["healthy"], "--output-prom", str(wrong)), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"export.py: error: argument --output-prom: {wrong}: node_exporter's textfile collector reads only *.prom files"
    )
    assert not wrong.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real node_exporter on 127.0.0.1 with only the textfile collector, reading ``tmp_path/textfile``."""
    assert NODE_EXPORTER is not None
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    port = _free_port()
    log = (tmp_path / "node_exporter.log").open("wb")
    proc = subprocess.Popen(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"node_exporter did not start: {(tmp_path / 'node_exporter.log').read_text()}") from None
                time.sleep(0.1)
        yield url, textfile
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


@needs_exporter
@needs_promtool
def test_node_exporter_serves_the_textfile_and_the_rules_fire_on_what_it_served(
    reports: dict[str, Path], node_exporter: tuple[str, Path], tmp_path: Path
) -> None:
    url, textfile = node_exporter
    for name in ("broken", "perf"):
        subprocess.run(
            [sys.executable, str(EXPORT), "--from-report", str(reports[name]), "--output-prom", str(textfile / f"preflight-{name}.prom")],
            check=True,
            timeout=60,
        )
    scraped = _scrape(url)
    assert "node_textfile_scrape_error 0" in scraped
    ours = [line for line in scraped.splitlines() if line.startswith("preflight_")]
    blocking = [line for line in ours if line.startswith("preflight_check_blocking{") and line.endswith(" 1")]
    assert any('check="torch.import"' in line for line in blocking), ours
    assert any(line.startswith("preflight_perf_reference_ratio{") for line in ours)

    # Feed exactly the scraped series to promtool: the shipped rules must fire on our real names and labels.
    series = []
    for line in ours:
        key, _, value = line.rpartition(" ")
        if key.startswith(("preflight_check_blocking{", "preflight_perf_reference")):
            series.append({"series": key, "values": f"{float(value):g}x5"})
    test = {
        "rule_files": [str(RULES / "preflight.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": 'count(ALERTS{alertname="PreflightBlockingFailure"})',
                        "eval_time": "1m",
                        "exp_samples": [{"labels": "{}", "value": 3}],
                    },
                    {
                        "expr": 'count(ALERTS{alertname="PreflightPerfBelowReference"})',
                        "eval_time": "1m",
                        "exp_samples": [{"labels": "{}", "value": 2}],  # bf16 at 40% and the copy at 50%; fp16 and tf32 are above 70%
                    },
                ],
            }
        ],
    }
    rules_test = tmp_path / "scraped.test.yml"
    rules_test.write_text(json.dumps(test))  # JSON is YAML
    done = subprocess.run([str(PROMTOOL), "test", "rules", str(rules_test)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_shipped_rule_tests_pass() -> None:
    done = subprocess.run(
        [str(PROMTOOL), "test", "rules", "preflight.rules.test.yml"], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"SUCCESS", done.stdout)


@pytest.fixture(scope="module")
def not_judged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.support import report_factory

    where = tmp_path_factory.mktemp("not-judged")
    cut = run_preflight(where / "cut.json", "--level", "quick", "--budget", "0.5")
    interrupted = where / "interrupted.json"
    interrupted.write_text(json.dumps(report_factory.interrupted(node="gpu-03")))
    return {"cut": cut, "interrupted": interrupted}


@pytest.mark.parametrize("case", ["cut", "interrupted"])
def test_a_not_judged_report_exports_its_verdict_never_a_pass(not_judged: dict[str, Path], case: str, tmp_path: Path) -> None:
    report = report_module.read(not_judged[case])
    text = _textfile(not_judged, case, tmp_path).read_text()
    samples = _samples(text)
    where = {"device": report.resolved_device or "none", "level": report.options.level, "node": report.host.node_id}
    assert samples[_key("preflight_report_verdict", **where, verdict="not_judged")] == 1
    assert samples[_key("preflight_report_verdict", **where, verdict="healthy")] == 0
    assert samples[_key("preflight_report_blocking", **where)] == 0
    assert samples[_key("preflight_report_unfinished_checks", **where)] == len(report.unfinished) > 0
    if PROMTOOL:
        done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_gate_textfile_carries_the_drain_breaker(reports: dict[str, Path]) -> None:
    report = report_module.read(reports["broken"])
    where = {"device": "none", "level": "standard", "node": report.host.node_id}
    text = prometheus.render(report, prometheus.DrainBreaker(open=True, drained=3, limit=2))
    samples = _samples(text)
    assert samples[_key("preflight_gate_drain_breaker_open", **where)] == 1
    assert samples[_key("preflight_gate_drained_nodes", **where)] == 3
    assert samples[_key("preflight_gate_drain_limit_nodes", **where)] == 2
    assert not [name for name, _ in _samples(prometheus.render(report)) if name.startswith("preflight_gate_")]  # only a gate has one
    if PROMTOOL:
        done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
