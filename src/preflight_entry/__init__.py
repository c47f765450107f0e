"""The console scripts' entry points: standard library only, so the tool's own failure is never a verdict.

Each command imports its module inside a guard. A dependency of this tool that is missing, a package that
fails to import (a broken install, a bad image) or an internal error is one line on stderr and exit 3, a
code no reader takes for a verdict: 0 healthy / passed, 1 blocking, 2 not judged or bad usage, 3 the tool
itself could not run, 130 interrupted. ``runtime-preflight`` and ``preflight-gate`` start the worker (and its
torch import) before anything else loads, and end without the interpreter's teardown.
"""

from __future__ import annotations

import contextlib
import os
import sys

TOOL_BROKEN = 3  # vocab.EXIT_TOOL_BROKEN (this module cannot import the package it guards)
INTERRUPTED = 130
INSTALL = "python -m pip install preflight-action (in a checkout: python -m pip install -e .)"


def _say(prog: str, message: str) -> None:
    print(f"{prog}: cannot run: {message}", file=sys.stderr, flush=True)


def _missing(prog: str, error: ModuleNotFoundError) -> int:
    name = (error.name or str(error)).split(".")[0]
    if name in ("preflight_action", "preflight_probe"):
        _say(prog, f"the {name} package is not importable by {sys.executable}; install the tool: {INSTALL}")
    else:
        _say(
            prog,
            f"this tool's own dependency {name!r} is missing from {sys.executable}; install the tool with its dependencies: "
            f"{INSTALL} (the interpreter you diagnose needs only torch: run the tool from another environment with --python)",
        )
    return TOOL_BROKEN


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


def _guarded(prog: str, module: str, fast: bool = False) -> int:
    """Import ``module`` and run its ``main``; every failure of the tool itself is one line and exit 3."""
    argv = sys.argv[1:]
    _redeliver_interrupts()
    try:
        if fast:
            from preflight_action.preflight import early

            early.launch(argv, unless=("--from-report",))  # a gate judging a report runs no preflight
        else:  # the fast commands keep their start-up to the worker; the others may read JSON with orjson
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


def runtime_preflight() -> int:
    return _guarded("runtime_preflight", "preflight_action.main", fast=True)


def gate() -> int:
    return _guarded("preflight-gate", "preflight_action.gates.cli", fast=True)


def summarize() -> int:
    return _guarded("preflight-summarize", "preflight_action.summary.cli")


def sweep() -> int:
    return _guarded("preflight-sweep", "preflight_action.sweep.cli")


def smoke() -> int:
    return _guarded("preflight-smoke", "preflight_action.smoke.cli")


def matrix() -> int:
    return _guarded("preflight-matrix", "preflight_action.matrix.cli")


def export() -> int:
    return _guarded("preflight-export", "preflight_action.exports.cli")
