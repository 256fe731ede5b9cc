"""The allow-listed context a model agent sees: nothing else from the repository.

For a subtask: the criterion, the plan's intents, the source of each changed target, and
the public signatures (no bodies) of what those targets directly use — same-module
definitions, project modules they import from, and the class a changed method belongs
to. Read statically with `ast`; no project code runs on the host. Tests, configuration,
other files and the environment are never included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks_app.core import safe_fs

MAX_SOURCE_CHARS = 12_000  # per target
MAX_SIGNATURES = 40
READ_LIMIT = 2_000_000


@dataclass
class ModuleInfo:
    name: str
    path: Path
    tree: ast.Module
    lines: list[str]


class Sources:
    """Project modules read from the worktree (each once), found through the import roots."""

    def __init__(self, worktree: Path, roots: list[str]):
        self.worktree = worktree
        self.roots = roots or ["."]
        self._cache: dict[str, ModuleInfo | None] = {}

    def module(self, name: str) -> ModuleInfo | None:
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def _load(self, name: str) -> ModuleInfo | None:
        parts = name.split(".")
        for root in self.roots:
            for rel in (Path(root, *parts).with_suffix(".py"), Path(root, *parts, "__init__.py")):
                try:
                    text = safe_fs.read_text(self.worktree, str(rel), limit=READ_LIMIT)
                except (OSError, ValueError):
                    continue
                try:
                    tree = ast.parse(text)
                except SyntaxError:
                    return None
                return ModuleInfo(name, rel, tree, text.splitlines())
        return None


def _find(tree: ast.AST, qualname: str) -> ast.AST | None:
    node: ast.AST = tree
    for part in qualname.split("."):
        body = getattr(node, "body", [])
        found = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if found is None:
            return None
        node = found
    return node


def _doc_line(node: ast.AST) -> str:
    doc = ast.get_docstring(node) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                                | ast.ClassDef) else None  # fmt: skip
    return doc.strip().splitlines()[0] if doc else ""


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, indent: str) -> str:
    return "".join(f"{indent}@{ast.unparse(d)}\n" for d in node.decorator_list)


def function_signature(node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str = "") -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    doc = _doc_line(node)
    body = f'"""{doc}"""' if doc else "..."
    return (
        f"{_decorators(node, indent)}{indent}{prefix} {node.name}({ast.unparse(node.args)}){ret}:"
        f"\n{indent}    {body}"
    )


def class_signature(node: ast.ClassDef) -> str:
    """The class line, its docstring's first line, its annotated fields and class
    constants, and the signatures of its public methods (and __init__)."""
    bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
    out = [f"{_decorators(node, '')}class {node.name}" + (f"({bases})" if bases else "") + ":"]
    if doc := _doc_line(node):
        out.append(f'    """{doc}"""')
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            value = f" = {ast.unparse(item.value)}" if item.value is not None else ""
            out.append(f"    {item.target.id}: {ast.unparse(item.annotation)}{value}"[:200])
        elif isinstance(item, ast.Assign) and all(isinstance(t, ast.Name) for t in item.targets):
            names = [t.id for t in item.targets if not t.id.startswith("_")]
            if names:
                out.append(f"    {' = '.join(names)} = {ast.unparse(item.value)}"[:200])
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            if not item.name.startswith("_") or item.name in ("__init__", "__post_init__"):
                out.append(function_signature(item, "    "))
    if len(out) == 1:
        out.append("    ...")
    return "\n".join(out)


def signature_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.ClassDef):
        return class_signature(node)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return function_signature(node)
    return None


def _module_defs(tree: ast.Module) -> dict[str, ast.AST]:
    defs: dict[str, ast.AST] = {}
    for n in tree.body:
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[n.name] = n
        elif isinstance(n, ast.Assign | ast.AnnAssign):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id.isupper():
                    defs[t.id] = n  # module constants the code uses (limits, rates)
    return defs


def _module_imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, tuple[str, str]]:
    """local name -> (module, attribute or "") for the module's imports."""
    out: dict[str, tuple[str, str]] = {}
    package = module if is_package else module.rpartition(".")[0]
    for n in tree.body:
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.asname:
                    out[a.asname] = (a.name, "")
                else:
                    out[a.name.split(".")[0]] = (a.name.split(".")[0], "")
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (n.level - 1)] if n.level > 1 else parts
                base = ".".join([*parts, *([base] if base else [])])
            for a in n.names:
                if a.name != "*":
                    out[a.asname or a.name] = (base, a.name)
    return out


def _used_names(node: ast.AST) -> list[tuple[str, str]]:
    """(name, attribute or "") pairs the code reads, in order of first use."""
    seen: dict[tuple[str, str], None] = {}
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            seen.setdefault((n.value.id, n.attr), None)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            seen.setdefault((n.id, ""), None)
    return list(seen)


def _constant_line(node: ast.AST) -> str:
    return ast.unparse(node)[:200]


