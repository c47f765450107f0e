"""A remedy as a person copies it: its prose and its commands apart, each command whole.

Remedies are sentences with commands in them ("install the pair: python -m pip install ... --index-url URL").
A renderer that wraps the sentence at the terminal's width breaks the command too (``--index-url`` on one
line, the URL on the next). ``parts`` finds the commands; ``command_lines`` lays one out to a width at
argument boundaries with shell continuations, so the lines paste as one working command.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass

# A command starts with an interpreter running a module, a package manager, or a tool our remedies name.
_PYTHON = r"""(?:"[^"\n]*python[0-9.]*(?:\.exe)?"|[^\s"'();,]*python[0-9.]*(?:\.exe)?) -m [\w.]+"""
_TOOLS = (
    r"sudo \S+",
    r"(?:uv )?pip3? install",
    r"conda install",
    r"apk add",
    r"brew install",
    r"xcode-select --install",
    r"nvidia-smi",
    r"dcgmi",
)
_HEAD = re.compile(rf"(?<![\w/.-])(?:{_PYTHON}|{'|'.join(_TOOLS)})(?![\w-])")
_TOKEN = re.compile(r"""\s+("[^"\n]*"|'[^'\n]*'|[^\s;,()"']+)""")
# Words that end a command: the sentence goes on ("python -m torch.utils.collect_env under the same interpreter").
_PROSE = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "after",
        "before",
        "by",
        "for",
        "from",
        "if",
        "in",
        "is",
        "it",
        "lists",
        "of",
        "on",
        "or",
        "see",
        "shows",
        "so",
        "that",
        "the",
        "then",
        "this",
        "to",
        "under",
        "until",
        "when",
        "which",
        "while",
        "with",
    ]
)


@dataclass(frozen=True)
class Part:
    text: str
    command: bool


def _spans(remedy: str) -> list[tuple[int, int]]:
    """Where the commands are in ``remedy``: (start, end) character offsets, in order."""
    found: list[tuple[int, int]] = []
    for head in _HEAD.finditer(remedy):
        if found and head.start() < found[-1][1]:
            continue
        end = head.end()
        while True:
            token = _TOKEN.match(remedy, end)
            if token is None or token.group(1).lower() in _PROSE:
                break
            end = token.end()
        found.append((head.start(), end))
    return found


def parts(remedy: str) -> list[Part]:
    """``remedy`` as prose and commands, in order; the prose keeps its words, a command its exact characters."""
    out: list[Part] = []
    at = 0
    for start, end in _spans(remedy):
        if remedy[at:start].strip():
            out.append(Part(remedy[at:start].strip(), False))
        out.append(Part(remedy[start:end], True))
        at = end
    if remedy[at:].strip():
        out.append(Part(remedy[at:].strip(), False))
    return out


def commands(remedy: str | None) -> list[str]:
    """The commands in ``remedy``, each whole."""
    return [p.text for p in parts(remedy or "") if p.command]


def _units(command: str) -> list[str]:
    """The command's arguments, an option kept with its value (``--index-url URL`` never splits)."""
    tokens = [m.group(1) for m in _TOKEN.finditer(" " + command)]
    units: list[str] = []
    for token in tokens:
        if units and units[-1].startswith("--") and " " not in units[-1] and not token.startswith("-"):
            units[-1] += " " + token
        else:
            units.append(token)
    return units


def command_lines(command: str, width: int, indent: str = "  ", windows: bool | None = None) -> list[str]:
    """``command`` in lines of at most ``width`` characters, broken only between arguments, each line but the last
    ending in a shell continuation (`` \\``); one argument longer than the width keeps a line of its own.

    On Windows (no portable continuation across cmd and PowerShell) the command stays one line.
    """
    windows = os.name == "nt" if windows is None else windows
    if len(indent) + len(command) <= width or windows:
        return [indent + command]
    lines: list[str] = []
    current = indent
    for token in _units(command):
        candidate = token if current.strip() == "" else f"{current} {token}"
        if current.strip() and len(candidate) + 2 > width:  # room for " \"
            lines.append(current + " \\")
            current = indent + "  " + token
        else:
            current = candidate if current.strip() else indent + token
    lines.append(current)
    return lines


def lines(remedy: str, width: int, indent: str = "  ", command_indent: str | None = None) -> list[tuple[str, bool]]:
    """``remedy`` laid out for a terminal ``width`` wide: (line, is a command line) pairs; commands at ``command_indent``
    (default: two more than the prose).

    A command longer than ``INLINE_MAX`` gets lines of its own; a shorter one stays in its sentence, never broken.
    """
    out: list[tuple[str, bool]] = []
    text_width = max(width - len(indent), 20)

    def prose(text: str) -> None:
        text = text.strip().lstrip(";,").strip()
        if text and text.strip(".;,:)( "):
            wrapped = textwrap.wrap(text, text_width, break_long_words=False, break_on_hyphens=False)
            out.extend((indent + line.replace(NBSP, " "), False) for line in wrapped)

    pending, at = "", 0
    for start, end in _spans(remedy):
        pending += remedy[at:start]
        command = remedy[start:end]
        if len(command) > INLINE_MAX:
            prose(pending)
            pending = ""
            out += [(line, True) for line in command_lines(command, width, indent + "  " if command_indent is None else command_indent)]
        else:
            pending += command.replace(" ", NBSP)
        at = end
    prose(pending + remedy[at:])
    return out


NBSP = "\u00a0"  # keeps a short command on one line while the sentence around it wraps
INLINE_MAX = 40
