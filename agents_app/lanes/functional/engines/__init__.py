"""Offline test-generation engines. Each turns changed code into pytest source."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EngineJob:
    """One engine run over one changed module."""

    module: str  # dotted import name
    path: str  # file path relative to the repository
    qualnames: tuple[str, ...]  # changed functions / methods / classes in it
    classes: frozenset[str]  # which of those qualnames are classes
    line_ranges: tuple[tuple[int, int], ...]  # changed lines, merged into ranges
    import_root: Path  # absolute, inside the worktree
    budget_s: int


@dataclass
class EngineOutput:
    engine: str
    module: str
    source: str | None  # pytest source, None when the engine produced nothing
    duration_s: float
    log_tail: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def line_ranges(lines: set[int] | frozenset[int]) -> tuple[tuple[int, int], ...]:
    """Sorted line numbers merged into inclusive ranges: {1,2,3,7} -> ((1,3),(7,7))."""
    out: list[list[int]] = []
    for n in sorted(lines):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return tuple((a, b) for a, b in out)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
