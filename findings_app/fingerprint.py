"""Stable fingerprints, and the code context they are made from.

A code finding is recognised by what it is about, not by its line number: its category,
its file, the function or class it is in, the statement's text with whitespace collapsed,
and which occurrence of that same statement it is. Lines added or removed above it
change none of these, so the fingerprint survives them. A secret is recognised by its
file and its keyed hash; a vulnerable dependency by the package, the version and the
advisory.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

from findings_app.secrets import scrub
from tasks_app.core import safe_fs

SNIPPET_LINES = 6
SNIPPET_WIDTH = 240
MAX_SOURCE = 2_000_000


@dataclass(frozen=True)
class Context:
    scope: str  # dotted name of the enclosing functions and classes ("" at module level)
    start: int  # the statement's lines (for a compound statement, its header)
    end: int
    text: str  # the statement's source, whitespace collapsed


class SourceCache:
    """Files of one tree, read once (through safe_fs: no links followed), parsed once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lines: dict[str, list[str]] = {}
        self._stmts: dict[str, list[tuple[int, int, str]] | None] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            try:
                text = safe_fs.read_text(self.root, path, limit=MAX_SOURCE)
            except (OSError, ValueError):
                text = ""
            self._lines[path] = text.splitlines()
        return self._lines[path]

    def _statements(self, path: str) -> list[tuple[int, int, str]] | None:
        """(start, end, scope) of every statement of a Python file, or None."""
        if path not in self._stmts:
            self._stmts[path] = None
            if path.endswith((".py", ".pyi")):
                try:
                    tree = ast.parse("\n".join(self.lines(path)))
                except (SyntaxError, ValueError):
                    tree = None
                if tree is not None:
                    found: list[tuple[int, int, str]] = []
                    _collect(tree, "", found)
                    self._stmts[path] = found
        return self._stmts[path]

    def context(self, path: str, line: int) -> Context:
        lines = self.lines(path)
        stmts = self._statements(path)
        start = end = line
        scope = ""
        if stmts:
            holding = [s for s in stmts if s[0] <= line <= s[1]]
            if holding:
                start, end, scope = min(holding, key=lambda s: (s[1] - s[0], -s[0]))
        text = " ".join(
            " ".join(lines[i - 1].split()) for i in range(start, end + 1) if i <= len(lines)
        )
        return Context(scope, start, end, text)

    def snippet(self, path: str, start: int, end: int | None = None) -> str:
        lines = self.lines(path)
        end = max(end or start, start)
        end = min(end, start + SNIPPET_LINES - 1, len(lines))
        picked = [lines[i - 1][:SNIPPET_WIDTH] for i in range(start, end + 1) if 1 <= i]
        return scrub("\n".join(picked))


def _collect(node: ast.AST, scope: str, out: list[tuple[int, int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            body = getattr(child, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                # a compound statement: its header is the statement
                first = body[0].lineno
                deco = [d.lineno for d in getattr(child, "decorator_list", [])]
                start = min([child.lineno, *deco])
                header_end = max(child.lineno, first - 1)
                out.append((start, header_end, scope))
            else:
                out.append((child.lineno, child.end_lineno or child.lineno, scope))
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            _collect(child, inner, out)
        elif isinstance(child, ast.excepthandler | ast.match_case):
            _collect(child, scope, out)


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def code_fingerprint(category: str, path: str, ctx: Context, occurrence: int) -> str:
    return _digest("code/1", category, path, ctx.scope, ctx.text, occurrence)


def secret_fingerprint(path: str, secret: str) -> str:
    return _digest("secret/1", path, secret)


def dependency_fingerprint(package: str, version: str, advisory: str) -> str:
    return _digest("dependency/1", package, version, advisory)
