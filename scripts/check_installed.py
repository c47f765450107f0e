#!/usr/bin/env python3
"""Check an installed preflight-action from outside any checkout (``python -I``): it runs on its own shipped data.

Run by ``nox -s build`` with the fresh venv's interpreter, in a directory of its own, after the
quick preflight wrote ``--report``: the package and its schemas and policy come from the install,
that report is valid and healthy, and ``run_preflight`` (the Python API) diagnoses ``--python`` healthy too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def problems(report: Path, python: str | None) -> list[str]:
    """One line per way this install does not stand on its own."""
    import preflight_action
    from preflight_action import paths, schemas

    found = []
    prefix = Path(sys.prefix).resolve()
    shipped = {
        "package": Path(preflight_action.__file__).resolve(),
        **{name: paths.data_dir(name).resolve() for name in ("schemas", "policy")},
    }
    found += [
        f"{name} loaded from {where}, outside this install ({prefix})" for name, where in shipped.items() if prefix not in where.parents
    ]
    document = json.loads(report.read_text(encoding="utf-8"))
    schemas.validate(document, "preflight_report", str(report))
    if (document["status"], document.get("verdict")) != ("pass", "healthy"):
        found.append(
            f"{report}: the quick preflight's status is {document['status']!r}, verdict {document.get('verdict')!r}, not pass / healthy"
        )
    # The Python API, as a notebook or a training script calls it before it starts.
    result = preflight_action.run_preflight(device="cpu", level="quick", python=python)
    print(f"check_installed: run_preflight(device='cpu', level='quick') -> status {result.status}, verdict {result.verdict}")
    if not result.ok or result.status != "pass":
        found.append(
            f"run_preflight(device='cpu', level='quick'): status {result.status!r}, verdict {result.verdict!r}, not pass / healthy"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_installed.py", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report", type=Path, required=True, help="the report the installed runtime-preflight wrote")
    parser.add_argument("--python", default=None, help="the interpreter with torch that run_preflight diagnoses (default: this one)")
    args = parser.parse_args(argv)
    found = problems(args.report, args.python)
    for problem in found:
        print(f"check_installed: {problem}", file=sys.stderr)
    if not found:
        print(f"check_installed: preflight-action in {sys.prefix} runs on its own shipped package, schemas and policy")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
