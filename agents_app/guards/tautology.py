"""Tautologies: generated tests that cannot fail, found on their AST.

Rules (all `reject`, kind "tautological"), per test function:

  TA001  asserts nothing: no ``assert``, no ``pytest.raises`` / ``pytest.warns``, no
         ``assert*`` call (unittest or mock), no ``pytest.fail``, no local helper that
         asserts.
  TA002  every assertion is trivially true: ``assert True``, ``assert 1``, ``assert "x"``,
         ``assert (cond, "message")``, ``assert x == x``, ``assert isinstance(x, object)``,
         ``assert len(x) >= 0``, ``assert x or True``, ``assert x or not x``,
         ``self.assertTrue(True)``, ``pytest.raises(E)`` around a bare ``raise E``.
  TA003  no assertion looks at anything the project computed: they only check values the
         test set up itself (``expected = 5; assert expected == 5``) or a mock it
         configured (``m = Mock(return_value=3); assert m() == 3``).

Project code is whatever a test file imports from a module that is neither the standard
library nor a test framework (pytest, unittest, mock, hypothesis, ...), plus what it
defines or receives from outside: its own helpers, module-level objects built from
project code, fixtures, ``self``. Values derived from those, and objects handed to them
(a list the project appends to, a mock passed in), count as project values. When in
doubt a value counts as the project's, so TA003 only fires on tests that plainly never
look at project output.
"""

from __future__ import annotations

import ast
import builtins
import sys
import unittest

from agents_app.guards.astutil import call_name, dotted
from agents_app.guards.finding import GuardFinding

GUARD = "tautology"
KIND = "tautological"
RULES = {
    "TA001": ("reject", "asserts nothing"),
    "TA002": ("reject", "only asserts things that are always true"),
    "TA003": ("reject", "only asserts values the test computed itself"),
}

_TEST_FRAMEWORKS = {
    "pytest", "_pytest", "unittest", "mock", "pytest_mock", "hypothesis", "freezegun",
    "time_machine", "responses", "respx", "factory", "faker", "doctest",
}  # fmt: skip
_STDLIB = set(sys.stdlib_module_names) | {"__future__"}
_BUILTINS = set(dir(builtins))
_PURE_BUILTINS = {"len", "type", "str", "repr", "int", "float", "bool", "abs", "tuple", "list",
                  "sorted", "set", "frozenset", "dict", "id", "hash"}  # fmt: skip
# fixtures that hand the test nothing of the project's
_NEUTRAL_FIXTURES = {"tmp_path", "tmpdir", "tmp_path_factory", "tmpdir_factory"}
_TESTCASE_ATTRS = set(dir(unittest.TestCase))


