"""The seams the layout promises: the core never imports a reader of its verdict; gates never scrape a CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "preflight_action"
# Readers of the verdict sit to the right of the preflight in the data flow.
READERS = ("gates", "exports", "github", "summary", "matrix", "history", "outputs", "main")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "preflight").glob("*.py")), ids=lambda p: p.name)
def test_the_preflight_imports_no_reader_of_its_verdict(path: Path) -> None:
    bad = sorted(
        name
        for name in _imports(path)
        for reader in READERS
        if name == f"preflight_action.{reader}" or name.startswith(f"preflight_action.{reader}.")
    )
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "gates").glob("*.py")), ids=lambda p: p.name)
def test_a_gate_reads_the_returned_report_not_stderr_or_file_times(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for token in ("st_mtime", "redirect_stderr", "redirect_stdout", "getmtime", 'error: "'):
        assert token not in text, f"{path.relative_to(ROOT)} uses {token}"


def test_the_entry_module_uses_the_standard_library_only() -> None:
    """preflight_entry guards the package's import: it must load where preflight_action cannot."""
    imports = _imports(ROOT / "src" / "preflight_entry" / "__init__.py")
    allowed = {"__future__", "__future__.annotations", "os", "sys", "importlib", "atexit", "traceback", "glob", "subprocess"}
    allowed |= {"importlib.util", "importlib.util.find_spec"}
    allowed |= {"__future__", "__future__.annotations", "os", "sys", "importlib", "atexit", "traceback", "contextlib", "signal"}
    allowed |= {"threading", "_thread"}  # Ctrl-C held while fragile extensions load, re-delivered when CPython would drop it
    lazy = {name for name in imports if name.startswith("preflight_action")}
    assert lazy == {"preflight_action.preflight", "preflight_action.preflight.early"}  # inside the guard
    assert imports - lazy <= allowed
