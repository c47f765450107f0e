"""The corpus of broken runtimes: each case's category, its expected verdict, and the test that builds and runs it.

tests/README.md's corpus table is this list (``test_corpus_table_in_the_readme_is_the_registry`` keeps the
two equal). ``verify`` asserts what every case must show: the check, its status and band, the cause its
diagnosis names, and a remedy that rests on evidence (no reinstall unless the evidence is a damaged install).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from preflight_action.vocab import CAUSES

REINSTALL_CAUSES = ("install_damaged", "install_unverifiable", "cpu_instructions")


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    check: str | None  # None: a clean pass (no failed check)
    status: str
    band: str | None
    cause: str | None
    test: str

    def verdict(self) -> str:
        if self.check is None:
            return "clean pass: no failed check"
        return f"`{self.check}` {self.status} ({self.band}), cause `{self.cause}`"


T = "tests/preflight/test_corpus.py"
B = "tests/preflight/test_broken_runtimes.py"
CASES: tuple[Case, ...] = (
    # install: what pip wrote, checked against its RECORD
    Case("install", "a torch shared library cut to a third (dies with SIGBUS)", "torch.import", "fail", "critical", "install_damaged", T),
    Case("install", "a torch module file deleted", "torch.import", "fail", "critical", "install_damaged", T),
    Case("install", "a dependency's file deleted (typing_extensions.py)", "torch.import", "fail", "critical", "install_damaged", T),
    Case("install", "a runtime dependency not installed (sympy)", "install.record", "fail", "high", "dependency_missing", T),
    Case("install", "torch's RECORD missing", "install.record", "fail", "high", "install_unverifiable", T),
    Case("install", "torchvision's compiled extension cut short", "torchvision.import", "fail", "medium", "install_damaged", T),
    Case("install", "a file changed in place, same size (sha256)", "install.record", "fail", "high", "install_damaged", T),
    Case("install", "the same torch installed twice", "deps.consistency", "fail", "medium", "install_conflict", B),
    Case("install", "a leftover torch metadata folder beside the live one", "deps.consistency", "fail", "medium", "install_conflict", T),
    Case("install", "a second, older torch ahead on the path", "deps.consistency", "fail", "medium", "install_conflict", B),
    Case("install", "torchvision built for another torch and CUDA", "deps.consistency", "fail", "medium", "install_conflict", B),
    # loader: which file the dynamic loader took, and why
    Case("loader", "LD_PRELOAD of the system's OpenMP (loads)", "loader.libraries", "fail", "medium", "library_elsewhere", T),
    Case("loader", "LD_PRELOAD of an older torch's libc10 (import fails)", "torch.import", "fail", "critical", "library_elsewhere", T),
    Case(
        "loader", "a plugin with an RPATH into a conda prefix, loaded first", "loader.libraries", "fail", "medium", "library_elsewhere", T
    ),
    Case("loader", "an environment module's LD_LIBRARY_PATH, used first", "loader.libraries", "fail", "medium", "library_elsewhere", T),
    Case("loader", "an old libstdc++ first on LD_LIBRARY_PATH (import fails)", "torch.import", "fail", "critical", "library_elsewhere", T),
    # limits: getrlimit of the diagnosed process
    Case("limits", "open files limit 64", "host.limits", "fail", "high", "resource_limit", T),
    Case("limits", "address space limit 3 GB (import aborts)", "torch.import", "fail", "critical", "resource_limit", T),
    Case("limits", "stack limit 100 KiB", "host.limits", "fail", "high", "resource_limit", T),
    Case("limits", "file size limit 16 MiB", "host.limits", "fail", "high", "resource_limit", T),
    # container: cgroup limits read from the process's own cgroup, /dev/shm, namespaces
    Case("container", "cgroup CPU quota of one CPU on a bigger host", "host.threads", "fail", "medium", "thread_oversubscription", T),
    Case("container", "cgroup CPU quota of half a CPU", "host.container", "fail", "high", "container_limit", T),
    Case("container", "CPU quota seen from inside a cgroup namespace", "host.threads", "fail", "medium", "thread_oversubscription", T),
    Case("container", "cgroup memory limit of 1200 MB (standard level)", "memory.headroom", "fail", "medium", "container_limit", T),
    Case("container", "cgroup pids limit of 64", "host.container", "fail", "high", "container_limit", T),
    Case("container", "/dev/shm of 64 MiB (a private mount namespace)", "host.container", "fail", "high", "container_limit", T),
    Case("container", "an unconstrained container (fresh namespaces)", None, "pass", None, None, T),
    Case("container", "this box's healthy dev venv", None, "pass", None, None, T),
    # interpreter: its environment, its start-up hooks, what it really is
    Case("interpreter", "PYTHONHOME pointing at no Python", "torch.import", "fail", "critical", "interpreter_environment", T),
    Case(
        "interpreter",
        "a project's json.py shadowing the standard library",
        "torch.import",
        "fail",
        "critical",
        "interpreter_environment",
        T,
    ),
    Case("interpreter", "an import hook refusing torch's extension", "torch.import", "fail", "critical", "code_outside_torch", T),
    Case(
        "interpreter",
        "a start-up hook that ends the process during torch's import",
        "torch.import",
        "fail",
        "critical",
        "not_identified",
        T,
    ),
    Case("interpreter", "a stack limit too small to start Python (64 KiB)", "torch.import", "fail", "critical", "not_identified", T),
    Case("interpreter", "a --python that is a shell script", "torch.import", "fail", "critical", "interpreter_environment", B),
    Case("interpreter", "a sitecustomize that patches matmul", "tensor.smoke", "fail", "critical", "code_outside_torch", B),
    Case("interpreter", "a project's torch/ package on PYTHONPATH", "torch.import", "fail", "critical", "install_conflict", B),
    Case("interpreter", "a C++ compiler without its headers (--check-compile)", "compile.smoke", "fail", "high", "toolchain", B),
    # text: any bytes, valid JSON, Markdown and HTML
    Case(
        "text",
        "hostile environment values, a non-UTF-8 path, escapes in package metadata",
        "deps.consistency",
        "fail",
        "medium",
        "install_conflict",
        T,
    ),
    Case(
        "text", "torch reached through a folder whose name is not UTF-8", "torch.import", "fail", "critical", "interpreter_environment", T
    ),
    Case("text", "megabytes of binary stderr, then SIGSEGV", "torch.import", "fail", "critical", "not_identified", T),
    Case("text", "a hostname with escapes, markup and a pipe", None, "pass", None, None, T),
)


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def readme_rows() -> list[str]:
    """The corpus table's rows as tests/README.md spells them."""
    return [f"| {c.category} | {c.name} | {c.verdict()} | `{c.test.rsplit('/', 1)[-1]}` |" for c in CASES]


