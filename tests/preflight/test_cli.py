"""End-to-end behaviour of scripts/runtime_preflight.py on this CPU machine, with real torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from preflight_action import schemas
from tests.conftest import ROOT

SHIPPED_POLICY = (ROOT / "policy" / "severity.yaml").read_text(encoding="utf-8")
CORE = ("torch.import", "device.resolve", "capabilities.detect", "tensor.smoke", "dtype.support", "deps.consistency")


def test_healthy_cpu_run_passes_and_writes_a_valid_report(run_preflight):
    run = run_preflight("--device", "cpu", "--check-torchvision", "--strict")
    assert run.exit_code == 0, run.stderr
    schemas.validate(run.report, "preflight_report", str(run.path))
    for check_id in (*CORE, "torchvision.import"):
        assert run.check(check_id)["status"] == "pass", run.check(check_id)
    compile_check = run.check("compile.smoke")
    assert compile_check["status"] == "skip"
    assert "--check-compile" in compile_check["skip_reason"]
    assert run.report["status"] == "pass"
    statuses = [c["status"] for c in run.report["checks"]]
    assert run.report["fail_count"] == 0
    assert (run.report["pass_count"], run.report["skip_count"]) == (statuses.count("pass"), statuses.count("skip"))
    assert all(c["skip_reason"] for c in run.report["checks"] if c["status"] == "skip")
    assert run.report["resolved_device"] == "cpu"
    assert run.report["backend"] == "cpu"
    assert run.report["interpreter"] == {
        "path": sys.executable,
        "version": ".".join(map(str, sys.version_info[:3])),
        "source": "sys.executable",
    }
    assert run.report["triage"]["top_failed_checks"] == []
    assert run.check("capabilities.detect")["details"]["sources"]["torch_cuda_build"].startswith("torch.version.cuda")
    assert run.stdout.startswith("HEALTHY  ")  # the verdict first
    assert "tensor.smoke" in run.stdout


def test_auto_resolves_to_cpu_and_records_why_cuda_was_not_chosen(run_preflight):
    run = run_preflight("--device", "auto")
    details = run.check("device.resolve")["details"]
    assert details["resolved_device"] == "cpu"
    assert details["backends"]["cuda"]["available"] is False
    assert details["backends"]["cuda"]["reason"]


def test_missing_requested_device_is_a_critical_failure(run_preflight):
    run = run_preflight("--device", "cuda", "--strict")
    assert run.exit_code == 1
    resolve = run.check("device.resolve")
    assert resolve["status"] == "fail"
    assert "--device cuda was requested but is not available" in resolve["error"]
    assert resolve["severity"] == {"score": 98, "band": "critical"}
    assert run.check("tensor.smoke")["skip_reason"] == "needs device.resolve, which failed"
    top = run.report["triage"]["top_failed_checks"][0]
    assert (top["check_id"], top["band"], top["backend"], top["blocking"]) == ("device.resolve", "critical", "cuda", True)


def test_without_strict_a_failure_still_exits_zero(run_preflight):
    run = run_preflight("--device", "cuda")
    assert run.exit_code == 0
    assert run.report["status"] == "fail"


def test_segfaulting_check_fails_alone_and_the_rest_still_run(run_preflight, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "tensor.smoke=segfault")
    run = run_preflight("--device", "cpu", "--strict")
    smoke = run.check("tensor.smoke")
    assert smoke["status"] == "fail"
    expected = "access violation" if sys.platform == "win32" else "SIGSEGV"
    assert expected in smoke["error"]
    assert "injecting segfault into tensor.smoke" in smoke["error"]  # the stderr tail
    assert smoke["severity"]["band"] == "critical"
    assert run.check("dtype.support")["status"] == "pass"  # a fresh worker took over
    assert run.check("deps.consistency")["status"] == "pass"
    assert run.exit_code == 1


def test_hanging_check_is_killed_at_the_timeout(run_preflight, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "dtype.support=hang")
    run = run_preflight("--device", "cpu", "--check-timeout", "20")
    hung = run.check("dtype.support")
    assert hung["status"] == "fail"
    assert "timed out after 20 s" in hung["error"]
    assert 20_000 <= hung["duration_ms"] < 30_000
    assert run.check("deps.consistency")["status"] == "pass"
    assert run.report["duration_ms"] < 60_000


def test_interpreter_without_torch(run_preflight, bare_python):
    run = run_preflight("--python", str(bare_python), "--device", "auto", "--check-torchvision", "--strict")
    assert run.exit_code == 1
    torch_import = run.check("torch.import")
    assert torch_import["status"] == "fail"
    assert "No module named 'torch'" in torch_import["error"]
    assert torch_import["severity"] == {"score": 100, "band": "critical"}
    for check_id in ("device.resolve", "capabilities.detect"):
        assert run.check(check_id)["skip_reason"] == "needs torch.import, which failed"
    assert run.check("tensor.smoke")["skip_reason"] == "needs device.resolve, which was skipped"
    deps = run.check("deps.consistency")
    assert deps["status"] == "skip"
    assert "torch is not installed" in deps["skip_reason"]
    assert run.report["triage"]["blocking_checks"] == ["torch.import"]  # one cause, one failure
    assert run.report["interpreter"]["path"] == str(bare_python)
    assert run.report["interpreter"]["version"] == ".".join(map(str, sys.version_info[:3]))  # from the worker's hello
    assert run.report["interpreter"]["source"] == "--python"
    schemas.validate(run.report, "preflight_report", "bare run")


def test_planted_secrets_never_reach_any_output(run_preflight, monkeypatch, tmp_path):
    secret = "planted-S3CRET-value-9f8e7d"
    monkeypatch.setenv("MY_SERVICE_API_TOKEN", secret)
    monkeypatch.setenv("TORCH_HUB_PASSWORD", "another-planted-pass-123")
    monkeypatch.setenv("PYTHONPATH", f"/opt/{secret}/lib")
    monkeypatch.setenv("TORCH_EXTRA_INDEX", "https://alice:url-embedded-pw@example.invalid/simple")
    monkeypatch.setenv("PREFLIGHT_INJECT_FAULT", "tensor.smoke=segfault")
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    run = run_preflight("--device", "cpu", "--output-md", str(md), "--output-html", str(html))
    outputs = [run.path.read_text(), md.read_text(), html.read_text(), run.stdout, run.stderr]
    for text in outputs:
        for planted in (secret, "another-planted-pass-123", "url-embedded-pw"):
            assert planted not in text
    env = run.report["env_fingerprint"]["payload"]["environment"]
    assert env["TORCH_HUB_PASSWORD"] == "<redacted>"
    assert env["PYTHONPATH"] == "/opt/<redacted>/lib"
    assert env["TORCH_EXTRA_INDEX"] == "https://<redacted>@example.invalid/simple"
    assert "MY_SERVICE_API_TOKEN" not in env  # not a torch-relevant variable: not recorded at all


def test_secrets_only_the_diagnosed_interpreters_environment_holds_are_scrubbed_too(run_preflight, tmp_path):
    """A wrapper (or an activate hook) exports a secret this process never had; the import failure quotes it."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch._C':\n"
        "            raise RuntimeError('licence server refused key ' + os.environ['WANDB_API_KEY'] + ' pw ' + os.environ['LIC_PASSWORD'])\n"
        "sys.meta_path.insert(0, Refuse())\n",
        encoding="utf-8",
    )
    wrapper = tmp_path / "python-with-secrets"
    wrapper.write_text(
        "#!/bin/sh\n"
        "export WANDB_API_KEY=wb0123456789abcdefSECRET LIC_PASSWORD=Zq9sEcretPw77\n"
        f'PYTHONPATH={hooks} exec {sys.executable} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    md, html, junit = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.xml"
    run = run_preflight(
        "--python", str(wrapper), "--level", "quick", "--output-md", str(md), "--output-html", str(html), "--output-junit", str(junit)
    )
    assert run.check("torch.import")["status"] == "fail"
    assert "licence server refused key <redacted> pw <redacted>" in run.check("torch.import")["error"]
    for text in (run.path.read_text(), md.read_text(), html.read_text(), junit.read_text(), run.stdout, run.stderr):
        assert "wb0123456789abcdefSECRET" not in text
        assert "Zq9sEcretPw77" not in text


def test_fingerprint_is_stable_across_runs_and_excludes_volatile_facts(run_preflight):
    first = run_preflight("--device", "cpu").report["env_fingerprint"]
    second = run_preflight("--device", "cpu").report["env_fingerprint"]
    assert first["sha256"] == second["sha256"]
    assert "free_memory_mb" not in first["payload"]["capabilities"]
    assert "ram_available_mb" not in first["payload"]["capabilities"]


def test_missing_interpreter_is_a_usage_error(run_preflight):
    run = run_preflight("--python", "/nonexistent/python3")
    assert run.exit_code == 2
    assert run.stderr.strip() == "runtime-preflight: error: --python /nonexistent/python3: no such interpreter"
    assert run.report == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("bands: [\n  - oops: 1\n  bad", "malformed YAML at line"),
        (SHIPPED_POLICY.replace("strict_threshold: medium", "strict_threshold: severe"), "/strict_threshold: 'severe' is not one of"),
        (SHIPPED_POLICY.replace("torch.import: {score: 100}", "torch.import: {scor: 100}"), "'scor' -> did you mean 'score'?"),
    ],
)
def test_bad_policy_file_exits_2_naming_file_and_field_and_keeps_old_report(run_preflight, tmp_path, content, expected):
    policy = tmp_path / "policy.yaml"
    policy.write_text(content)
    report_path = tmp_path / "report.json"
    report_path.write_text('{"previous": "report"}')
    run = run_preflight("--device", "cpu", "--policy", str(policy))
    assert run.exit_code == 2
    assert str(policy) in run.stderr
    assert expected in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert json.loads(report_path.read_text()) == {"previous": "report"}


