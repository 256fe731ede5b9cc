"""Flake lint: what makes a generated test flaky, found on its AST before it ever runs.

Rules (each finding names its rule; `reject` findings make the test unusable, `flag`
findings let it run but put it in front of a person):

  FL001 reject  asserts on the order of a set, a frozenset or a dict view
  FL002 flag    sleeps (time.sleep, asyncio.sleep with a non-zero delay)
  FL003 reject  reads the wall clock or a timer (time.time, datetime.now, date.today, ...)
  FL004 reject  unseeded randomness (random.* without random.seed, uuid4, os.urandom, secrets)
  FL005 reject  network or sockets (socket, requests, httpx, urllib.request, http.client, ...)
  FL006 flag    writes files outside tmp_path (open(..., "w") / Path(...).write_text on a
                literal path, os.remove, shutil.rmtree, ...)
  FL007 reject  shares mutable module state between tests (a module-level list, dict or set
                that a test changes)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from agents_app.guards.astutil import dotted

RULES = {
    "FL001": ("reject", "asserts on the order of an unordered collection"),
    "FL002": ("flag", "sleeps"),
    "FL003": ("reject", "depends on the wall clock"),
    "FL004": ("reject", "uses unseeded randomness"),
    "FL005": ("reject", "uses the network"),
    "FL006": ("flag", "writes files outside tmp_path"),
    "FL007": ("reject", "shares mutable module state between tests"),
}

_CLOCK = {
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"),
    ("time", "localtime"), ("time", "gmtime"), ("datetime", "now"), ("datetime", "utcnow"),
    ("datetime", "today"), ("date", "today"),
}  # fmt: skip
_NETWORK_MODULES = {"socket", "requests", "httpx", "urllib.request", "http.client", "aiohttp",
                    "urllib3", "ftplib", "smtplib", "websocket", "websockets"}  # fmt: skip
_WRITE_CALLS = {("os", "remove"), ("os", "unlink"), ("os", "rmdir"), ("os", "makedirs"),
                ("os", "mkdir"), ("shutil", "rmtree"), ("shutil", "copy"),
                ("shutil", "move")}  # fmt: skip
_PATH_WRITES = {"write_text", "write_bytes", "mkdir", "unlink", "touch", "rmdir"}
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "add",
             "discard", "setdefault", "popitem"}  # fmt: skip
_UNORDERED_CALLS = {"set", "frozenset"}
_VIEWS = {"keys", "values", "items"}


@dataclass(frozen=True)
class Finding:
    rule: str
    test: str  # the test function's name, "" at module level
    line: int
    detail: str

    @property
    def verdict(self) -> str:
        return RULES[self.rule][0]

    @property
    def message(self) -> str:
        return f"{self.rule} {RULES[self.rule][1]}: {self.detail} (line {self.line})"


def lint(source: str) -> list[Finding]:
    """Every finding in a test file, in line order. Unparseable source has none (the
    pre-flight rejects it for that)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    shared = _module_mutables(tree)
    findings: list[Finding] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported(node):
                if name in _NETWORK_MODULES or name.split(".")[0] in _NETWORK_MODULES - {"urllib"}:
                    findings.append(Finding("FL005", "", node.lineno, f"imports {name}"))
    for func in _test_functions(tree):
        findings.extend(_lint_test(func, shared))
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _test_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            out.append(node)
    return out


