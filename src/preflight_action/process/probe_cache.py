"""The probe's private copy: ``preflight_probe`` alone, where the diagnosed interpreter imports it from.

The diagnosed interpreter must see nothing else of ours, so the probe runs from a
copy of its package. The copy is kept per content in the user's cache directory
(``$PREFLIGHT_CACHE_DIR``, else the platform's cache folder) so the bytecode the
interpreter compiles on the first run is reused by the next: compiling the probe
again on every run cost tens of milliseconds, most of them after torch's import,
on the quick level's critical path. A cached copy is used only when it is ours
(POSIX: owned by this user, writable by nobody else) and every file in it still
matches the source byte for byte; otherwise the run uses a fresh temporary copy,
as it always did, and says nothing (a cache is never a reason to fail a run).

Only ``os``, ``sys`` and ``zlib`` load here: this module is on the path that
starts the worker, before the orchestrator's own imports (see ``preflight.early``).
"""

from __future__ import annotations

import os
import sys
import zlib

import preflight_probe

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms on the path that starts the worker)
if TYPE_CHECKING:
    from pathlib import Path

# Parsed by whatever interpreter is diagnosed, so it stays valid Python 2 syntax and
# says plainly when that interpreter is too old for the probe (torch 2.x needs 3.8+).
MIN_PYTHON = (3, 8)
BOOT = """import sys
if sys.version_info < {min_python!r}:
    sys.stderr.write("preflight probe: Python %d.%d is too old to run the probe (needs {major}.{minor}+)\\n" % sys.version_info[:2])
    sys.exit(3)
from preflight_probe.{entry} import main
raise SystemExit(main())
"""
CACHE_ENV = "PREFLIGHT_CACHE_DIR"
KEEP_COPIES = 8  # cached probe versions kept side by side (a few releases, several checkouts)
PACKAGE = "preflight_probe"


def cache_root() -> str | None:
    """Where cached copies live: ``cache_base()/probe``; None: no cache folder known."""
    base = cache_base()
    return os.path.join(base, "probe") if base else None


def cache_base() -> str | None:
    """The tool's cache folder: ``$PREFLIGHT_CACHE_DIR``, else the platform's user cache folder; None: none known.

    The platform folders follow the XDG base directory spec, Apple's and Microsoft's conventions (as platformdirs
    does; its import alone costs more than this module's whole job, on the path that starts the worker).
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return os.path.join(base, "preflight-action", "Cache") if base else None
    home = os.path.expanduser("~")
    if home == "~":
        return None
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "preflight-action")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(home, ".cache")
    return os.path.join(base, "preflight-action")


def _sources(package: str) -> list[tuple[str, bytes]]:
    """(path relative to the package, content) of every file in the probe package, bytecode excluded."""
    files = []
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                files.append((os.path.relpath(path, package), handle.read()))
    return files


def _key(files: list[tuple[str, bytes]]) -> str:
    """The copy's name: a checksum of names and contents (a collision only fails the byte-for-byte check)."""
    crc = 0
    for name, data in files:
        crc = zlib.crc32(data, zlib.crc32(name.encode("utf-8") + b"\0", crc))
    return f"{crc:08x}-{len(files)}"


