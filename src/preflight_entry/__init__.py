"""The console scripts' entry points: standard library only, so the tool's own failure is never a verdict.

Each command imports its module inside a guard. A dependency of this tool that is missing, a package that
fails to import (a broken install, a bad image) or an internal error is one line on stderr and exit 3, a
code no reader takes for a verdict: 0 healthy / passed, 1 blocking, 2 not judged or bad usage, 3 the tool
itself could not run, 130 interrupted. ``runtime-preflight``, ``preflight-gate`` and ``preflight-gang`` start the worker (and its
torch import) before anything else loads, and end without the interpreter's teardown.

The interpreter under diagnosis needs only torch; the orchestrator needs this tool's dependencies. So when
``python scripts/runtime_preflight.py`` (or the gate) runs under an interpreter that lacks them, it looks for one
that has them (``$PREFLIGHT_ORCHESTRATOR_PYTHON``, else the checkout's ``.nox/preflight*`` or ``.venv``), says so
in one line, and runs the orchestrator there with ``--python`` this interpreter: the diagnosis is the same.
"""

from __future__ import annotations

import os
import sys

# Nothing else at the top: runtime_preflight starts its worker right after this module loads (contextlib alone is 4 ms).

TOOL_BROKEN = 3  # vocab.EXIT_TOOL_BROKEN (this module cannot import the package it guards)
INTERRUPTED = 130
INSTALL = "python -m pip install preflight-action (in a checkout: python -m pip install -e .)"
# The import names of pyproject's [project] dependencies (tests/core/test_entry.py holds the two lists together).
DEPENDENCIES = (
    "jsonschema",
    "rfc3339_validator",
    "referencing",
    "yaml",
    "jinja2",
    "rich",
    "psutil",
    "github",
    "requests",
    "pynvml",
    "cpuinfo",
    "jsonschema_rs",
    "orjson",
    "junitparser",
    "prometheus_client",
    "packaging",
)
ORCHESTRATOR_ENV = "PREFLIGHT_ORCHESTRATOR_PYTHON"  # an interpreter with the tool's dependencies; "none": never look
_RELAUNCHED_ENV = "PREFLIGHT_ORCHESTRATOR_RELAUNCHED"  # set in the relaunched run: it never relaunches again
_HAS_DEPENDENCIES = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"


def _say(prog: str, message: str) -> None:
    print(f"{prog}: cannot run: {message}", file=sys.stderr, flush=True)


def _missing(prog: str, error: ModuleNotFoundError | str) -> int:
    name = error if isinstance(error, str) else (error.name or str(error)).split(".")[0]
    if name in ("preflight_action", "preflight_probe"):
        _say(prog, f"the {name} package is not importable by {sys.executable}; install the tool: {INSTALL}")
    else:
        _say(
            prog,
            f"this tool's own dependency {name!r} is missing from {sys.executable}; install the tool with its dependencies: "
            f"{INSTALL}, or set {ORCHESTRATOR_ENV} to an interpreter that has them (the interpreter you diagnose needs "
            "only torch: the tool runs from another environment with --python)",
        )
    return TOOL_BROKEN


def missing_dependency() -> str | None:
    """The first of this tool's dependencies this interpreter cannot import (found, not imported), else None."""
    from importlib.util import find_spec

    for name in DEPENDENCIES:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a broken package on the path: its import says why, later
            continue
    return None