def _module_mutables(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(
            node.value, ast.List | ast.Dict | ast.Set | ast.Call
        ):
            if isinstance(node.value, ast.Call) and dotted(node.value.func) not in (
                "list", "dict", "set", "collections.defaultdict", "defaultdict", "deque",
            ):  # fmt: skip
                continue
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _bindings(func: ast.AST) -> dict[str, ast.expr]:
    """Names the test binds exactly once (`eligible = {...}`), to what: an unordered
    collection or a literal path bound to a name first is still one."""
    seen: dict[str, list[ast.expr]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    seen.setdefault(t.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.NamedExpr | ast.With):
            # bound some other way too: not a single known value
            targets = (
                [i.optional_vars for i in node.items if i.optional_vars is not None]
                if isinstance(node, ast.With)
                else [node.target]
            )
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name):
                        seen.setdefault(t.id, []).extend([None, None])  # type: ignore[list-item]
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _resolve(node: ast.AST, env: dict[str, ast.expr] | None) -> ast.AST:
    for _ in range(5):  # a = b; b = {...}: a few hops, never a cycle
        if env and isinstance(node, ast.Name) and node.id in env:
            node = env[node.id]
        else:
            break
    return node


def _is_unordered(node: ast.AST, env: dict[str, ast.expr] | None = None) -> bool:
    node = _resolve(node, env)
    if isinstance(node, ast.Set | ast.SetComp):
        return True
    if isinstance(node, ast.Call):
        name = dotted(node.func)
        if name in _UNORDERED_CALLS:
            return True
        if isinstance(node.func, ast.Attribute) and node.func.attr in _VIEWS and not node.args:
            return True
    return False


def _ordered_view_of_unordered(node: ast.AST, env: dict[str, ast.expr] | None = None) -> bool:
    """list(s), tuple(s), str(s), repr(s), next(iter(s)), sorted? no: sorted is fine."""
    if isinstance(node, ast.Call) and dotted(node.func) in ("list", "tuple", "str", "repr"):
        return bool(node.args) and _is_unordered(node.args[0], env)
    if isinstance(node, ast.Call) and dotted(node.func) == "next" and node.args:
        inner = node.args[0]
        return (
            isinstance(inner, ast.Call)
            and dotted(inner.func) == "iter"
            and bool(inner.args)
            and _is_unordered(inner.args[0], env)
        )
    if isinstance(node, ast.Subscript):
        return _ordered_view_of_unordered(node.value, env)
    return False


def _lint_test(func: ast.FunctionDef | ast.AsyncFunctionDef, shared: set[str]) -> list[Finding]:
    out: list[Finding] = []
    name = func.name
    params = {a.arg for a in func.args.args}
    env = _bindings(func)
    seeded = any(
        isinstance(n, ast.Call) and dotted(n.func) in ("random.seed", "np.random.seed")
        for n in ast.walk(func)
    )
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            for part in ast.walk(node.test):
                if _ordered_view_of_unordered(part, env):
                    out.append(Finding("FL001", name, node.lineno, ast.unparse(part)[:80]))
                    break
        if isinstance(node, ast.Global):
            for g in node.names:
                if g in shared:
                    out.append(Finding("FL007", name, node.lineno, f"global {g}"))
        if not isinstance(node, ast.Call):
            continue
        called = dotted(node.func)
        parts = tuple(called.split("."))
        tail = parts[-2:] if len(parts) >= 2 else parts
        if called in ("time.sleep", "asyncio.sleep", "sleep"):
            delay = node.args[0] if node.args else None
            if not (isinstance(delay, ast.Constant) and delay.value == 0):
                out.append(Finding("FL002", name, node.lineno, f"{called}(...)"))
        elif tail in _CLOCK or called in ("datetime.datetime.now", "datetime.date.today"):
            out.append(Finding("FL003", name, node.lineno, f"{called}()"))
        elif (
            parts[0] == "random"
            and len(parts) == 2
            and parts[1] not in ("seed", "Random")
            and not seeded
        ) or (called in ("random.Random", "Random") and not node.args and not node.keywords):
            # random.Random(seed) is a seeded generator of its own: deterministic
            out.append(Finding("FL004", name, node.lineno, f"{called}(...)"))
        elif called in ("uuid.uuid4", "uuid4", "os.urandom") or parts[0] == "secrets":
            out.append(Finding("FL004", name, node.lineno, f"{called}(...)"))
        elif parts[0] in ("socket", "requests", "httpx", "aiohttp", "urllib3") or called in (
            "urllib.request.urlopen",
            "urlopen",
            "http.client.HTTPConnection",
        ):
            out.append(Finding("FL005", name, node.lineno, f"{called}(...)"))
        elif tail in _WRITE_CALLS:
            out.append(Finding("FL006", name, node.lineno, f"{called}(...)"))
        elif (
            called == "open"
            and _writes(node)
            and _literal_path(node.args[0] if node.args else None, params, env)
        ):
            out.append(Finding("FL006", name, node.lineno, "open(..., 'w')"))
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in _PATH_WRITES
            and _literal_path(node.func.value, params, env)
        ):
            out.append(Finding("FL006", name, node.lineno, f"{ast.unparse(node.func)[:60]}(...)"))
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in shared
            and node.func.value.id not in params
        ):
            out.append(
                Finding("FL007", name, node.lineno, f"{node.func.value.id}.{node.func.attr}()")
            )
    for node in ast.walk(func):  # item assignment to a module-level container
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.value, ast.Name)
                    and t.value.id in shared
                    and t.value.id not in params
                ):
                    out.append(Finding("FL007", name, node.lineno, f"{t.value.id}[...] = ..."))
    return out


def _writes(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    return (
        isinstance(mode, ast.Constant)
        and isinstance(mode.value, str)
        and any(c in mode.value for c in "wax+")
    )


def _literal_path(
    node: ast.AST | None, params: set[str], env: dict[str, ast.expr] | None = None
) -> bool:
    """A path spelled out in the test rather than built from tmp_path / tmpdir."""
    if node is None:
        return False
    node = _resolve(node, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return not any(isinstance(n, ast.Name) and n.id in params for n in ast.walk(node))
    if isinstance(node, ast.Call) and dotted(node.func) in ("Path", "pathlib.Path") and node.args:
        return _literal_path(node.args[0], params, env)
    if isinstance(node, ast.BinOp):  # Path("x") / "y"
        return _literal_path(node.left, params, env)
    return False
