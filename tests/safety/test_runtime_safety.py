"""The runtime safety API: inspection, caching, records, profiles, VRAM gate, backends, diagnostics."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from preflight_action import runtime_safety as rs
from preflight_action import schemas
from preflight_action.errors import InputError, SchemaError
from preflight_action.safety.capabilities import RuntimeCapabilities
from preflight_probe import capabilities

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ["a100-linux", "apple-m2-mps", "cpu-only", "h100-linux", "mi300-rocm", "rtx4090-windows-wddm", "t4-linux"]


@pytest.fixture
def restore_backends():
    """Put the torch backend flags back as they were (configure_torch_backends changes this process)."""
    saved = {
        "matmul": torch.backends.cuda.matmul.fp32_precision,
        "conv": torch.backends.cudnn.conv.fp32_precision,
        "deterministic": torch.backends.cudnn.deterministic,
        "benchmark": torch.backends.cudnn.benchmark,
    }
    yield
    torch.backends.cuda.matmul.fp32_precision = saved["matmul"]
    torch.backends.cudnn.conv.fp32_precision = saved["conv"]
    torch.backends.cudnn.deterministic = saved["deterministic"]
    torch.backends.cudnn.benchmark = saved["benchmark"]


def test_inspection_describes_this_cpu_machine_with_real_facts():
    caps = rs.inspect_runtime_capabilities()
    assert caps.simulated is False
    assert caps.torch_available
    assert caps.torch_version == torch.__version__
    assert caps.cuda_available == torch.cuda.is_available()
    assert caps.os in ("Linux", "Windows", "Darwin")
    assert caps.ram_total_mb
    assert caps.ram_available_mb
    assert caps.ram_available_mb <= caps.ram_total_mb
    assert caps.cpu_threads
    assert caps.cpu_cores
    assert caps.cpu_cores <= caps.cpu_threads
    expected = "/proc/meminfo" if caps.os == "Linux" else "psutil.virtual_memory()"
    assert dict(caps.sources)["ram_total_mb"] == expected
    schemas.validate(caps.to_dict(), "runtime_capabilities", "inspect_runtime_capabilities()")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only description; this machine has CUDA")
def test_without_accelerator_the_record_describes_the_cpu():
    caps = rs.inspect_runtime_capabilities()
    assert caps.backend == "cpu"
    assert caps.device_name is None
    assert caps.bf16_supported is None
    assert caps.summary().startswith(f"OS: {caps.os}")
    assert "CUDA: No | GPU: none" in caps.summary()


def test_psutil_fills_what_the_stdlib_could_not_read():
    import psutil

    from preflight_action.safety import inspect as capability_inspect

    facts = {"ram_total_mb": None, "ram_available_mb": None, "cpu_cores": None, "sources": {}}
    capability_inspect._enrich_with_psutil(facts)
    assert facts["ram_total_mb"] == psutil.virtual_memory().total // (1024 * 1024)
    assert facts["cpu_cores"] == psutil.cpu_count(logical=False)
    assert facts["sources"]["ram_available_mb"] == "psutil.virtual_memory()"
    complete = {"ram_total_mb": 1, "ram_available_mb": 1, "cpu_cores": 1, "sources": {}}
    capability_inspect._enrich_with_psutil(complete)
    assert complete["sources"] == {}  # nothing missing, nothing replaced


def test_cached_lookup_returns_the_same_record_until_refreshed():
    first = rs.get_cached_capabilities(force_refresh=True)
    assert rs.get_cached_capabilities() is first
    start = time.perf_counter()
    for _ in range(1000):
        rs.get_cached_capabilities()
    assert (time.perf_counter() - start) / 1000 < 0.001
    refreshed = rs.get_cached_capabilities(force_refresh=True)
    assert refreshed is not first
    assert refreshed.os == first.os


def test_record_is_frozen_and_round_trips_through_to_dict():
    caps = rs.load_simulated_profile("h100-linux")
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.os = "Windows"  # type: ignore[misc]
    data = caps.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert RuntimeCapabilities.from_dict(data) == caps
    assert data["compute_capability"] == [9, 0]


def test_summary_reads_like_the_seed_for_an_h100():
    line = rs.load_simulated_profile("h100-linux").summary()
    assert "OS: Linux | CUDA: Yes (runtime=12.4, driver=12.4) | GPU: NVIDIA H100 80GB HBM3 (compute=(9, 0)) | " in line
    assert line.startswith("[SIMULATED: simulated profile h100-linux] ")
    assert "VRAM: 81008MB total, 80494MB free" in line


def test_summary_names_wsl2_wddm_rocm_and_mps():
    wsl = dataclasses.replace(rs.load_simulated_profile("a100-linux"), is_wsl2=True)
    assert "OS: Linux (WSL2)" in wsl.summary()
    assert "OS: Windows (WDDM)" in rs.load_simulated_profile("rtx4090-windows-wddm").summary()
    assert "ROCm: Yes (hip=6.1" in rs.load_simulated_profile("mi300-rocm").summary()
    mps = rs.load_simulated_profile("apple-m2-mps").summary()
    assert "MPS: Yes" in mps
    assert "Unified memory (MPS limit): 16384MB total" in mps


def test_from_probe_facts_reads_the_probe_collector_output():
    facts = capabilities.collect(torch, None)
    caps = RuntimeCapabilities.from_probe_facts(facts, backend="cpu")
    assert caps.os == facts["os"]
    assert caps.python_version == facts["python_version"]
    assert caps.cpu_isa == tuple(facts["cpu_isa"] or ())
    assert caps.cuda_runtime_version == torch.version.cuda
    assert caps.backend == "cpu"
    assert not caps.simulated


def test_from_probe_facts_maps_gpu_facts_and_prefers_native_bf16():
    facts = {
        "os": "Windows",
        "torch_available": True,
        "cuda_available": True,
        "torch_cuda_build": "12.1",
        "device_name": "Tesla T4",
        "compute_capability": "7.5",
        "bf16_supported": True,  # torch >= 2.3 counts emulation
        "bf16_native": False,
        "windows_driver_model": "TCC",
        "total_memory_mb": 15102,
        "free_memory_mb": 14000,
    }
    caps = RuntimeCapabilities.from_probe_facts(facts)
    assert caps.backend == "cuda"
    assert caps.compute_capability == (7, 5)
    assert caps.bf16_supported is False
    assert caps.windows_wddm is False
    rocm = RuntimeCapabilities.from_probe_facts({"os": "Linux", "cuda_available": True, "torch_hip_build": "6.1"})
    assert rocm.backend == "rocm"
    assert rocm.cuda_runtime_version is None
    assert rocm.hip_version == "6.1"


@pytest.mark.parametrize("name", PROFILES)
def test_every_shipped_profile_loads_marked_simulated(name):
    caps = rs.load_simulated_profile(name)
    assert caps.simulated is True
    assert name in caps.source
    schemas.validate(caps.to_dict(), "runtime_capabilities", name)


def test_profiles_are_listed_and_loadable_by_path(tmp_path):
    assert rs.list_simulated_profiles() == PROFILES
    source = ROOT / "policy" / "simulated" / "t4-linux.yaml"
    copy = tmp_path / "my-t4.yaml"
    copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    caps = rs.load_simulated_profile(str(copy))
    assert caps.simulated
    assert str(copy) in caps.source
    assert caps.device_name == "Tesla T4"


def test_bad_profiles_name_the_file_and_the_field(tmp_path):
    with pytest.raises(InputError, match="known: a100-linux"):
        rs.load_simulated_profile("no-such-profile")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schema_version: 1\nname: bad\ndescription: x\ncapabilities: {os: Linux, backend: tpu, torch_available: true, vram: 3}\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as info:
        rs.load_simulated_profile(str(bad))
    assert str(bad) in str(info.value)
    assert any(p.startswith("/capabilities/backend:") for p in info.value.problems)
    assert any("vram" in p for p in info.value.problems)


def test_vram_check_messages_follow_the_seed():
    t4 = rs.load_simulated_profile("t4-linux")  # 14986MB free
    ok, message = rs.check_vram_sufficient(12000, safety_margin_mb=4000, caps=t4)
    assert not ok
    assert message.startswith("Insufficient VRAM: need 16000MB, have 14986MB available")
    assert "SIMULATED" in message
    ok, message = rs.check_vram_sufficient(8000, safety_margin_mb=2048, caps=t4)
    assert ok
    assert message.startswith("Sufficient VRAM: need 10048MB, have 14986MB available")


def test_vram_check_uses_the_policy_margin_and_host_ram_on_cpu_and_mps():
    cpu = rs.load_simulated_profile("cpu-only")  # 14410MB RAM available
    ok, message = rs.check_vram_sufficient(13000, caps=cpu)  # + 1024 policy margin = 14024
    assert ok
    assert message.startswith("Sufficient RAM: need 14024MB, have 14410MB available")
    ok, _ = rs.check_vram_sufficient(13500, caps=cpu)
    assert not ok
    ok, message = rs.check_vram_sufficient(
        rs.estimate_model_memory_mb("flux-schnell", "float16"), caps=rs.load_simulated_profile("apple-m2-mps")
    )
    assert not ok
    assert "unified memory" in message


def test_vram_check_without_caps_reads_free_memory_now():
    stale = rs.get_cached_capabilities()
    ok, message = rs.check_vram_sufficient(1)
    fresh = rs.get_cached_capabilities()
    assert fresh is not stale  # re-inspected for the check, cache refreshed
    assert ok
    assert f"have {fresh.available_memory_mb}MB available" in message


def test_vram_check_refuses_to_guess_when_free_memory_is_unknown():
    blind = dataclasses.replace(rs.load_simulated_profile("h100-linux"), free_memory_mb=None)
    ok, message = rs.check_vram_sufficient(100, caps=blind)
    assert not ok
    assert message.startswith("Cannot verify VRAM")


def test_backends_get_tf32_on_ampere_and_newer(restore_backends):
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    changed = rs.configure_torch_backends(caps=rs.load_simulated_profile("h100-linux"))
    entry = changed["torch.backends.cuda.matmul.fp32_precision"]
    assert (entry["from"], entry["to"], entry["simulated"]) == ("ieee", "tf32", True)
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert rs.configure_torch_backends(caps=rs.load_simulated_profile("h100-linux")) == {}  # idempotent


def test_backends_keep_full_fp32_below_ampere_and_leave_cpu_alone(restore_backends):
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    changed = rs.configure_torch_backends(caps=rs.load_simulated_profile("t4-linux"))
    assert changed["torch.backends.cuda.matmul.fp32_precision"]["to"] == "ieee"
    assert "(7, 5) < (8, 0)" in changed["torch.backends.cuda.matmul.fp32_precision"]["why"]
    assert rs.configure_torch_backends(caps=rs.load_simulated_profile("cpu-only")) == {}
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"


def test_deterministic_cudnn_only_on_request(restore_backends):
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = True
    cpu = rs.load_simulated_profile("cpu-only")
    assert rs.configure_torch_backends(caps=cpu) == {}
    changed = rs.configure_torch_backends(deterministic=True, caps=cpu)
    assert set(changed) == {"torch.backends.cudnn.deterministic", "torch.backends.cudnn.benchmark"}
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False


def test_diagnostics_log_one_schema_valid_json_record(caplog):
    caplog.set_level(logging.INFO, logger="preflight_action.runtime_safety")
    record = rs.log_runtime_diagnostics(caps=rs.load_simulated_profile("mi300-rocm"))
    schemas.validate(record, "runtime_diagnostics", "log_runtime_diagnostics()")
    logged = [r for r in caplog.records if r.getMessage().startswith("runtime diagnostics ")]
    assert len(logged) == 1
    assert json.loads(logged[0].getMessage().removeprefix("runtime diagnostics ")) == record
    assert logged[0].runtime_diagnostics == record  # type: ignore[attr-defined]
    assert record["simulated"] is True
    assert record["dtype"]["dtype"] == "bfloat16"


def test_diagnostics_never_carry_a_secret_value(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue123")
    real = rs.get_cached_capabilities()
    leaky = dataclasses.replace(real, cpu_model="model hf_supersecretvalue123")
    assert "hf_supersecretvalue123" not in json.dumps(rs.runtime_diagnostics(caps=leaky))


@pytest.mark.parametrize(
    ("mode", "why"),
    [("absent", "torch is not installed"), ("broken", "import torch failed: OSError: libtorch_cuda.so: cannot open shared object file")],
)
def test_every_function_answers_without_torch(tmp_path, mode, why):
    """A real interpreter where torch is absent, or installed but broken: capabilities say so, dtype is float32."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise OSError("libtorch_cuda.so: cannot open shared object file")\n', encoding="utf-8")
    hide = 'sys.modules["torch"] = None' if mode == "absent" else f"sys.path.insert(0, {str(fake.parent)!r})"
    code = f"""
import sys, json
{hide}
from preflight_action import runtime_safety as rs
caps = rs.inspect_runtime_capabilities()
choice = rs.select_safe_dtype("bfloat16")
est = rs.estimate_model_memory_mb("sd15", "float16")
ok, msg = rs.check_vram_sufficient(est)
print(json.dumps({{"torch": caps.torch_available, "why": dict(caps.sources)["torch_available"], "dtype": choice.dtype,
                  "rule": choice.rule, "est": int(est), "ok": ok, "msg": msg, "backends": rs.configure_torch_backends(),
                  "diag": rs.runtime_diagnostics()["backends"], "summary": caps.summary()}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["torch"] is False
    assert out["why"] == why
    assert (out["dtype"], out["rule"]) == ("float32", "torch-absent")
    assert out["est"] > 2000
    assert out["msg"].startswith(("Sufficient RAM", "Insufficient RAM"))
    assert out["backends"] == {}
    assert out["diag"] == {}
    assert "torch: not installed" in out["summary"]


@pytest.mark.device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_gpu_is_described_with_device_facts():
    caps = rs.inspect_runtime_capabilities()
    assert caps.backend in ("cuda", "rocm")
    assert caps.device_name
    assert caps.compute_capability is not None
    assert caps.total_memory_mb
    assert caps.free_memory_mb is not None
    free, _total = torch.cuda.mem_get_info(0)
    assert abs(caps.free_memory_mb - free // (1024 * 1024)) < 2048
    if caps.backend == "cuda":
        assert caps.nvidia_driver_version
    assert f"GPU: {caps.device_name} (compute={caps.compute_capability})" in caps.summary()


@pytest.mark.parametrize("name", PROFILES)
def test_probe_facts_round_trip(name):
    caps = rs.load_simulated_profile(name)
    assert RuntimeCapabilities.from_probe_facts(caps.to_probe_facts(), backend=caps.backend) == caps


def test_py_cpuinfo_reads_isa_flags_where_the_stdlib_cannot():
    """Windows has no /proc/cpuinfo: there py-cpuinfo supplies model and ISA flags (filtered to the ones we report)."""
    cpuinfo = pytest.importorskip("cpuinfo", reason="py-cpuinfo is a runtime dependency")
    from preflight_action.safety import inspect as capability_inspect

    facts = {"cpu_isa": None, "cpu_model": None, "sources": {}}
    capability_inspect._enrich_with_cpuinfo(facts)
    flags = set(cpuinfo.get_cpu_info().get("flags") or ())
    assert facts["cpu_isa"] == sorted(f for f in capabilities.ISA_FLAGS if f in flags)
    assert facts["sources"]["cpu_isa"].startswith("py-cpuinfo")
    known = {"cpu_isa": ["avx2"], "sources": {}}
    capability_inspect._enrich_with_cpuinfo(known)
    assert known == {"cpu_isa": ["avx2"], "sources": {}}  # never called when the stdlib answered


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-driver path; this machine has an NVIDIA driver")
def test_nvml_without_a_driver_leaves_the_facts_alone():
    from preflight_action.safety import inspect as capability_inspect

    facts = {"os": "Linux", "sources": {}}
    capability_inspect._enrich_with_nvml(facts, torch, None)
    assert facts == {"os": "Linux", "sources": {}}


def test_demo_shows_a_simulated_platform_and_rejects_unknown_profiles():
    demo = [sys.executable, str(ROOT / "examples" / "runtime_safety_demo.py")]
    done = subprocess.run([*demo, "--profile", "t4-linux"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "[SIMULATED: simulated profile t4-linux] OS: Linux | CUDA: Yes (runtime=12.1, driver=12.2) | GPU: Tesla T4" in done.stdout
    assert "Using dtype: float16" in done.stdout
    assert "Warning: Insufficient VRAM: need 42779MB, have 14986MB available" in done.stdout
    assert "fp32_precision" in done.stdout
    bad = subprocess.run([*demo, "--profile", "tpu-v5"], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0
    assert "simulated profile 'tpu-v5' not found" in bad.stderr
