"""Developer entry points: preflight, tests, lint, build, summarize, sweep, smoke, benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "virtualenv"  # pip sees local wheel caches; uv users: nox -db uv
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = os.environ.get("PREFLIGHT_NOX_PYTHON") or f"{sys.version_info.major}.{sys.version_info.minor}"


def _install(session: nox.Session, *groups: str, torch: bool = True) -> None:
    """Our package (editable), the named dependency groups and, unless told not to, torch."""
    target = ".[torch]" if torch else "."
    session.install("-e", target)
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))


# The PyTorch index of CPU-only wheels: on a host without an NVIDIA driver, `nox -s preflight` installs torch from it
# (about 200 MB) instead of the default index's CUDA build (torch plus ~16 nvidia-* wheels, several GB).
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
STAMP = ".preflight-install.json"  # in the session's venv: what was installed, to reuse it while it still matches


def _nvidia_driver() -> bool:
    """Whether an NVIDIA driver is loaded here (Linux: /proc/driver/nvidia; elsewhere: nvidia-smi on PATH)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def _reachable(url: str, timeout_s: float = 5.0) -> str | None:
    """None when ``url`` answers (any HTTP status below 500), else why not, in a few words."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s):  # noqa: S310 - our constant or the user's
            return None
    except urllib.error.HTTPError as error:
        return None if error.code < 500 else f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return str(reason)


def torch_source(driver: bool | None = None, platform: str = sys.platform) -> tuple[list[str], str]:
    """(pip arguments, words) for where torch comes from: the CPU index on a Linux host without an NVIDIA driver when it
    answers, else the default index; ``$PREFLIGHT_TORCH_INDEX`` names another index (``default``: the default one)."""
    chosen = os.environ.get("PREFLIGHT_TORCH_INDEX", "").strip()
    if chosen == "default":
        return [], "the default index ($PREFLIGHT_TORCH_INDEX=default)"
    if chosen:
        return ["--extra-index-url", chosen], f"{chosen} ($PREFLIGHT_TORCH_INDEX)"
    if platform != "linux":
        return [], "the default index (its torch for this OS has no CUDA libraries to download)"
    if _nvidia_driver() if driver is None else driver:
        return [], "the default index (an NVIDIA driver is loaded here: the CUDA build)"
    why = _reachable(f"{CPU_INDEX}/torch/")
    if why is None:
        return ["--extra-index-url", CPU_INDEX], f"the PyTorch CPU index {CPU_INDEX} (no NVIDIA driver here: the CPU build)"
    return (
        [],
        f"the default index: no NVIDIA driver here, but the PyTorch CPU index {CPU_INDEX} cannot be reached ({why}), so the CUDA build",
    )


def _stamp(session: nox.Session, index: list[str] | None) -> dict[str, object]:
    """What an install depends on: the interpreter, pyproject's dependencies and, when torch is in it, torch's index."""
    project = PYPROJECT["project"]
    wanted = {"dependencies": project["dependencies"], "optional": project.get("optional-dependencies", {})}
    return {"python": session.python, "project": wanted, "torch_index": index}


def _still_matches(had: object, wanted: dict[str, object]) -> bool:
    """The venv holds what ``wanted`` asks for: the same, or the same with torch where none is needed now."""
    if not isinstance(had, dict) or {k: v for k, v in had.items() if k != "torch_index"} != {
        k: v for k, v in wanted.items() if k != "torch_index"
    }:
        return False
    return wanted["torch_index"] is None or had.get("torch_index") == wanted["torch_index"]


def _venv(session: nox.Session) -> Path:
    location = session.virtualenv.location
    return Path(location) if location else ROOT / ".nox" / session.name


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _sizes(urls: list[str]) -> list[int | None]:
    """Each download's size: a local file's from the disk, a remote one's from a HEAD request (None: not said)."""
    import urllib.parse
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def one(url: str) -> int | None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme == "file":
            path = Path(urllib.request.url2pathname(parsed.path))
            return path.stat().st_size if path.is_file() else None
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as answer:  # noqa: S310 - pip's own URLs
                length = answer.headers.get("Content-Length")
                return int(length) if length else None
        except (OSError, ValueError):
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, urls))


