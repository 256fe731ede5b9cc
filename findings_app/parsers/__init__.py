"""One parser per tool: the tool's own output in, normalised RawFindings out.

Every parser takes the tool's output as text (what the tool printed, kept as it was in
the lane's folder) and the root of the tree the tool scanned, reads the flagged lines
from that tree itself (so no tool's copy of a line, which may hold a secret, is kept),
and returns a ParseResult. A malformed output is a ParseError naming the tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from findings_app.record import RawFinding


class ParseError(ValueError):
    """A tool's output is not what its parser expects; the message names the tool."""


@dataclass
class ParseResult:
    tool: str
    version: str
    findings: list[RawFinding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what the tool said it could not scan


def load_json(tool: str, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"{tool} printed no JSON ({exc}): {text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ParseError(f"{tool} printed JSON that is not an object")
    return data


def load_results(tool: str, text: str, kind: type) -> tuple[dict[str, Any], Any]:
    """The tool's JSON and its "results" (a list, or an object per file)."""
    data = load_json(tool, text)
    results = data.get("results")
    if not isinstance(results, kind):
        what = "list" if kind is list else "object"
        raise ParseError(f"{tool}'s output has no 'results' {what}")
    return data, results


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def rel_path(filename: str, root: Path) -> str:
    """A tool's file name as a path relative to the scanned tree's root."""
    path = Path(filename)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            return path.as_posix()
    return path.as_posix().removeprefix("./")
