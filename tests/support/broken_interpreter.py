"""Runtimes broken around the interpreter rather than in torch: its environment, its start-up hooks, its stack.

A PYTHONHOME that points nowhere, a project's ``json.py`` on PYTHONPATH shadowing the standard library,
an import hook that refuses torch's extension, a start-up hook that ends the process when torch is
imported (a cause no rule knows: the answer must be an honest "cause not identified"), and a stack
limit so small the interpreter dies before its first line.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tests.support.broken_runtimes import SITE, Runtime, venv_reaching
from tests.support.broken_surroundings import limited


def pythonhome_nowhere(root: Path) -> Runtime:
    """PYTHONHOME left over from another Python: the interpreter cannot find its standard library."""
    home = root / "old-python-home"
    home.mkdir(parents=True)
    return Runtime(Path(sys.executable), {"PYTHONHOME": str(home)}, {"home": str(home)})


def stdlib_shadow(root: Path, name: str = "json") -> Runtime:
    """A project folder on PYTHONPATH whose ``json.py`` hides the standard library's (the probe imports json)."""
    project = root / "project"
    project.mkdir(parents=True)
    shadow = project / f"{name}.py"
    shadow.write_text(f'"""Our project\'s {name} helpers."""\n\nraise ImportError("this project\'s {name} helpers need simplejson")\n')
    return Runtime(Path(sys.executable), {"PYTHONPATH": str(project)}, {"shadow": str(shadow), "name": name})


def import_hook_refuses_torch(root: Path) -> Runtime:
    """A sitecustomize import hook (a licence or sandbox guard) that refuses torch's compiled extension."""
    python, site = venv_reaching(root / "venv", SITE)
    hook = site / "sitecustomize.py"
    hook.write_text(
        textwrap.dedent(
            """
            import sys


            class Guard:
                def find_spec(self, name, path=None, target=None):
                    if name == "torch._C":
                        raise RuntimeError("native extensions are blocked on this host by policy")
                    return None


            sys.meta_path.insert(0, Guard())
            """
        ),
        encoding="utf-8",
    )
    return Runtime(python, {}, {"hook": str(hook), "line": "9"})


def exits_when_torch_imports(root: Path) -> Runtime:
    """A start-up hook that ends the process with exit code 3 as torch's extension loads: no rule knows this cause."""
    python, site = venv_reaching(root / "venv", SITE)
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os
            import sys


            class Tripwire:
                def find_spec(self, name, path=None, target=None):
                    if name == "torch._C":
                        os._exit(3)
                    return None


            sys.meta_path.insert(0, Tripwire())
            """
        ),
        encoding="utf-8",
    )
    return Runtime(python, {}, {})


def stack_too_small_to_start(root: Path) -> Runtime:
    """A wrapper's ``ulimit -s 64``: the interpreter dies (SIGSEGV) before it prints anything."""
    return limited(root, s="64")
