"""One-line words for a check result, shared by the terminal, Markdown and HTML renderings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from preflight_action.preflight.report import CheckResult, Report, TriageEntry
from preflight_action.vocab import VERDICT_WORDS

# Why a required check never reached its end, as every rendering says it.
UNFINISHED_WORDS = {
    "interrupted": "the run was interrupted",
    "budget_cut": "cut by the budget",
    "budget_exhausted": "the budget ran out before it started",
    "needs_unfinished": "a check it needs did not finish",
    "tool_error": "the tool could not run it (its own policy, probe or an input it was given)",
    "gang_incomplete": "another member kept the gang from finishing",
}


def plural(count: int, noun: str) -> str:
    """``1 report``, ``2 reports``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def verdict_words(report: Report) -> str:
    """The verdict as a headline says it: ``HEALTHY``, ``BLOCKING``, ``NOT JUDGED``."""
    return VERDICT_WORDS[report.verdict].upper()


def budget_words(report: Report) -> str:
    """``level quick, budget 30 s (spent 4.2 s)``: what the run was allowed and what it used."""
    level = f"level {report.options.level}"
    budget = report.budget
    if budget is None or budget.budget_s is None:
        spent = f" (ran {budget.spent_s:.1f} s)" if budget is not None else ""
        return f"{level}, no budget{spent}"
    return f"{level}, budget {budget.budget_s:g} s (spent {budget.spent_s:.1f} s)"


def counts_words(report: Report) -> str:
    """``2 checks failed (1 cause), 7 passed, 13 skipped``: failures counted by cause, unfinished checks apart."""
    counts = []
    failed = report.count("fail")
    if failed:
        causes = len(report.triage.causes)
        counts.append(f"{plural(failed, 'check')} failed" + (f" ({plural(causes, 'cause')})" if causes != failed else ""))
    if report.unfinished:
        counts.append(f"{len(report.unfinished)} not finished")
    counts.append(f"{report.count('pass')} passed")
    skipped = report.count("skip") - len(report.unfinished)
    if skipped:
        counts.append(f"{skipped} skipped")
    return ", ".join(counts)


def unfinished_words(check: CheckResult) -> str:
    """Why a required check did not finish: its own reason where it has figures (a budget cut), else the kind."""
    if check.unfinished == "budget_cut" or not check.unfinished:
        return check.skip_reason or UNFINISHED_WORDS.get(check.unfinished or "", "")
    return f"{UNFINISHED_WORDS[check.unfinished]}: {check.skip_reason}" if check.skip_reason else UNFINISHED_WORDS[check.unfinished]


def _caps(d: dict[str, Any]) -> str:
    distro = " ".join(str(x) for x in (d.get("os_distribution"), d.get("os_version")) if x)
    parts = [
        f"{distro or d.get('os')}{' (WSL2)' if d.get('is_wsl2') else ''}",
        f"Python {d.get('python_version')}",
        f"torch {d.get('torch_version')}",
    ]
    if d.get("torch_cuda_build"):
        parts.append(f"CUDA build {d['torch_cuda_build']}, driver {d.get('cuda_driver_version') or 'n/a'}")
    if d.get("torch_hip_build"):
        parts.append(f"HIP {d['torch_hip_build']}")
    if d.get("device_name"):
        cc = f" sm_{str(d['compute_capability']).replace('.', '')}" if d.get("compute_capability") else ""
        mem = f", {d['total_memory_mb']} MiB" if d.get("total_memory_mb") else ""
        parts.append(f"{d['device_name']}{cc}{mem}")
    elif d.get("cpu_model"):
        parts.append(str(d["cpu_model"]))
    if d.get("libc"):
        parts.append(f"{d['libc']} {d.get('libc_version') or ''}".strip())
    if d.get("cxx_compiler_version") or d.get("cxx_compiler"):
        parts.append(f"C++ {d.get('cxx_compiler_version') or d.get('cxx_compiler')}")
    return ", ".join(parts)


def _dtypes(d: dict[str, Any]) -> str:
    out = []
    for name, info in sorted((d.get("dtypes") or {}).items()):
        if not info.get("supported"):
            out.append(f"{name} unsupported")
        else:
            out.append(f"{name} err {info.get('rel_error', 0):.1e}")
    return ", ".join(out)


