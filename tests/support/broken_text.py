"""Runtimes whose text is hostile: environment values, paths, package metadata, stderr and a hostname holding
bytes that are not UTF-8, terminal escapes, bidirectional overrides, markup and megabytes.

None of it may stop the report being written or make it invalid JSON, Markdown or HTML.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

from tests.support.broken_runtimes import SITE, Runtime, venv_reaching, write_record

# Undecodable bytes (as os.environ holds them: surrogate escapes), a terminal escape, a right-to-left
# override, markup and a table pipe: everything a renderer could be tricked by.
HOSTILE = "\udcff\udcfe\x1b[2J\u202e<script>alert(1)</script>|@here"
BIG = 100_000  # characters of one environment value (the kernel allows 128 KiB)


def hostile_environment(root: Path) -> Runtime:
    """Environment values the report records (TORCH*, PYTORCH_*) that are hostile and huge, and a second torch
    distribution (its metadata only) in a folder whose name is not UTF-8, with a version that holds escapes."""
    folder = os.fsdecode(bytes(root) + b"/site-\xff\xfe")  # a real non-UTF-8 directory name
    site = Path(folder)
    dist = site / "torch-2.14.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: torch\nVersion: 2.14.1{HOSTILE}\n", encoding="utf-8", errors="surrogateescape"
    )
    write_record(site, dist, {})
    python, _ = venv_reaching(root / "venv", SITE)  # PYTHONPATH carries the undecodable folder (a .pth must be UTF-8)
    env = {"PYTHONPATH": folder, "PYTORCH_HOSTILE": HOSTILE, **{f"TORCH_BIG_{i}": ("\u202e" + "A" * BIG) for i in range(3)}}
    return Runtime(python, env, {"site": folder})


def torch_in_a_non_utf8_folder(root: Path) -> Runtime:
    """The real torch reached through a folder whose name is not UTF-8 (torch encodes its own path as UTF-8)."""
    folder = os.fsdecode(bytes(root) + b"/env-\xff\xfe")
    Path(folder).mkdir(parents=True)
    (Path(folder) / "torch").symlink_to(SITE / "torch", target_is_directory=True)
    python, _ = venv_reaching(root / "venv", SITE)
    return Runtime(python, {"PYTHONPATH": folder}, {"folder": folder})


def hostile_stderr(root: Path, megabytes: int = 2) -> Runtime:
    """A start-up hook that, as torch imports, writes megabytes of binary garbage to stderr and crashes (SIGSEGV)."""
    python, site = venv_reaching(root / "venv", SITE)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import os
            import signal
            import sys


            class Noise:
                def find_spec(self, name, path=None, target=None):
                    if name == "torch._C":
                        junk = bytes(range(256)) * 4096 + "\\u202e<img src=x onerror=alert(1)>|".encode() + b"\\x1b[31m\\n"
                        for _ in range({megabytes} * 1024 * 1024 // len(junk) + 1):
                            os.write(2, junk)
                        os.kill(os.getpid(), signal.SIGSEGV)
                    return None


            sys.meta_path.insert(0, Noise())
            """
        ),
        encoding="utf-8",
    )
    return Runtime(python, {}, {})


HOSTNAME = "evil\x1b[2J<b>|host\u202e"


def hostile_hostname_argv(argv: list[str]) -> list[str]:
    """``argv`` run in a private UTS namespace whose hostname holds escapes, markup and a pipe (root only)."""
    code = (
        f"import os, runpy, socket, sys; socket.sethostname({HOSTNAME!r}); sys.argv = sys.argv[1:]; "
        "sys.path.insert(0, os.path.dirname(sys.argv[0])); runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return ["unshare", "--uts", sys.executable, "-c", code, *argv]