def check(source: str) -> list[GuardFinding]:
    """Every tautology finding in a test file, one per test function at most, in line
    order. Unparseable source has none (the pre-flight rejects it for that)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    mod = _Module(tree)
    out: list[GuardFinding] = []
    for func in mod.tests:
        f = _check_test(func, mod)
        if f is not None:
            out.append(f)
    return sorted(out, key=lambda f: (f.line or 0, f.rule))


def _finding(rule: str, func: ast.FunctionDef | ast.AsyncFunctionDef, detail: str, line: int):
    return GuardFinding(
        guard=GUARD,
        rule=rule,
        kind=KIND,
        action=RULES[rule][0],
        message=f"{rule} {func.name} {RULES[rule][1]}: {detail} (line {line})",
        line=line,
        test=func.name,
    )


class _Module:
    """What the file's top level tells about names: which are the project's."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.project: set[str] = set()  # imported from the project (or unknown modules)
        self.neutral: set[str] = set()  # stdlib / test framework imports
        self.helpers: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: set[str] = set()
        self.imported_helpers: set[str] = set()  # from tests.helpers / conftest
        self.globals_neutral: set[str] = set()  # module constants built without project code
        self.tests: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self._helper_asserts: dict[str, bool] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    bound = a.asname or top
                    (self.neutral if _neutral_module(a.name) else self.project).add(bound)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                for a in node.names:
                    bound = a.asname or a.name
                    if node.level == 0 and _neutral_module(module):
                        self.neutral.add(bound)
                    else:
                        self.project.add(bound)
                        if _helper_module(module) or node.level:
                            self.imported_helpers.add(bound)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith("test"):
                    self.tests.append(node)
                else:
                    self.helpers[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes.add(node.name)
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        if item.name.startswith("test") and _test_class(node):
                            self.tests.append(item)
                        elif not item.name.startswith("test"):
                            self.helpers.setdefault(item.name, item)
        # module-level values: neutral when built from literals and neutral names only
        for _ in range(3):
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if not self._touches_project(node.value, set(), self.globals_neutral):
                        for t in targets:
                            for n in ast.walk(t):
                                if isinstance(n, ast.Name):
                                    self.globals_neutral.add(n.id)

    def helper_asserts(self, name: str) -> bool:
        """Does the file's own helper (function or method) assert, directly or through
        other helpers?"""
        if name not in self._helper_asserts:
            self._helper_asserts[name] = False  # recursion guard
            self._helper_asserts[name] = bool(_assertions(self.helpers[name], self))
        return self._helper_asserts[name]

    def is_project_name(self, name: str, local_neutral: set[str], local_project: set[str]) -> bool:
        if name in local_project:
            return True
        if name in local_neutral:
            return False
        if name in self.project or name in self.helpers or name in self.classes:
            return True
        if name in self.neutral or name in self.globals_neutral or name in _BUILTINS:
            return False
        return True  # unknown: a star import, a global built from project code

    def _touches_project(
        self, node: ast.AST, local_project: set[str], local_neutral: set[str]
    ) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and self.is_project_name(n.id, local_neutral, local_project):
                return True
        return False


def _test_class(node: ast.ClassDef) -> bool:
    """pytest's Test* classes and unittest's TestCase subclasses."""
    return (
        node.name.startswith("Test")
        or node.name.endswith(("Test", "Tests"))
        or any(dotted(b).endswith("TestCase") for b in node.bases)
    )


def _neutral_module(module: str) -> bool:
    top = module.split(".")[0]
    return top in _STDLIB or top in _TEST_FRAMEWORKS


def _helper_module(module: str) -> bool:
    parts = module.split(".")
    return any(p in ("tests", "test", "conftest", "testing", "helpers") for p in parts) or any(
        p.startswith("test_") for p in parts
    )


# -- assertions ----------------------------------------------------------------


class _Assertion:
    def __init__(self, node: ast.AST, checked: list[ast.AST], trivial: bool, line: int):
        self.node = node
        self.checked = checked  # the expressions whose value the assertion depends on
        self.trivial = trivial
        self.line = line


def _assertions(func: ast.AST, mod: _Module) -> list[_Assertion]:
    out: list[_Assertion] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            out.append(_Assertion(node, [node.test], _trivial_expr(node.test), node.lineno))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if dotted(exc) in ("AssertionError", "pytest.fail.Exception"):
                out.append(_Assertion(node, [ast.Name(id="__raised__")], False, node.lineno))
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and call_name(call) in (
                    "raises", "warns", "deprecated_call", "assertRaises", "assertRaisesRegex",
                    "assertWarns", "assertLogs",
                ):  # fmt: skip
                    trivial = bool(node.body) and all(
                        isinstance(s, ast.Raise | ast.Pass) for s in node.body
                    )
                    out.append(_Assertion(node, list(node.body), trivial, node.lineno))
        elif isinstance(node, ast.Call):
            name = call_name(node)
            if name in ("raises", "warns", "assertRaises", "assertWarns") and len(node.args) >= 2:
                out.append(_Assertion(node, node.args[1:], False, node.lineno))
            elif name == "fail" and dotted(node.func) in ("pytest.fail", "fail", "self.fail"):
                out.append(_Assertion(node, [ast.Name(id="__raised__")], False, node.lineno))
            elif name.startswith("assert") and name not in ("assertRaises", "assertWarns"):
                target: list[ast.AST] = list(node.args) + [kw.value for kw in node.keywords]
                if isinstance(node.func, ast.Attribute) and not _is_self(node.func.value):
                    # mock.assert_called_once_with(...): the arguments are expectations,
                    # what is checked is the mock
                    target = [node.func.value]
                elif _is_self_call(node) and name not in _TESTCASE_ATTRS:
                    target.append(ast.Name(id="__helper__"))  # the test class's own helper
                elif isinstance(node.func, ast.Name) and (
                    name in mod.project or name in mod.helpers
                ):
                    target.append(ast.Name(id="__helper__"))  # an assert helper of the tests
                out.append(_Assertion(node, target, _trivial_unittest(node), node.lineno))
            elif any(_is_self(a) for a in [*node.args, *(k.value for k in node.keywords)]):
                # the test case handed to other code, which asserts through it
                out.append(_Assertion(node, [ast.Name(id="__helper__")], False, node.lineno))
            elif _is_self_call(node) or isinstance(node.func, ast.Name):
                if name in mod.helpers and not _is_super_call(node):
                    asserts = mod.helper_asserts(name)
                elif _is_self_call(node):
                    # inherited from a base class we cannot see (not unittest's own)
                    asserts = name not in _TESTCASE_ATTRS
                else:
                    asserts = name in mod.imported_helpers
                if asserts:
                    out.append(_Assertion(node, [ast.Name(id="__helper__")], False, node.lineno))
    return out


def _is_super_call(call: ast.Call) -> bool:
    owner = call.func.value if isinstance(call.func, ast.Attribute) else None
    return (
        isinstance(owner, ast.Call)
        and isinstance(owner.func, ast.Name)
        and owner.func.id == "super"
    )


def _is_self_call(call: ast.Call) -> bool:
    """self.method(...), cls.method(...) or super().method(...)."""
    if not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        return owner.func.id == "super"
    return _is_self(owner)


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _pure(node: ast.AST) -> bool:
    """No calls but to pure builtins: the same text gives the same value."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and not (
            isinstance(n.func, ast.Name) and n.func.id in _PURE_BUILTINS
        ):
            return False
        if isinstance(n, ast.NamedExpr | ast.Await | ast.Yield | ast.YieldFrom):
            return False
    return True


def _const_truthy(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        return bool(node.elts if not isinstance(node, ast.Dict) else node.keys)
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and v.value for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _const_falsy(node.operand)
    return False


def _const_falsy(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return not node.value
    if isinstance(node, ast.Tuple | ast.List | ast.Dict | ast.Set):
        return not (node.elts if not isinstance(node, ast.Dict) else node.keys)
    return False


def _trivial_expr(test: ast.AST) -> bool:
    """True whatever the project does."""
    if _const_truthy(test):
        return True
    if isinstance(test, ast.BoolOp):
        if isinstance(test.op, ast.Or):
            if any(_trivial_expr(v) for v in test.values):
                return True
            texts = [ast.unparse(v) for v in test.values]
            for v in test.values:  # x or not x
                if (
                    isinstance(v, ast.UnaryOp)
                    and isinstance(v.op, ast.Not)
                    and ast.unparse(v.operand) in texts
                ):
                    return True
            return False
        return all(_trivial_expr(v) for v in test.values)
    if isinstance(test, ast.Compare):
        return all(
            _trivial_compare(left, op, right)
            for left, op, right in zip(
                [test.left, *test.comparators[:-1]], test.ops, test.comparators, strict=True
            )
        )
    if isinstance(test, ast.Call):
        name = test.func.id if isinstance(test.func, ast.Name) else ""
        if name == "isinstance" and len(test.args) == 2:
            kinds = test.args[1]
            elts = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
            return any(isinstance(e, ast.Name) and e.id == "object" for e in elts)
        if name == "callable" and test.args and isinstance(test.args[0], ast.Lambda):
            return True
        if name in ("bool", "any", "all") and test.args and _trivial_expr(test.args[0]):
            return name == "bool"
    return False


def _trivial_compare(left: ast.AST, op: ast.cmpop, right: ast.AST) -> bool:
    same = ast.unparse(left) == ast.unparse(right)
    if same and _pure(left) and isinstance(op, ast.Eq | ast.Is | ast.GtE | ast.LtE):
        return True
    if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
        try:
            return bool(_CMP[type(op)](left.value, right.value))
        except (KeyError, TypeError):
            return False
    # len(x) >= 0, abs(x) >= 0
    if (
        isinstance(op, ast.GtE)
        and isinstance(left, ast.Call)
        and isinstance(left.func, ast.Name)
        and left.func.id in ("len", "abs")
        and isinstance(right, ast.Constant)
        and right.value == 0
    ):
        return True
    if (  # x is not None where x is a literal
        isinstance(op, ast.IsNot)
        and isinstance(right, ast.Constant)
        and right.value is None
        and isinstance(left, ast.Constant | ast.List | ast.Tuple | ast.Dict | ast.JoinedStr)
    ):
        return True
    return False


_CMP = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip


def _trivial_unittest(call: ast.Call) -> bool:
    name = call_name(call)
    args = call.args
    if name == "assertTrue" and args:
        return _trivial_expr(args[0])
    if name == "assertFalse" and args:
        return _const_falsy(args[0])
    if name in ("assertEqual", "assertEquals", "assertIs") and len(args) >= 2:
        return ast.unparse(args[0]) == ast.unparse(args[1]) and _pure(args[0])
    if name == "assertIsInstance" and len(args) >= 2:
        return isinstance(args[1], ast.Name) and args[1].id == "object"
    if name == "assertIsNotNone" and args:
        return isinstance(args[0], ast.Constant) and args[0].value is not None
    return False


# -- data flow -----------------------------------------------------------------

_MOCK_FACTORIES = {"Mock", "MagicMock", "AsyncMock", "NonCallableMock", "NonCallableMagicMock"}
_MARKERS = {"__raised__", "__helper__", "__patched__", "__import__", "__local_def__"}


class _Flow:
    """Which local names of one test hold project values (flow-insensitive, to a fixpoint).

    A name holds a project value when it is bound to an expression that uses one, and
    when a project value is handed to it (``seen.append(invoice.total)``) or it is handed
    to project code (``invoice.subscribe(seen)``). Calling a mock the test configured
    itself gives a value the test chose, whatever the arguments.
    """

    def __init__(self, func: ast.FunctionDef | ast.AsyncFunctionDef, mod: _Module) -> None:
        self.mod = mod
        a = func.args
        params = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
        params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
        self.project = {p for p in params if p not in _NEUTRAL_FIXTURES}
        self.mocks: set[str] = set()
        bindings = self._bindings(func)
        assigned = {n for names, _ in bindings for n in names}
        self.neutral = (assigned | (params & _NEUTRAL_FIXTURES)) - self.project
        calls = [n for n in ast.walk(func) if isinstance(n, ast.Call)]
        # a function or class defined in the test may be run by project code (a callback,
        # a visitor subclass): whatever it touches counts as handed to the project
        for node in ast.walk(func):
            if node is not func and isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ):
                self._mark([n.id for n in ast.walk(node) if isinstance(n, ast.Name)])
        changed = True
        while changed:
            changed = False
            for names, value in bindings:
                if value is not None and self.touches(value):
                    changed |= self._mark(names)
            for call in calls:
                args = [*call.args, *(kw.value for kw in call.keywords)]
                if self._is_project_call(call):  # handed to project code
                    changed |= self._mark(_names(args))
                elif any(self.touches(arg) for arg in args):  # handed a project value
                    root = _root(call.func)
                    if root is not None and root not in self.mocks:
                        changed |= self._mark([root])

    def _bindings(self, func: ast.AST) -> list[tuple[list[str], ast.AST | None]]:
        out: list[tuple[list[str], ast.AST | None]] = []
        for node in ast.walk(func):
            if node is func:
                continue
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = _names(targets)
                value = node.value
                if (
                    isinstance(value, ast.Call)
                    and dotted(value.func).rsplit(".", 1)[-1] in _MOCK_FACTORIES
                    and isinstance(node, ast.Assign)
                ):
                    self.mocks |= set(names)
                out.append((names, value))
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                out.append((_names([node.target]), node.iter))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                # patch(...) / mock.patch.object(...) replace project code: their mocks count
                ctx = node.context_expr
                value: ast.AST | None = ctx
                if isinstance(ctx, ast.Call) and "patch" in dotted(ctx.func).split("."):
                    value = ast.Name(id="__patched__")
                out.append((_names([node.optional_vars]), value))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                out.append(([node.name], ast.Name(id="__raised__")))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append(([node.name], ast.Name(id="__local_def__")))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    module = alias.name if isinstance(node, ast.Import) else (node.module or "")
                    level = node.level if isinstance(node, ast.ImportFrom) else 0
                    neutral = level == 0 and _neutral_module(module)
                    out.append(([name], None if neutral else ast.Name(id="__import__")))
        return out

    def _mark(self, names: list[str]) -> bool:
        changed = False
        for n in names:
            if n in self.neutral:
                self.neutral.discard(n)
                self.project.add(n)
                self.mocks.discard(n)
                changed = True
        return changed

    def touches(self, node: ast.AST) -> bool:
        """Does the value of ``node`` depend on project code?"""
        if isinstance(node, ast.Call):
            root = _root(node.func)
            if root is not None and root in self.mocks:
                return False  # what a configured mock returns is the test's own choice
        if isinstance(node, ast.Name):
            return node.id in _MARKERS or self.mod.is_project_name(
                node.id, self.neutral, self.project
            )
        return any(self.touches(child) for child in ast.iter_child_nodes(node))

    def _is_project_call(self, call: ast.Call) -> bool:
        f = call.func
        while isinstance(f, ast.Attribute | ast.Subscript):
            f = f.value
        if isinstance(f, ast.Call):
            return self._is_project_call(f) or self.touches(f)
        return isinstance(f, ast.Name) and (
            f.id in _MARKERS or self.mod.is_project_name(f.id, self.neutral, self.project)
        )


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _names(targets: list[ast.AST]) -> list[str]:
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _check_test(func: ast.FunctionDef | ast.AsyncFunctionDef, mod: _Module) -> GuardFinding | None:
    found = _assertions(func, mod)
    if not found:
        return _finding("TA001", func, "no assert, pytest.raises or assert* call", func.lineno)
    if all(a.trivial for a in found):
        first = found[0]
        shown = ast.unparse(first.node).splitlines()[0][:80]
        return _finding("TA002", func, f"`{shown}` is always true", first.line)
    flow = _Flow(func, mod)
    if not any(flow.touches(c) for a in found for c in a.checked):
        first = next(a for a in found if not a.trivial)
        shown = ast.unparse(first.node).splitlines()[0][:80]
        return _finding(
            "TA003",
            func,
            f"`{shown}` checks only values the test set up itself, never the project's",
            first.line,
        )
    return None