def _private(path: str) -> bool:
    """A directory we may run code from: a real directory, on POSIX owned by us and writable by nobody else."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not os.path.isdir(path) or os.path.islink(path):
        return False
    if not hasattr(os, "getuid"):  # Windows: no owner id or mode bits to compare
        return True
    uid: int = os.getuid()
    return info.st_uid == uid and not info.st_mode & 0o022


def _matches(root: str, files: list[tuple[str, bytes]]) -> bool:
    """Every source file is in the copy, unchanged (bytecode beside them is the interpreter's to validate)."""
    package = os.path.join(root, PACKAGE)
    if not _private(root) or not _private(package):
        return False
    for name, data in files:
        try:
            with open(os.path.join(package, name), "rb") as handle:
                if handle.read() != data:
                    return False
        except OSError:
            return False
    return True


def _write_copy(root: str, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        path = os.path.join(root, PACKAGE, name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)


def _compile(root: str, files: list[tuple[str, bytes]]) -> None:
    """Bytecode for this interpreter, written once into the copy (the cache's point).

    Explicitly, because the implicit kind is often off (``PYTHONDONTWRITEBYTECODE=1`` is common in CI images
    and containers): that setting keeps bytecode out of the user's trees, and this is our own cache folder.
    A diagnosed interpreter of another version compiles its own on first import, where its settings allow.
    """
    import importlib.util
    import py_compile

    for name, _data in files:
        if name.endswith(".py"):
            source = os.path.join(root, PACKAGE, name)
            target = importlib.util.cache_from_source(source)
            try:
                py_compile.compile(source, cfile=target, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
            except (py_compile.PyCompileError, OSError):
                continue  # that module compiles on import instead


def _cached_copy(files: list[tuple[str, bytes]]) -> str | None:
    """The verified cached copy (built now when missing); None when the cache cannot be used here."""
    parent = cache_root()
    if parent is None:
        return None
    root = os.path.join(parent, _key(files))
    if _private(parent) and _matches(root, files):  # a folder others may write to could swap the copy under us
        return root
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        if not _private(parent):
            return None
        import shutil
        import tempfile

        if os.path.exists(root):  # changed or damaged since it was built: replaced, never trusted
            shutil.rmtree(root, ignore_errors=True)
        building = tempfile.mkdtemp(prefix=".building-", dir=parent)
        try:
            _write_copy(building, files)
            _compile(building, files)
            os.replace(building, root)  # atomic; another run that built the same copy first wins
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
        _prune(parent, keep=os.path.basename(root))
    except OSError:
        return None
    return root if _matches(root, files) else None


def _prune(parent: str, keep: str) -> None:
    """Keep the newest ``KEEP_COPIES`` copies; older probe versions' copies (and abandoned builds) go."""
    import shutil

    try:
        entries = [e for e in os.scandir(parent) if e.is_dir(follow_symlinks=False) and e.name != keep]
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
    except OSError:
        return
    for entry in entries[KEEP_COPIES - 1 :]:
        shutil.rmtree(entry.path, ignore_errors=True)


def _temporary_copy(files: list[tuple[str, bytes]]) -> str:
    import tempfile

    root = tempfile.mkdtemp(prefix="preflight-probe-")
    _write_copy(root, files)
    return root


def _write_boot(root: str, entry: str) -> str:
    """``preflight_probe_boot_<entry>.py`` beside the package: the script the interpreter runs (rewritten only when it differs)."""
    text = BOOT.format(min_python=MIN_PYTHON, major=MIN_PYTHON[0], minor=MIN_PYTHON[1], entry=entry)
    path = os.path.join(root, f"preflight_probe_boot_{entry}.py")
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return path
    except OSError:
        pass
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


class ProbeDirectory:
    """Where the diagnosed interpreter runs the probe from: ``boot`` starts the worker module ``entry``.

    ``entry``: ``worker`` (the checks), ``smoke_worker`` (the smoke runs) or ``distributed_rank``; all three
    live in the one copied package. ``cache=False`` always makes a fresh temporary copy.
    """

    def __init__(self, entry: str = "worker", *, cache: bool = True) -> None:
        files = _sources(os.path.dirname(os.path.abspath(preflight_probe.__file__)))
        cached = _cached_copy(files) if cache else None
        self.temporary = cached is None
        self.root_path = cached or _temporary_copy(files)
        try:
            self.boot_path = _write_boot(self.root_path, entry)
        except OSError:
            if self.temporary:
                raise
            self.temporary = True  # a cached copy we cannot write a boot script into: a temporary one instead
            self.root_path = _temporary_copy(files)
            self.boot_path = _write_boot(self.root_path, entry)

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.root_path)

    @property
    def boot(self) -> Path:
        from pathlib import Path

        return Path(self.boot_path)

    def cleanup(self) -> None:
        """Remove a temporary copy; a cached one stays for the next run."""
        if self.temporary:
            import shutil

            shutil.rmtree(self.root_path, ignore_errors=True)
