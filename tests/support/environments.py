"""Real environments that differ in what is installed, for the inventory and preflight-diff to tell apart.

Bare venvs layered (through ``.pth`` files) on the site-packages that holds this test run's torch, with
wheels built here (a real zip: a module and its dist-info) installed by pip, site-packages folders of many
distributions (real dist-info folders, as pip leaves them), and inventories for report documents.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from tests.support import broken_runtimes as br


def torch_site() -> Path:
    """The site-packages folder this test run imports torch (and torchvision) from."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise br.Unavailable("torch is not importable by the test interpreter")
    return Path(next(iter(spec.submodule_search_locations))).parent


def layered(root: Path, *sites: Path) -> Path:
    """A bare venv whose .pth files add ``sites``, then the site of torch (the first one wins an import)."""
    python, _ = br.venv_reaching(root, *sites, torch_site())
    return python


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(directory: Path, name: str, version: str) -> Path:
    """A real wheel of a one-module package ``name`` at ``version`` (pure Python, any platform)."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: preflight-action tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist}/RECORD,,"]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for file_name, data in files.items():
            archive.writestr(file_name, data)
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def pip_install(package: Path, target: Path) -> None:
    """``pip install --no-deps --no-index --target target package``: pip's own install, offline."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(package),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise br.Unavailable(f"pip could not install {package.name}: {tail[0]}")


def many_distributions(site: Path, count: int, prefix: str = "bulk-package") -> list[str]:
    """``count`` installed distributions in ``site`` as pip leaves them (a module, a dist-info with METADATA,
    INSTALLER, WHEEL and RECORD); their names."""
    site.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        name = f"{prefix}-{index:04d}"
        module = name.replace("-", "_")
        version = f"{1 + index % 7}.{index % 13}.{index % 3}"
        (site / module).mkdir()
        (site / module / "__init__.py").write_text(f'"""{name}."""\n', encoding="utf-8")
        dist = site / f"{module}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: one of many\n", encoding="utf-8")
        (dist / "INSTALLER").write_text("pip\n", encoding="utf-8")
        (dist / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n", encoding="utf-8")
        (dist / "RECORD").write_text(f"{module}/__init__.py,,\n{dist.name}/RECORD,,\n", encoding="utf-8")
        names.append(name)
    return names


def inventory(packages: dict[str, str], variables: dict[str, str] | None = None, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """A report's ``inventory`` object (the shape preflight/inventory.py writes) for ``packages`` in one site-packages."""
    return {
        "paths": [
            {"path": "/opt/venv/lib/python3.12/site-packages", "source": "site-packages", "added_by": None, "distributions": dict(packages)}
        ],
        "omitted": 0,
        "digest": hashlib.sha256(repr(sorted(packages.items())).encode()).hexdigest()[:16],
        "environment": dict(variables or {}),
        "platform": {
            "os": "Linux",
            "os_release": "6.8.0",
            "libc": "glibc",
            "libc_version": "2.35",
            "cuda_driver_version": "13.0",
            **(facts or {}),
        },
    }


FLEET_PACKAGES = {"torch": "2.14.0", "torchvision": "0.29.0", "numpy": "2.4.6", "nvidia-nccl-cu13": "2.28.3", "filelock": "4.3.2"}