def test_markdown_and_html_renderings(run_preflight, tmp_path):
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    run = run_preflight("--device", "cuda", "--output-md", str(md), "--output-html", str(html))
    text = md.read_text()
    assert "## Runtime preflight: BLOCKING" in text
    assert "| critical | 98 | `device.resolve` | cuda |" in text
    page = html.read_text()
    assert '<tr class="band-critical"><td>critical</td>' in page
    assert '<p class="verdict blocking" role="status"><strong>BLOCKING</strong>' in page
    assert run.report["status"] == "fail"


def test_script_entry_point_runs_from_a_checkout(tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--device", "cpu", "--quiet", "--output-path", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out.read_text())["status"] == "pass"


def test_help_documents_every_flag_and_exit_codes():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "runtime_preflight.py"), "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for flag in ("--device", "--check-torchvision", "--check-compile", "--strict", "--output-path", "--python", "--check-timeout"):
        assert flag in done.stdout
    assert "exit codes:" in done.stdout


@pytest.mark.integration
def test_compile_smoke_on_cpu(run_preflight):
    run = run_preflight("--device", "cpu", "--check-compile", "--check-timeout", "300")
    check = run.check("compile.smoke")
    assert check["status"] == "pass", check["error"]
    assert check["details"]["rel_error_vs_eager"] < 1e-3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_artifacts_are_readable_by_others_as_the_umask_allows(run_preflight, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        md = tmp_path / "r.md"
        run = run_preflight("--device", "cpu", "--output-md", str(md))
    finally:
        os.umask(old)
    assert run.path.stat().st_mode & 0o777 == 0o644
    assert md.stat().st_mode & 0o777 == 0o644


def test_report_in_a_directory_that_does_not_exist_yet(tmp_path, capsys):
    from preflight_action import main as cli_preflight

    out = tmp_path / "deep" / "er" / "report.json"
    assert cli_preflight.main(["--device", "cpu", "--quiet", "--output-path", str(out)]) == 0
    assert out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