def evidence_based(check: dict[str, Any]) -> None:
    """A failed check's remedy rests on evidence: its diagnosis names a known cause and what it rests on, and a
    reinstall is proposed only when the cause is the install itself."""
    remedy = check.get("remedy") or ""
    diagnosis = check["details"].get("diagnosis")
    assert isinstance(diagnosis, dict), f"{check['id']} failed without a diagnosis: {check.get('error')}"
    assert diagnosis["cause"] in CAUSES
    assert diagnosis["evidence"], f"{check['id']}: a cause with no evidence"
    if "reinstall" in remedy.lower():
        assert diagnosis["cause"] in REINSTALL_CAUSES, f"{check['id']}: a reinstall for {diagnosis['cause']}: {remedy}"
    if diagnosis["cause"] == "not_identified":
        assert diagnosis["next_step"]
        assert remedy.startswith("cause not identified: "), remedy


def verify(name: str, report: dict[str, Any]) -> dict[str, Any] | None:
    """Assert the case's verdict on a report; the failed check's record (None for a clean pass)."""
    expected = case(name)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    for check in failed:  # every finding of every case, not only the one the case is about
        evidence_based(check)
    if expected.check is None:
        assert not failed, [(c["id"], c["error"]) for c in failed]
        return None
    check = next(c for c in report["checks"] if c["id"] == expected.check)
    assert check["status"] == expected.status, check
    assert (check["severity"] or {}).get("band") == expected.band, check
    assert check["details"]["diagnosis"]["cause"] == expected.cause, check["details"]["diagnosis"]
    entry = next(t for t in report["triage"]["top_failed_checks"] if t["check_id"] == expected.check)
    assert entry["remedy"] == check["remedy"]
    return check
