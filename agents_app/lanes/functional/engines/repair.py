"""Make engine output runnable and stable before it is judged.

Offline engines write tests from observed behaviour and sometimes forget imports
(CrossHair names types it never imports) or assert on values that change from one
process to the next (Pynguin asserts on `__hash__()` results, which Python salts per
process). Both would make a correct test fail for reasons that have nothing to do
with the code under test. Each repair is recorded so the report can say what changed.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

import pyflakes.api
import pyflakes.messages
import pyflakes.reporter

_UNSTABLE_CALLS = {"hash", "id"}
_UNSTABLE_METHODS = {"__hash__"}


@dataclass
class Repaired:
    source: str
    notes: list[str] = field(default_factory=list)


class _Collector(pyflakes.reporter.Reporter):
    def __init__(self) -> None:
        self.messages: list[pyflakes.messages.Message] = []
        self.syntax: str | None = None

    def unexpectedError(self, filename, msg):  # noqa: N802 - pyflakes API
        self.syntax = str(msg)

    def syntaxError(self, filename, msg, lineno, offset, text):  # noqa: N802
        self.syntax = f"line {lineno}: {msg}"

    def flake(self, message):
        self.messages.append(message)


def undefined_names(source: str) -> list[str]:
    collector = _Collector()
    pyflakes.api.check(source, "generated_test.py", collector)
    names = []
    for m in collector.messages:
        if isinstance(m, pyflakes.messages.UndefinedName) and m.message_args[0] not in names:
            names.append(m.message_args[0])
    return names


def _module_namespace(module: str, module_source: str) -> dict[str, str]:
    """name -> the import statement that brings it, from the module under test."""
    found: dict[str, str] = {}
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return found
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.setdefault(node.name, f"from {module} import {node.name}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    found.setdefault(t.id, f"from {module} import {t.id}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                stmt = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                found.setdefault(local, stmt)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                found.setdefault(
                    local,
                    f"from {node.module} import {alias.name}"
                    + (f" as {alias.asname}" if alias.asname else ""),
                )
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            # relative import in the module: make it absolute from the module's package
            package = module.rsplit(".", node.level)[0] if "." in module else ""
            base = ".".join(p for p in (package, node.module or "") if p)
            for alias in node.names:
                if alias.name != "*" and base:
                    local = alias.asname or alias.name
                    found.setdefault(local, f"from {base} import {alias.name}")
    return found


def repair_imports(source: str, module: str, module_source: str) -> Repaired:
    missing = undefined_names(source)
    if not missing:
        return Repaired(source)
    namespace = _module_namespace(module, module_source)
    lines: list[str] = []
    notes: list[str] = []
    for name in missing:
        stmt = namespace.get(name)
        if stmt is None and name in sys.stdlib_module_names:
            stmt = f"import {name}"
        if stmt is None:
            stmt = _from_stdlib_of(name, namespace)
        if stmt is None and name == "pytest":
            stmt = "import pytest"
        if stmt:
            lines.append(stmt)
            notes.append(f"added missing import: {stmt}")
        else:
            notes.append(f"could not resolve name {name!r}")
    if not lines:
        return Repaired(source, notes)
    return Repaired(_insert_imports(source, lines), notes)


def _from_stdlib_of(name: str, namespace: dict[str, str]) -> str | None:
    """`from M import name` when a standard-library module the code under test imports
    has that attribute (CrossHair writes `FrozenInstanceError` for dataclasses' one)."""
    modules = []
    for stmt in namespace.values():
        parts = stmt.split()
        mod = parts[1] if parts[0] in ("import", "from") else ""
        if mod.split(".")[0] in sys.stdlib_module_names and mod not in modules:
            modules.append(mod)
    for mod in modules:
        # only modules this process already imported: importing one here could have
        # side effects (antigravity opens a browser), and the name comes from outside
        loaded = sys.modules.get(mod)
        if loaded is not None and hasattr(loaded, name):
            return f"from {mod} import {name}"
    return None


def unique_test_names(source: str) -> Repaired:
    """Rename repeated test functions (the later def would silently replace the earlier)."""
    tree = ast.parse(source)
    seen: dict[str, int] = {}
    renames: list[tuple[int, str, str]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            n = seen.get(node.name, 0) + 1
            seen[node.name] = n
            if n > 1:
                new = f"{node.name}_dup{n}"
                while new in seen:
                    n += 1
                    new = f"{node.name}_dup{n}"
                seen[new] = 1
                renames.append((node.lineno, node.name, new))
    if not renames:
        return Repaired(source)
    lines = source.splitlines(keepends=True)
    for lineno, old, new in renames:
        line = lines[lineno - 1]
        lines[lineno - 1] = line.replace(f"def {old}(", f"def {new}(", 1)
    return Repaired("".join(lines), [f"renamed {len(renames)} repeated test name(s)"])


def _insert_imports(source: str, statements: list[str]) -> str:
    tree = ast.parse(source)
    insert_at = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Import | ast.ImportFrom) or (is_doc and insert_at == 0):
            insert_at = node.end_lineno or insert_at
        else:
            break
    src_lines = source.splitlines(keepends=True)
    block = "".join(s + "\n" for s in statements)
    return "".join(src_lines[:insert_at]) + block + "".join(src_lines[insert_at:])


class _Stabiliser(ast.NodeTransformer):
    """Drops assertions whose expected value is a per-process hash, id or address."""

    def __init__(self) -> None:
        self.unstable_vars: set[str] = set()
        self.removed = 0

    @staticmethod
    def _is_unstable_call(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        if isinstance(f, ast.Name) and f.id in _UNSTABLE_CALLS:
            return True
        return isinstance(f, ast.Attribute) and f.attr in _UNSTABLE_METHODS

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:  # noqa: N802
        self.unstable_vars = set()
        body = []
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and self._is_unstable_call(stmt.value):
                self.unstable_vars.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            if isinstance(stmt, ast.Assert) and self._unstable_assert(stmt.test):
                self.removed += 1
                continue
            body.append(stmt)
        node.body = body or [ast.Pass()]
        return node

    def _unstable_assert(self, test: ast.AST) -> bool:
        for sub in ast.walk(test):
            if isinstance(sub, ast.Name) and sub.id in self.unstable_vars:
                return True
            if self._is_unstable_call(sub):
                return True
            if (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, str)
                and " at 0x" in (sub.value)
            ):
                return True
        return False


def _properties(module_source: str) -> set[tuple[str, str]]:
    """(class, attribute) for every property of the module's top-level classes."""
    found: set[tuple[str, str]] = set()
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return found
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for d in fn.decorator_list:
                    name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
                    if name in ("property", "cached_property"):
                        found.add((cls.name, fn.name))
    return found


class _PropertyCalls(ast.NodeTransformer):
    def __init__(self, props: set[tuple[str, str]]) -> None:
        self.props = props
        self.fixed = 0

    def visit_Call(self, node: ast.Call) -> ast.AST:  # noqa: N802
        self.generic_visit(node)
        f = node.func
        if (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and (f.value.id, f.attr) in self.props
            and len(node.args) == 1
            and not node.keywords
        ):
            self.fixed += 1
            return ast.copy_location(ast.Attribute(node.args[0], f.attr, ast.Load()), node)
        return node


def property_calls(source: str, module_source: str) -> Repaired:
    """`Cls.prop(obj)` -> `obj.prop`: CrossHair calls a property like a method."""
    props = _properties(module_source)
    if not props:
        return Repaired(source)
    tree = ast.parse(source)
    fixer = _PropertyCalls(props)
    tree = fixer.visit(tree)
    if not fixer.fixed:
        return Repaired(source)
    ast.fix_missing_locations(tree)
    return Repaired(
        ast.unparse(tree) + "\n", [f"rewrote {fixer.fixed} property call(s) as attribute reads"]
    )


def stabilise(source: str) -> Repaired:
    tree = ast.parse(source)
    stab = _Stabiliser()
    tree = stab.visit(tree)
    if not stab.removed:
        return Repaired(source)
    ast.fix_missing_locations(tree)
    return Repaired(
        ast.unparse(tree) + "\n",
        [f"removed {stab.removed} assertion(s) on per-process hash/id values"],
    )


def test_functions(source: str) -> list[tuple[str, str]]:
    """(name, source) of each top-level test function, in file order."""
    tree = ast.parse(source)
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            out.append((node.name, ast.get_source_segment(source, node) or ""))
    return out


def keep_only(source: str, names: set[str]) -> str:
    """The file with every top-level test function not in `names` removed."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            and node.name not in names
        ):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            drop.append((start, node.end_lineno or node.lineno))
    for start, end in reversed(drop):
        del lines[start - 1 : end]
    text = "".join(lines)
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text


def prepare(source: str, module: str, module_source: str) -> Repaired:
    """Syntax check, stabilise, repair imports. Raises SyntaxError for unparseable output."""
    ast.parse(source)
    notes: list[str] = []
    for step in (
        unique_test_names,
        lambda src: property_calls(src, module_source),
        stabilise,
        lambda src: repair_imports(src, module, module_source),
    ):
        done = step(source)
        source = done.source
        notes += done.notes
    return Repaired(source, notes)