def install_plan(session: nox.Session, args: list[str]) -> str:
    """What ``pip install args`` would install and how big it is, in one line (pip's --dry-run --report; nothing installed)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "plan.json"
        session.run("python", "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), *args, silent=True)
        plan = json.loads(report.read_text(encoding="utf-8"))
    items = [(i["metadata"]["name"], i["metadata"]["version"], i.get("download_info", {}).get("url", "")) for i in plan.get("install", [])]
    downloads = [(name, version, url) for name, version, url in items if not url.startswith("file://" + str(ROOT))]
    sizes = _sizes([url for _, _, url in downloads])
    known = sum(size for size in sizes if size)
    ranked = sorted(zip(downloads, sizes, strict=True), key=lambda pair: -(pair[1] or 0))
    largest = ", ".join(f"{name} {version} ({_human(size)})" for (name, version, _), size in ranked[:4] if size)
    unknown = sum(1 for size in sizes if size is None)
    count = f"{len(items)} package{'' if len(items) == 1 else 's'}"
    if not downloads:
        return f"{count}, nothing to download (this project, editable; everything else is installed already)"
    total = f"{_human(known)}{f' and {unknown} of unknown size' if unknown else ''}"
    return f"{count}, {total} to download or unpack; largest: {largest or 'of unknown size'}"


def _install_for_preflight(session: nox.Session, torch: bool) -> None:
    """Install our package (editable) and, unless ``torch`` is False, torch and torchvision; reuse the venv as it is
    while what it holds still matches (pyproject's dependencies, the interpreter, where torch comes from)."""
    import json

    targets = ["-e", ".[torch]" if torch else "."]
    index, words = torch_source() if torch else ([], "")
    stamp_path = _venv(session) / STAMP
    wanted = _stamp(session, index if torch else None)
    try:
        had = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        had = None
    if _still_matches(had, wanted):
        session.log(f"reusing {_venv(session)}: it still holds what pyproject.toml asks for (delete it to reinstall)")
        return
    if torch:
        session.log(f"torch and torchvision from {words}")
    session.log(f"about to install into {_venv(session)}: {install_plan(session, [*targets, *index])}")
    session.install(*targets, *index, silent=False)  # pip's own progress bars, on a terminal
    if torch:
        said = session.run("python", "-c", "import importlib.metadata as m; print(m.version('torch'))", silent=True)
        session.log(f"installed torch {str(said).strip()} from {words}")
    stamp_path.write_text(json.dumps(wanted, indent=1), encoding="utf-8")


@nox.session(python=PYTHON, reuse_venv=True)
def preflight(session: nox.Session) -> None:
    """Preflight this machine: JSON, Markdown and HTML report under outputs/runtime_preflight/."""
    diagnosing_other = any(arg == "--python" or arg.startswith("--python=") for arg in session.posargs)
    _install_for_preflight(session, torch=not diagnosing_other)
    out = "outputs/runtime_preflight"
    # --check-distributed: one rank per local device (2 gloo ranks on a laptop, a few seconds).
    # Arguments after -- are appended to these defaults, never replace them: `-- --quiet` keeps --strict, and a
    # flag given again overrides its default (argparse keeps the last value): `-- --device cpu`.
    args = ["--device", "auto", "--check-torchvision", "--check-distributed", "--strict", *session.posargs]
    # The action's level and budget inputs, by the same names: PREFLIGHT_LEVEL=deep PREFLIGHT_BUDGET=90 nox -s preflight
    for variable, flag in (("PREFLIGHT_LEVEL", "--level"), ("PREFLIGHT_BUDGET", "--budget")):
        if os.environ.get(variable, "").strip() and flag not in args:
            args = [*args, flag, os.environ[variable].strip()]
    session.run(
        "python",
        "scripts/runtime_preflight.py",
        "--output-path",
        f"{out}/local.json",
        "--output-md",
        f"{out}/local.md",
        "--output-html",
        f"{out}/local.html",
        *args,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CPU test suite (pytest -m "not device"); extra pytest args after --."""
    _install(session, "test")
    session.run("pytest", "-m", "not device", *session.posargs)


@nox.session(python=PYTHON, name="device-tests", default=False)
def device_tests(session: nox.Session) -> None:
    """Tests that need a real accelerator (pytest -m device)."""
    _install(session, "test")
    session.run("pytest", "-m", "device", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy over package, scripts and noxfile, as on Linux, Windows and macOS."""
    _install(session, "lint", torch=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # The seed's matrix runs on Windows and macOS too: os.posix_spawn, os.killpg, SIGKILL and the like exist on
    # some of them only. One cache per platform keeps each run incremental.
    for platform in ("win32", "darwin"):
        session.run("mypy", "--platform", platform, "--cache-dir", f".mypy_cache/{platform}")


def _torch_python(session: nox.Session) -> str | None:
    """The interpreter with torch that the installed wheel diagnoses: ``-- --python PATH``, else the tests session's."""
    args = session.posargs
    given = next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--python"), None)
    given = next((arg.split("=", 1)[1] for arg in args if arg.startswith("--python=")), given)
    if given:
        return os.path.abspath(given) if os.path.exists(given) else given  # the checks run from another folder
    # nox -s tests made it (.ci/run runs that session first): torch is there already, no second install.
    tests = Path(session.virtualenv.location).with_name("tests") / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    has_torch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
    found = tests.is_file() and subprocess.run([str(tests), "-c", has_torch], check=False, timeout=120).returncode == 0
    return str(tests) if found else None


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build sdist + wheel into dist/, check them (twine, contents), then run the wheel installed in a fresh venv.

    The fresh venv lives outside the checkout and runs from another directory: every console script answers
    --version, and a quick preflight passes with the shipped schemas and policy. It diagnoses ``-- --python PATH``,
    else the tests session's interpreter, else (neither there) its own, with the torch extra installed.
    """
    shutil.rmtree(ROOT / "dist", ignore_errors=True)
    session.install(*nox.project.dependency_groups(PYPROJECT, "build"))
    session.run("python", "-m", "build", "--outdir", "dist")
    dists = [str(p) for p in sorted((ROOT / "dist").glob("*"))]
    session.run("twine", "check", "--strict", *dists)
    session.run("python", "scripts/check_dist.py", "dist")
    wheel = next(p for p in dists if p.endswith(".whl"))
    torch_python = _torch_python(session)
    with tempfile.TemporaryDirectory(prefix="preflight-wheel-") as tmp:
        venv, elsewhere = Path(tmp) / "venv", Path(tmp) / "elsewhere"
        elsewhere.mkdir()
        session.run("python", "-m", "venv", "--without-pip", str(venv))
        bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
        python = str(bin_dir / ("python.exe" if sys.platform == "win32" else "python"))
        # This session's pip installs into it (pip --python): the venv holds the wheel and its dependencies alone.
        session.run("python", "-m", "pip", "--python", python, "install", "--quiet", wheel if torch_python else f"{wheel}[torch]")
        # Nothing of the checkout on the path, and the probe's cached copy made afresh, as on a new machine.
        env = {"PYTHONPATH": None, "PREFLIGHT_CACHE_DIR": str(Path(tmp) / "cache")}
        version = str(PYPROJECT["project"]["version"])
        with session.chdir(elsewhere):
            for command in PYPROJECT["project"]["scripts"]:
                said = session.run(str(bin_dir / command), "--version", env=env, silent=True, external=True)
                if not isinstance(said, str) or said.strip() != f"{command} {version}":
                    session.error(f"{command} --version said {said!r}, not {command} {version!r}")
            diagnose = ["--python", torch_python] if torch_python else []
            quick = ["--device", "cpu", "--level", "quick", *diagnose, "--strict", "--output-path", "r.json", "--quiet"]
            session.run(str(bin_dir / "runtime-preflight"), *quick, env=env, external=True)
            # -I: neither the script's folder nor PYTHONPATH on sys.path, so only the install can answer.
            check = [str(ROOT / "scripts" / "check_installed.py"), "--report", "r.json", *diagnose]
            session.run(python, "-I", *check, env=env, external=True)


@nox.session(python=PYTHON, default=False)
def summarize(session: nox.Session) -> None:
    """Merge preflight reports into Markdown + JSON (defaults: outputs/runtime_preflight/*.json)."""
    _install(session, torch=False)
    out = "outputs/runtime_preflight"
    args = session.posargs or [
        "--input-glob",
        f"{out}/*.json",
        "--output-md",
        f"{out}/summary.md",
        "--output-json",
        f"{out}/summary.json",
    ]
    session.run("python", "scripts/summarize.py", *args)


@nox.session(python=PYTHON, default=False)
def sweep(session: nox.Session) -> None:
    """Run a sweep (args after -- go to scripts/sweep.py; default: validate, then run the dtype x batch flow)."""
    _install(session)
    if not session.posargs:
        session.run("python", "scripts/sweep.py", "validate")
    args = session.posargs or ["run", "--flow", "dtype_batch_matmul", "--yes"]
    session.run("python", "scripts/sweep.py", *args)


@nox.session(python=PYTHON, default=False)
def smoke(session: nox.Session) -> None:
    """Smoke-run small real models, then print the runtime matrix (args after -- go to scripts/smoke.py)."""
    _install(session)
    session.run("python", "scripts/smoke.py", *(session.posargs or ["--mode", "real", "--device", "auto"]))
    session.run("python", "scripts/runtime_matrix.py", "status", "--html", "outputs/smoke/matrix.html")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Speed and memory goals (benchmarks/); pass a benchmark file name to run one."""
    _install(session, "test")
    targets = session.posargs or sorted(str(p) for p in Path("benchmarks").glob("bench_*.py"))
    for target in targets:
        session.run("python", target)
