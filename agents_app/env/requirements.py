"""pip requirements files, read without pip: logical lines, and the files they include.

One reader for everything that looks at requirements files: the project's environment
(which files its key hashes) and the dependency lane (which versions are declared).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator

INCLUDE_OPTIONS = {"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c"}


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical line) of a requirements file: continuation lines
    joined, comments and blank lines dropped."""
    pending, first = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            first = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        pending = ""
        if line:
            yield first, line
    if pending.strip():
        line = re.sub(r"(^|\s)#.*$", "", pending).strip()
        if line:
            yield first, line


def includes(line: str) -> list[tuple[str, str]]:
    """(option, value) for every -r/--requirement/-c/--constraint on a logical line, the
    option as "-r" or "-c": `-r f`, `-rf`, `-r=f`, `--requirement f`, `--requirement=f`."""
    if not line.startswith("-"):
        return []
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = line.split()
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        option = value = None
        if token in INCLUDE_OPTIONS:
            option = INCLUDE_OPTIONS[token]
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
            i += 1
        elif "=" in token and token.split("=", 1)[0] in ("--requirement", "--constraint"):
            name, value = token.split("=", 1)
            option = INCLUDE_OPTIONS[name]
        elif token[:2] in ("-r", "-c") and not token.startswith("--") and len(token) > 2:
            option, value = token[:2], token[2:].lstrip("=")
        if option is not None:
            found.append((option, value or ""))
        i += 1
    return found


def include_path(source: str, value: str) -> str | None:
    """The repository-relative path that `source`'s include line names, or None when it
    names something outside the repository (an absolute path, a URL, a variable, `..`)."""
    outside = (
        not value
        or "${" in value
        or "://" in value
        or value.startswith(("/", "file:"))
        or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value) is not None
    )
    rel = posixpath.normpath(posixpath.join(posixpath.dirname(source), value)) if value else ""
    if outside or rel in ("", ".", "..") or rel.startswith("../"):
        return None
    return rel