def _checkout_root() -> str | None:
    """The checkout this module runs from (it holds pyproject.toml next to src/), else None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return root if os.path.isfile(os.path.join(root, "pyproject.toml")) else None


def orchestrator_candidates() -> list[str]:
    """Interpreters that may hold the tool's dependencies: ``$PREFLIGHT_ORCHESTRATOR_PYTHON``, else the checkout's
    ``.nox/preflight*`` (``nox -s preflight`` made it) and ``.venv`` environments."""
    given = os.environ.get(ORCHESTRATOR_ENV, "").strip()
    if given:
        return [] if given.lower() == "none" else [given]
    root = _checkout_root()
    if root is None:
        return []
    import glob

    python = os.path.join("Scripts", "python.exe") if os.name == "nt" else os.path.join("bin", "python")
    found = sorted(glob.glob(os.path.join(root, ".nox", "preflight*", python)))
    found.append(os.path.join(root, ".venv", python))
    return [path for path in found if os.path.isfile(path) and os.path.abspath(path) != os.path.abspath(sys.executable)]


def _has_dependencies(python: str) -> bool:
    import subprocess

    try:
        done = subprocess.run([python, "-c", _HAS_DEPENDENCIES, *DEPENDENCIES], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _relaunch_argv(python: str, argv: list[str], entry: str) -> list[str]:
    """The same command under ``python``, diagnosing this interpreter (unless --python or --from-report says otherwise)."""
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0].endswith(".py") and os.path.isfile(sys.argv[0]) else None
    command = [python, script] if script else [python, "-c", f"import sys, preflight_entry; sys.exit(preflight_entry.{entry}())"]
    names = [arg.partition("=")[0] for arg in argv]
    judging = any(name in ("--python", "--from-report", "-h", "--help", "--version") for name in names)
    return [*command, *argv] if judging else [*command, *argv, "--python", sys.executable]


def relaunch(prog: str, missing: str, entry: str) -> int | None:
    """Run ``entry`` under an interpreter that has the tool's dependencies, this one under diagnosis; None: there is none."""
    if os.environ.get(_RELAUNCHED_ENV):
        return None
    found = next((python for python in orchestrator_candidates() if _has_dependencies(python)), None)
    if found is None:
        return None
    argv = _relaunch_argv(found, sys.argv[1:], entry)
    diagnosing = "" if argv[-2:] != ["--python", sys.executable] else f", diagnosing this one with --python {sys.executable}"
    print(
        f"{prog}: {sys.executable} lacks this tool's own dependency {missing!r}: running the tool under {found}{diagnosing}",
        file=sys.stderr,
        flush=True,
    )
    env = {**os.environ, _RELAUNCHED_ENV: "1"}
    if os.name == "posix":
        os.execve(found, argv, env)  # noqa: S606 - an argument list; signals and the exit status are the relaunched run's own
    import subprocess

    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return INTERRUPTED


def _internal(prog: str, error: BaseException, loading: bool) -> int:
    import traceback

    traceback.print_exc(file=sys.stderr)
    what = "loading it failed" if loading else "internal error"
    _say(prog, f"{what}: {type(error).__name__}: {error} (a bug or a broken install of preflight-action, not a finding about this machine)")
    return TOOL_BROKEN


# Modules a KeyboardInterrupt must not land in while they load: orjson's init crashes the interpreter (SIGSEGV,
# it assumes its own imports succeed: ijl/orjson#310); jsonschema_rs imports decimal in the middle of a validation
# and panics when that import is interrupted. They are imported up front with SIGINT held.
FRAGILE_EXTENSIONS = ("orjson", "decimal", "jsonschema_rs")


def _import_with_sigint_held(names: tuple[str, ...]) -> None:
    """Import ``names`` with Ctrl-C deferred until they are loaded, then raise it (a missing one is skipped)."""
    import contextlib
    import importlib
    import signal

    held: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    except ValueError:  # not the main thread: no handler to swap, nothing to hold
        return
    try:
        for name in names:
            with contextlib.suppress(ImportError):  # declared dependencies; the command that needs one says so
                importlib.import_module(name)
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def _done_with_sigint() -> None:
    """The command has finished: a Ctrl-C from here on must not turn its exit into a traceback (pip's wrapper and
    ``raise SystemExit(main())`` run outside any guard). A signal already caught is dropped with the handler."""
    import contextlib
    import signal

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _redeliver_interrupts() -> None:
    """A Ctrl-C that lands in a callback CPython cannot raise from (an import lock's weakref callback, a __del__)
    is printed as "Exception ignored ... KeyboardInterrupt" and lost; deliver it to the main thread again instead,
    so it ends the command the one way (one line, exit 130)."""
    default = sys.unraisablehook

    def hook(unraisable: object) -> None:
        if isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
            import _thread
            import threading

            # from another thread: called here, in the main thread, it would raise inside this hook
            threading.Thread(target=_thread.interrupt_main, daemon=True).start()
            return
        default(unraisable)  # type: ignore[arg-type]

    sys.unraisablehook = hook


