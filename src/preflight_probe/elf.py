"""The dynamic section of an ELF shared object: what it needs, its soname, its RPATH and RUNPATH (stdlib only)."""

from __future__ import annotations

import os
import struct
from typing import Any

DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 14, 15, 29


def dynamic(path: str) -> dict[str, Any] | None:
    """``{"needed": [...], "soname": str | None, "rpath": [...], "runpath": [...]}``; None when ``path`` is not a readable ELF."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(16)
            if ident[:4] != b"\x7fELF":
                return None
            wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
            handle.seek(0)
            header = handle.read(64 if wide else 52)
            if wide:
                shoff, shentsize, shnum = struct.unpack(order + "Q", header[40:48])[0], *struct.unpack(order + "HH", header[58:62])
            else:
                shoff, shentsize, shnum = struct.unpack(order + "I", header[32:36])[0], *struct.unpack(order + "HH", header[46:50])
            sections = []
            for i in range(min(shnum, 4096)):
                handle.seek(shoff + i * shentsize)
                raw = handle.read(shentsize)
                if wide:
                    _n, kind, _f, _a, offset, size, link = struct.unpack(order + "IIQQQQI", raw[:44])
                else:
                    _n, kind, _f, _a, offset, size, link = struct.unpack(order + "IIIIIII", raw[:28])
                sections.append((kind, offset, size, link))
            found: dict[str, Any] = {"needed": [], "soname": None, "rpath": [], "runpath": []}
            for kind, offset, size, link in sections:
                if kind != 6 or link >= len(sections):  # SHT_DYNAMIC, linked to its string table
                    continue
                strings_at, strings_size = sections[link][1], sections[link][2]
                handle.seek(offset)
                table = handle.read(min(size, 1 << 20))
                step, fmt = (16, order + "qQ") if wide else (8, order + "iI")
                for pos in range(0, len(table) - step + 1, step):
                    tag, value = struct.unpack(fmt, table[pos : pos + step])
                    if tag == 0:
                        break
                    if tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) and value < strings_size:
                        # one read per name: a large library's string table runs to megabytes
                        handle.seek(strings_at + value)
                        raw = handle.read(4096)
                        text = raw[: raw.index(b"\0")].decode("utf-8", "replace")
                        if tag == DT_NEEDED:
                            found["needed"].append(text)
                        elif tag == DT_SONAME:
                            found["soname"] = text
                        else:
                            found["rpath" if tag == DT_RPATH else "runpath"].extend(p for p in text.split(":") if p)
            return found
    except (OSError, struct.error, ValueError, IndexError):
        return None


def expand(entry: str, origin_of: str) -> str:
    """An RPATH/RUNPATH entry with $ORIGIN (the folder of the object that carries it) substituted."""
    origin = os.path.dirname(os.path.realpath(origin_of))
    return os.path.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