def _thirds(figures: list[float]) -> tuple[int, float, float] | None:
    """(seconds per third, first third's median, last third's median), as load.sustained judges them."""
    if len(figures) < 3:
        return None
    third = max(len(figures) // 3, 1)
    return third, sorted(figures[:third])[third // 2], sorted(figures[-third:])[third // 2]


def _load_rule(d: dict[str, Any]) -> str | None:
    figures = [float(s["tflops"]) for s in d.get("samples") or [] if isinstance(s, dict) and "tflops" in s]
    sag, thirds = d.get("sag_fraction"), _thirds(figures)
    if sag is None or thirds is None:
        return None
    third, first, last = thirds
    ratio = f" ({last / first:.0%})" if first > 0 else ""
    return f"passes while the last {third} s keep at least {float(sag):.0%} of the first {third} s: {last:g} vs {first:g} TFLOP/s{ratio}"


def _load(d: dict[str, Any]) -> str:
    return f"{len(d.get('samples') or [])} s at {d.get('tflops_median')} TFLOP/s median (best {d.get('tflops_best')})"


def _memory_rule(d: dict[str, Any]) -> str | None:
    if d.get("errors") is None:
        return None
    tested = int(d.get("bytes_tested") or 0) // (1024 * 1024)
    return f"passes when every byte reads back as written: {d['errors']} wrong in {tested} MiB"


def _transfer_rule(d: dict[str, Any]) -> str | None:
    floor, expected = d.get("floor_gb_per_s"), d.get("expected_gb_per_s")
    if floor is None or not expected:
        return None
    return f"passes when each direction reaches {float(floor) / float(expected):.0%} of {expected} GB/s ({floor} GB/s)"


def _perf(d: dict[str, Any]) -> str:
    """The measured figures against the SKU reference, each with the threshold it passed."""
    return "; ".join(str(line) for line in d.get("comparison") or []) or str(d.get("summary") or "")


def _summary(d: dict[str, Any]) -> str:
    return str(d.get("summary") or "")


# The checks that pass by a measured figure: their words state the rule and the figure.
MEASURING = ("load.sustained", "memory.pattern", "transfer.host", "perf.matmul", "perf.bandwidth")

# Each measuring check's pass rule with its figure, said whether it passed or failed.
_RULES: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "load.sustained": _load_rule,
    "memory.pattern": _memory_rule,
    "transfer.host": _transfer_rule,
}

_PASS_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "load.sustained": _load,
    "memory.pattern": _summary,
    "transfer.host": _summary,
    "perf.matmul": _perf,
    "perf.bandwidth": _perf,
    "torch.import": lambda d: (
        f"torch {d.get('version')} ({'CUDA ' + d['cuda_build'] if d.get('cuda_build') else 'HIP ' + d['hip_build'] if d.get('hip_build') else 'CPU build'})"
    ),
    "device.resolve": lambda d: f"{d.get('resolved_device')} ({d.get('reason')})",
    "capabilities.detect": _caps,
    "tensor.smoke": lambda d: (
        f"matmul err {d.get('matmul_rel_error', 0):.1e}, round trip {'exact' if d.get('roundtrip_exact') else 'CHANGED'}"
    ),
    "dtype.support": _dtypes,
    "torchvision.import": lambda d: f"torchvision {d.get('torchvision')}, nms on {d.get('device')}",
    "compile.smoke": lambda d: f"{d.get('backend')} on {d.get('device')}, err vs eager {d.get('rel_error_vs_eager', 0):.1e}",
    "deps.consistency": lambda d: ", ".join(f"{k} {v}" for k, v in sorted((d.get("installed") or {}).items()) if v),
}


def words(check: CheckResult) -> str:
    """What a person should read about this check, in one line (a measuring check's rule and figure included)."""
    if check.status == "skip":
        return f"skipped: {check.skip_reason}"
    rule = _rule(check)
    if check.status == "fail":
        first = (check.error or "").strip().splitlines()
        said = first[0] if first else "failed"
        return f"{said}; {rule}" if rule else said
    describe = _PASS_WORDS.get(check.id)
    try:
        said = describe(check.details) if describe else str(check.details.get("summary") or "")
    except (TypeError, ValueError, KeyError):
        said = ""
    return "; ".join(part for part in (said, rule) if part)


def _rule(check: CheckResult) -> str | None:
    rule = _RULES.get(check.id)
    try:
        return rule(check.details) if rule else None
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return None


def cause_number(entry: TriageEntry, causes: list[list[TriageEntry]]) -> int:
    """Which cause (1-based, as the triage's what-to-do blocks number them) a triage row belongs to."""
    return next(index for index, group in enumerate(causes, start=1) if entry in group)


def nowrap(text: str) -> str:
    """``2.40 s`` that a table cell never breaks between the figure and its unit."""
    return str(text).replace(" ", "\u00a0")


def template_filters() -> dict[str, Callable[..., Any]]:
    """The words above, as the report templates' filters (Markdown and HTML say what the terminal says)."""
    from preflight_action.preflight import remedy_text

    return {
        "words": words,
        "verdict_words": verdict_words,
        "budget_words": budget_words,
        "counts_words": counts_words,
        "unfinished_words": unfinished_words,
        "cause_number": cause_number,
        "remedy_parts": remedy_text.parts,
        "nowrap": nowrap,
    }