def _guarded(prog: str, module: str, fast: bool = False, entry: str | None = None) -> int:
    """Import ``module`` and run its ``main``; every failure of the tool itself is one line and exit 3.

    ``entry``: this function's name, for a command that diagnoses an interpreter and may run the orchestrator under
    another one when this one lacks the tool's dependencies (``relaunch``).
    """
    argv = sys.argv[1:]
    _redeliver_interrupts()
    try:
        if fast:
            from preflight_action.preflight import early

            early.launch(argv, unless=("--from-report",))  # a gate judging a report runs no preflight
        missing = missing_dependency()  # after the launch: the worker's torch import is the run's floor
        if missing is not None:
            if fast:
                early.discard()
            relaunched = relaunch(prog, missing, entry) if entry else None
            return _missing(prog, missing) if relaunched is None else relaunched
        if not fast:  # the fast commands keep their start-up to the worker; the others may read JSON with orjson
            _import_with_sigint_held(FRAGILE_EXTENSIONS)
        import importlib

        main = importlib.import_module(module).main
    except ModuleNotFoundError as error:
        return _missing(prog, error)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted by SIGINT", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        return _internal(prog, error, loading=True)
    try:
        code = int(main())
        _done_with_sigint()
    except KeyboardInterrupt:  # Ctrl-C outside the command's own handling (before it was in place, or after)
        print(f"{prog}: interrupted by SIGINT", file=sys.stderr)
        return INTERRUPTED
    except ModuleNotFoundError as error:  # a dependency imported late, on the path this run took
        return _missing(prog, error)
    except Exception as error:
        return _internal(prog, error, loading=False)
    return _exit_now(code) if fast else code


def _exit_now(code: int) -> int:
    """End with ``code`` after exit handlers and a flush, without the interpreter's teardown (17 ms on the quick level)."""
    import atexit

    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or broken stream: leave the exit to the interpreter, which reports it
        return code
    os._exit(code)


def _prog(command: str, *scripts: str) -> str:
    """The command as typed (cli_args.prog, which this module cannot import before the guard)."""
    typed = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return typed if typed == command or typed in scripts else command


def runtime_preflight() -> int:
    return _guarded(_prog("runtime-preflight", "runtime_preflight.py"), "preflight_action.main", fast=True, entry="runtime_preflight")


def gate() -> int:
    return _guarded(_prog("preflight-gate", "gate.py"), "preflight_action.gates.cli", fast=True, entry="gate")


def gang() -> int:
    return _guarded(_prog("preflight-gang", "gang.py"), "preflight_action.gang.cli", fast=True, entry="gang")


def summarize() -> int:
    return _guarded(_prog("preflight-summarize", "summarize.py", "summarize_runtime_preflight.py"), "preflight_action.summary.cli")


def sweep() -> int:
    return _guarded(_prog("preflight-sweep", "sweep.py"), "preflight_action.sweep.cli")


def smoke() -> int:
    return _guarded(_prog("preflight-smoke", "smoke.py"), "preflight_action.smoke.cli")


def matrix() -> int:
    return _guarded(_prog("preflight-matrix", "runtime_matrix.py"), "preflight_action.matrix.cli")


def export() -> int:
    return _guarded(_prog("preflight-export", "export.py"), "preflight_action.exports.cli")


def diff() -> int:
    return _guarded(_prog("preflight-diff", "diff.py"), "preflight_action.diff.cli")
