"""sysinfo.json: the hardware and runtime a sweep ran on, detected by the probe worker."""

from __future__ import annotations

from typing import Any

from preflight_action import redact, schemas
from preflight_action.sweep.planner import iso, utc_now
from preflight_action.sweep.records import Hardware

PROBE_TIMEOUT_S = 180.0


def _document(method: str, python: str, facts: dict[str, Any], backend: str | None, errors: list[str]) -> dict[str, Any]:
    accelerator = backend not in (None, "cpu")
    device_name = facts.get("device_name") if accelerator else facts.get("cpu_model")
    memory = facts.get("total_memory_mb") if accelerator else facts.get("ram_total_mb")
    document = {
        "schema_version": 1,
        "collected_utc": iso(utc_now()),
        "method": method,
        "python": python,
        "backend": backend,
        "device_name": device_name,
        "memory_mb": int(memory) if isinstance(memory, (int, float)) else None,
        "os": facts.get("os"),
        "facts": facts,
        "errors": errors,
    }
    scrubbed: dict[str, Any] = redact.scrub(document, redact.secret_values())
    schemas.validate(scrubbed, "sysinfo", "sysinfo")
    return scrubbed


def collect_host(python: str) -> dict[str, Any]:
    """Host facts only (no torch): used with ``--no-probe``; the backend is taken to be the CPU."""
    from preflight_probe.capabilities import Facts
    from preflight_probe.capabilities import collect_host as probe_host_facts

    facts = Facts()
    probe_host_facts(facts)
    return _document("host", python, facts.as_dict(), "cpu", [])


def collect_probe(python: str, device: str = "auto") -> dict[str, Any]:
    """``torch.import``, ``device.resolve`` and ``capabilities.detect`` in a probe worker under ``python``."""
    from preflight_action.process.probe_client import ProbeDirectory, ProbeWorker, WorkerFailure

    probe_dir = ProbeDirectory()
    errors: list[str] = []
    backend: str | None = None
    facts: dict[str, Any] = {}
    try:
        worker = ProbeWorker(python, probe_dir)
    except OSError as exc:  # not executable, say: the private probe copy is removed all the same
        probe_dir.cleanup()
        return _document("probe", python, facts, backend, [f"probe worker: cannot start {python} ({exc.strerror or exc})"])
    try:
        requested = device if device in ("auto", "cpu", "cuda", "rocm", "xpu", "mps") else device.split(":", maxsplit=1)[0]
        for check_id, params in (("torch.import", {}), ("device.resolve", {"requested": requested})):
            result = worker.result(check_id, PROBE_TIMEOUT_S, worker.request(check_id, params))
            if result["status"] != "pass":
                errors.append(f"{check_id}: {result.get('error') or result.get('skip_reason')}")
                break
            if check_id == "device.resolve":
                backend = result["details"]["backend"]
                facts["resolved_device"] = result["details"]["resolved_device"]
        result = worker.result(
            "capabilities.detect", PROBE_TIMEOUT_S, worker.request("capabilities.detect", {"device": facts.get("resolved_device")})
        )
        if result["status"] == "pass":
            facts.update(result["details"])
        else:
            errors.append(f"capabilities.detect: {result.get('error')}")
    except WorkerFailure as failure:
        errors.append(f"probe worker: {failure}")
    finally:
        worker.close()
        probe_dir.cleanup()
    return _document("probe", python, facts, backend, errors)


def hardware(document: dict[str, Any]) -> Hardware:
    return Hardware(backend=document["backend"], device_name=document["device_name"], memory_mb=document["memory_mb"], os=document["os"])


def describe(document: dict[str, Any]) -> str:
    memory = f"{document['memory_mb']} MB" if document["memory_mb"] is not None else "memory unknown"
    return f"{document['backend'] or 'no backend'} · {document['device_name'] or 'unknown device'} · {memory} · {document['os'] or 'unknown OS'} ({document['method']})"
