"""How the guards name what a piece of test code refers to."""

from __future__ import annotations

import ast


def dotted(node: ast.AST) -> str:
    """`a.b.c` for an attribute chain on a name; the part it can spell, else ""."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def call_name(call: ast.Call) -> str:
    """The last name of what a call calls: `raises` for `pytest.raises(...)`."""
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""
