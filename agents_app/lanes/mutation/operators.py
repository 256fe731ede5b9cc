"""The mutants of a file's changed lines, found with libcst (parsing only, nothing runs).

A mutant is a byte-span patch of the original source: `replacement` instead of the
`length` bytes at `start`. The operators, named as Stryker names its mutators:

  ArithmeticOperator   + -  * /  // /  % *  ** *  << >>  & |  ^ &
  AssignmentOperator   the same swaps in augmented assignments (+= -=, ...)
  EqualityOperator     < <= >= ...: boundary and negation; == !=; is / is not; in / not in
  LogicalOperator      and / or
  BooleanLiteral       True / False; `not x` -> `x`
  UnaryOperator        `-x` -> `x`, `~x` -> `x`
  ConditionalExpression  if/elif/ternary conditions -> True and False; while -> False
  NumberLiteral        n -> n + 1 (0 -> 1, 2.5 -> 3.5)
  ReturnValue          `return expr` -> `return None`
  StatementRemoval     a call used as a statement -> `None` (the call is removed)
  ExceptionHandler     `except E:` -> `except ():` (the handler never matches)
  LoopControl          break / continue
  MethodExpression     min / max, any / all, lower / upper, startswith / endswith, ...

No noise by default: strings are never mutated (so docstrings and messages are not), and
nothing inside annotations, logging / print / warnings calls, assert statements,
`if TYPE_CHECKING:` or `if __name__ == "__main__":` blocks, or assignments to metadata
(dunder names such as `__version__`, `__all__`; `TYPE_CHECKING = False`) is. A line carrying
`# pragma: no mutate` yields its mutants as Ignored.

Each mutant knows its scope: inside a function body it is `function` (the runner swaps
the code of that live function, the outermost one enclosing the mutant, in a forked warm
process); anywhere else (module or class body, decorators, default values) it is
`module` (the runner imports the mutated module afresh).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import libcst as cst
from libcst.metadata import ByteSpanPositionProvider, MetadataWrapper, PositionProvider

PRAGMA = "pragma: no mutate"

_ARITH = {
    "Add": "-",
    "Subtract": "+",
    "Multiply": "/",
    "Divide": "*",
    "FloorDivide": "/",
    "Modulo": "*",
    "Power": "*",
    "LeftShift": ">>",
    "RightShift": "<<",
    "BitAnd": "|",
    "BitOr": "&",
    "BitXor": "&",
}
_AUG = {
    "AddAssign": "-=",
    "SubtractAssign": "+=",
    "MultiplyAssign": "/=",
    "DivideAssign": "*=",
    "FloorDivideAssign": "/=",
    "ModuloAssign": "*=",
    "PowerAssign": "*=",
    "LeftShiftAssign": ">>=",
    "RightShiftAssign": "<<=",
    "BitAndAssign": "|=",
    "BitOrAssign": "&=",
    "BitXorAssign": "&=",
}
# boundary first, then negation
_COMPARE = {
    "LessThan": ("<=", ">="),
    "LessThanEqual": ("<", ">"),
    "GreaterThan": (">=", "<="),
    "GreaterThanEqual": (">", "<"),
    "Equal": ("!=",),
    "NotEqual": ("==",),
    "Is": ("is not",),
    "IsNot": ("is",),
    "In": ("not in",),
    "NotIn": ("in",),
}
_SWAP_NAMES = {"min": "max", "max": "min", "any": "all", "all": "any"}
_SWAP_METHODS = {
    "lower": "upper",
    "upper": "lower",
    "startswith": "endswith",
    "endswith": "startswith",
    "lstrip": "rstrip",
    "rstrip": "lstrip",
    "ljust": "rjust",
    "rjust": "ljust",
    "index": "rindex",
    "rindex": "index",
    "find": "rfind",
    "rfind": "find",
    "popleft": "pop",
    "appendleft": "append",
}
_LOGGERS = {"log", "logger", "logging", "_log", "_logger", "LOG", "LOGGER", "warnings"}


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str  # repository-relative
    mutator: str
    start: int  # byte offset of the replaced span in the original file
    length: int  # bytes replaced
    original: str
    replacement: str
    line: int  # 1-based; columns 1-based, the end exclusive (Stryker's convention)
    column: int
    end_line: int
    end_column: int
    scope: str  # "function" | "module"
    qualname: str  # the outermost enclosing function, "" at module scope
    firstlineno: int  # that function's first line (its first decorator's), 0 at module scope
    ignored: str = ""  # why it is not run, "" when it is

    @property
    def description(self) -> str:
        return f"{self.mutator}: `{_short(self.original)}` -> `{_short(self.replacement)}`"

    def patched(self, source: bytes) -> bytes:
        return source[: self.start] + self.replacement.encode() + source[self.start + self.length :]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class MutationSyntaxError(ValueError):
    """The file is not Python that libcst can parse."""


def find_mutants(path: str, source: bytes, lines: set[int] | None = None) -> list[Mutant]:
    """The mutants of `source` whose replaced span touches one of `lines` (all when None).

    Sorted by position; two operators producing the same patch yield one mutant.
    """
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise MutationSyntaxError(f"{path}: {exc}") from exc
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    finder = _Finder(path, source, lines)
    wrapper.visit(finder)
    seen: set[tuple[int, int, str]] = set()
    out: list[Mutant] = []
    for m in sorted(finder.found, key=lambda m: (m.start, m.length, m.mutator, m.replacement)):
        key = (m.start, m.length, m.replacement)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


class _Finder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider, ByteSpanPositionProvider)

    def __init__(self, path: str, source: bytes, lines: set[int] | None):
        super().__init__()
        self.path = path
        self.source = source
        self.lines = lines
        self.source_lines = source.decode("utf-8", "replace").splitlines()
        self.found: list[Mutant] = []
        # enclosing scopes: ("class" | "function", name, first line)
        self.scopes: list[tuple[str, str, int]] = []

    # -- scopes ---------------------------------------------------------------------

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.scopes.append(("class", node.name.value, 0))

    def leave_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        first = self._pos(node).start.line
        for d in node.decorators:
            first = min(first, self._pos(d).start.line)
        self.scopes.append(("function", node.name.value, first))

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def _scope(self) -> tuple[str, str, int]:
        names: list[str] = []
        for kind, name, first in self.scopes:
            names.append(name)
            if kind == "function":
                return "function", ".".join(names), first
        return "module", "", 0

    # -- noise: subtrees never mutated ---------------------------------------------

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        return False

    def visit_Assert(self, node: cst.Assert) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> bool:
        return not any(_is_metadata(t.target) for t in node.targets)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        return not _is_metadata(node.target)

    def visit_Call(self, node: cst.Call) -> bool:
        if _is_logging(node):
            return False
        func = node.func
        if isinstance(func, cst.Name) and func.value in _SWAP_NAMES:
            self._add(func, _SWAP_NAMES[func.value], "MethodExpression")
        elif isinstance(func, cst.Attribute) and func.attr.value in _SWAP_METHODS:
            self._add(func.attr, _SWAP_METHODS[func.attr.value], "MethodExpression")
        return True

    def visit_If(self, node: cst.If) -> bool:
        if _is_guard(node.test):
            return False
        self._condition(node.test, ("True", "False"))
        return True

    # -- operators -----------------------------------------------------------------

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        op = type(node.operator).__name__
        if op == "Modulo" and isinstance(node.left, _STRINGS):
            return  # "%s" % x is formatting, not arithmetic
        if op in _ARITH:
            self._add(node.operator, _ARITH[op], "ArithmeticOperator")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        op = type(node.operator).__name__
        if op in _AUG:
            self._add(node.operator, _AUG[op], "AssignmentOperator")

    def visit_Comparison(self, node: cst.Comparison) -> None:
        for target in node.comparisons:
            for repl in _COMPARE.get(type(target.operator).__name__, ()):
                self._add(target.operator, repl, "EqualityOperator")

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        repl = "or" if isinstance(node.operator, cst.And) else "and"
        self._add(node.operator, repl, "LogicalOperator")

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        operand = self._code(node.expression)
        if isinstance(node.operator, cst.Not):
            self._add(node, operand, "BooleanLiteral")
        elif isinstance(node.operator, (cst.Minus, cst.BitInvert)):
            self._add(node, operand, "UnaryOperator")

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in ("True", "False"):
            self._add(node, "False" if node.value == "True" else "True", "BooleanLiteral")

    def visit_Integer(self, node: cst.Integer) -> None:
        try:
            value = int(node.value.replace("_", ""), 0)
        except ValueError:
            return
        self._add(node, str(value + 1), "NumberLiteral")

    def visit_Float(self, node: cst.Float) -> None:
        try:
            value = float(node.value.replace("_", ""))
        except ValueError:
            return
        self._add(node, repr(value + 1.0), "NumberLiteral")

    def visit_While(self, node: cst.While) -> None:
        # `while True` would hang every test that reaches it; only the loop that never runs
        self._condition(node.test, ("False",))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._condition(node.test, ("True", "False"))

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if value is not None and not (isinstance(value, cst.Name) and value.value == "None"):
            self._add(value, "None", "ReturnValue")

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        call = value.expression if isinstance(value, cst.Await) else value
        if isinstance(call, cst.Call) and not _is_logging(call):
            self._add(value, "None", "StatementRemoval")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.type is not None:
            self._add(node.type, "()", "ExceptionHandler")

    def visit_Break(self, node: cst.Break) -> None:
        self._add(node, "continue", "LoopControl")

    def visit_Continue(self, node: cst.Continue) -> None:
        self._add(node, "break", "LoopControl")

    # -- helpers -------------------------------------------------------------------

    def _condition(self, test: cst.BaseExpression, replacements: tuple[str, ...]) -> None:
        current = test.value if isinstance(test, cst.Name) else None
        for repl in replacements:
            if repl != current:
                self._add(test, repl, "ConditionalExpression")

    def _pos(self, node: cst.CSTNode) -> Any:
        return self.get_metadata(PositionProvider, node)

    def _code(self, node: cst.CSTNode) -> str:
        span = self.get_metadata(ByteSpanPositionProvider, node)
        return self.source[span.start : span.start + span.length].decode()

    def _add(self, node: cst.CSTNode, replacement: str, mutator: str) -> None:
        pos = self._pos(node)
        first, last = pos.start.line, pos.end.line
        if self.lines is not None and not any(n in self.lines for n in range(first, last + 1)):
            return
        span = self.get_metadata(ByteSpanPositionProvider, node)
        original = self.source[span.start : span.start + span.length].decode()
        if original == replacement:
            return
        scope, qualname, firstlineno = self._scope()
        ignored = ""
        if first - 1 < len(self.source_lines) and PRAGMA in self.source_lines[first - 1]:
            ignored = f"the line says `# {PRAGMA}`"
        digest = hashlib.sha1(
            f"{self.path}\0{span.start}\0{span.length}\0{mutator}\0{replacement}\0{original}".encode(),
            usedforsecurity=False,
        ).hexdigest()[:12]
        self.found.append(
            Mutant(
                id=digest,
                path=self.path,
                mutator=mutator,
                start=span.start,
                length=span.length,
                original=original,
                replacement=replacement,
                line=first,
                column=pos.start.column + 1,
                end_line=last,
                end_column=pos.end.column + 1,
                scope=scope,
                qualname=qualname,
                firstlineno=firstlineno,
                ignored=ignored,
            )
        )


_STRINGS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)


def _dotted(node: cst.BaseExpression) -> list[str]:
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
    return list(reversed(parts))


def _is_logging(call: cst.Call) -> bool:
    """print(...), warnings.warn(...), logging.x(...), log.x(...), self.logger.x(...)."""
    parts = _dotted(call.func)
    if parts == ["print"]:
        return True
    return len(parts) >= 2 and parts[-2] in _LOGGERS


def _is_metadata(target: cst.BaseExpression) -> bool:
    """`__version__ = ...`, `__all__ = ...`, `TYPE_CHECKING = False`: not behaviour."""
    if not isinstance(target, cst.Name):
        return False
    name = target.value
    return (name.startswith("__") and name.endswith("__")) or name == "TYPE_CHECKING"


def _is_guard(test: cst.BaseExpression) -> bool:
    """`if TYPE_CHECKING:` and `if __name__ == "__main__":` blocks hold no behaviour."""
    if _dotted(test)[-1:] == ["TYPE_CHECKING"]:
        return True
    if isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name):
        return test.left.value == "__name__"
    return False