def used_signatures(sources: Sources, target: dict[str, Any]) -> list[tuple[str, str]]:
    """(module, signature) of what the target directly uses, the owning class of a
    method first; none of the target's own code."""
    info = sources.module(target["module"])
    if info is None:
        return []
    node = _find(info.tree, target["qualname"])
    if node is None:
        return []
    defs = _module_defs(info.tree)
    imports = _module_imports(info.tree, info.name, info.path.name == "__init__.py")
    own = target["qualname"].split(".")[0]
    out: dict[tuple[str, str], str] = {}

    if "." in target["qualname"]:
        owner = _find(info.tree, target["qualname"].rsplit(".", 1)[0])
        if isinstance(owner, ast.ClassDef):
            out[(info.name, owner.name)] = class_signature(owner)
    for name, attr in _used_names(node):
        if len(out) >= MAX_SIGNATURES:
            break
        if name in defs and name != own and (info.name, name) not in out:
            d = defs[name]
            out[(info.name, name)] = signature_of(d) or _constant_line(d)
        elif name in imports:
            mod, member = imports[name]
            if member:
                found = _lookup(sources, mod, member)
            elif attr:
                found = _lookup(sources, mod, attr)
                member = attr
            else:
                continue
            if found and (found[0], member) not in out:
                out[(found[0], member)] = found[1]
    return [(mod, sig) for (mod, _), sig in out.items()]


def _lookup(sources: Sources, module: str, member: str) -> tuple[str, str] | None:
    """The signature of `module.member` when it is project code: a definition in the
    module, or a submodule's name."""
    info = sources.module(module)
    if info is None:
        return None  # not the project's (standard library or a dependency)
    d = _module_defs(info.tree).get(member)
    if d is not None:
        return module, signature_of(d) or _constant_line(d)
    if sources.module(f"{module}.{member}") is not None:
        return module, f"import {module}.{member}  # a module"
    return None


def target_source(sources: Sources, target: dict[str, Any]) -> str:
    info = sources.module(target["module"])
    if info is None:
        return ""
    if target["kind"] == "module":
        text = "\n".join(info.lines)
    else:
        text = "\n".join(info.lines[target["lineno"] - 1 : target["end_lineno"]])
    if len(text) > MAX_SOURCE_CHARS:
        text = text[:MAX_SOURCE_CHARS] + "\n# … (truncated)"
    return text


def import_hint(target: dict[str, Any]) -> str:
    module, qualname = target["module"], target["qualname"]
    if target["kind"] == "module":
        return f"import {module}"
    top = qualname.split(".")[0]
    hint = f"from {module} import {top}"
    return hint + (f"  # then {qualname}" if "." in qualname else "")


def subtask_context(
    sources: Sources,
    targets: list[dict[str, Any]],
    criterion: dict[str, Any] | None,
    intents: list[str] = (),
    feedback: str = "",
) -> str:
    """The generator's user turn for one subtask."""
    parts: list[str] = []
    if criterion:
        parts.append(f"Acceptance criterion {criterion['id']}:\n{criterion['text'].strip()}")
    else:
        parts.append(
            "No acceptance criterion names this code. Write tests for the behaviour its "
            "docstrings and names promise; keep expectations to what they state."
        )
    if intents:
        parts.append("Test intents from the plan:\n" + "\n".join(f"- {i}" for i in intents))
    code = ["Code under test (changed on the feature branch):"]
    signatures: dict[str, list[str]] = {}
    for t in targets:
        lines = f"lines {t['lineno']}-{t['end_lineno']}" if t["kind"] != "module" else "module"
        code.append(
            f"### {t['module']}.{t['qualname']} ({t['kind']}, {t['path']} {lines})\n"
            f"Import: {import_hint(t)}\n```python\n{target_source(sources, t)}\n```"
        )
        for mod, sig in used_signatures(sources, t):
            if sig not in signatures.setdefault(mod, []):
                signatures[mod].append(sig)
    parts.append("\n\n".join(code))
    if signatures:
        blocks = [
            f"# module {mod}\n" + "\n\n".join(sigs) for mod, sigs in sorted(signatures.items())
        ]
        parts.append(
            "Public signatures of what that code uses (bodies omitted):\n```python\n"
            + "\n\n".join(blocks)
            + "\n```"
        )
    if feedback:
        parts.append(feedback)
    parts.append("Write the tests as one pytest module and call `submit_tests` with it.")
    return "\n\n".join(parts)


def plan_context(sources: Sources, plan: dict[str, Any]) -> str:
    """The planner's user turn: the criteria and the changed targets' signatures."""
    crits = "\n\n".join(f"{c['id']}: {c['text'].strip()}" for c in plan.get("criteria", []))
    targets = []
    for t in plan.get("targets", []):
        sig = ""
        info = sources.module(t["module"])
        if info is not None and t["kind"] != "module":
            node = _find(info.tree, t["qualname"])
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                sig = function_signature(node, "    ")
            elif isinstance(node, ast.ClassDef):
                sig = "    " + class_signature(node).replace("\n", "\n    ")
        line = f"- {t['target']} ({t['kind']} in {t['module']})"
        targets.append(line + (f"\n{sig}" if sig else ""))
    return (
        f"Acceptance criteria:\n\n{crits or '(none)'}\n\nChanged targets:\n"
        + "\n".join(targets)
        + "\n\nCall `submit_plan` with the mapping."
    )
