"""The mutation operators: each one, the changed-line restriction, the noise rules, the
scope each mutant gets, and that every mutant is valid Python."""

from __future__ import annotations

import textwrap
import types

import pytest

from agents_app.lanes.mutation.operators import MutationSyntaxError, find_mutants


def mutants(src: str, lines: set[int] | None = None):
    source = textwrap.dedent(src).encode()
    found = find_mutants("m.py", source, lines)
    for m in found:  # every mutant is a valid patch of the original
        compile(m.patched(source), "m.py", "exec")
        assert source[m.start : m.start + m.length].decode() == m.original
    return found


def pairs(found) -> set[tuple[str, str, str]]:
    return {(m.mutator, m.original, m.replacement) for m in found}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("a + b", ("ArithmeticOperator", "+", "-")),
        ("a - b", ("ArithmeticOperator", "-", "+")),
        ("a * b", ("ArithmeticOperator", "*", "/")),
        ("a / b", ("ArithmeticOperator", "/", "*")),
        ("a // b", ("ArithmeticOperator", "//", "/")),
        ("a % b", ("ArithmeticOperator", "%", "*")),
        ("a ** b", ("ArithmeticOperator", "**", "*")),
        ("a << b", ("ArithmeticOperator", "<<", ">>")),
        ("a & b", ("ArithmeticOperator", "&", "|")),
        ("a < b", ("EqualityOperator", "<", "<=")),
        ("a < b", ("EqualityOperator", "<", ">=")),
        ("a <= b", ("EqualityOperator", "<=", "<")),
        ("a <= b", ("EqualityOperator", "<=", ">")),
        ("a > b", ("EqualityOperator", ">", ">=")),
        ("a >= b", ("EqualityOperator", ">=", ">")),
        ("a == b", ("EqualityOperator", "==", "!=")),
        ("a != b", ("EqualityOperator", "!=", "==")),
        ("a is b", ("EqualityOperator", "is", "is not")),
        ("a is not b", ("EqualityOperator", "is not", "is")),
        ("a in b", ("EqualityOperator", "in", "not in")),
        ("a not in b", ("EqualityOperator", "not in", "in")),
        ("a and b", ("LogicalOperator", "and", "or")),
        ("a or b", ("LogicalOperator", "or", "and")),
        ("not a", ("BooleanLiteral", "not a", "a")),
        ("True", ("BooleanLiteral", "True", "False")),
        ("False", ("BooleanLiteral", "False", "True")),
        ("-a", ("UnaryOperator", "-a", "a")),
        ("~a", ("UnaryOperator", "~a", "a")),
        ("7", ("NumberLiteral", "7", "8")),
        ("0", ("NumberLiteral", "0", "1")),
        ("2.5", ("NumberLiteral", "2.5", "3.5")),
        ("0x10", ("NumberLiteral", "0x10", "17")),
        ("b if a else c", ("ConditionalExpression", "a", "True")),
        ("b if a else c", ("ConditionalExpression", "a", "False")),
        ("min(a, b)", ("MethodExpression", "min", "max")),
        ("any(a)", ("MethodExpression", "any", "all")),
        ("a.lower()", ("MethodExpression", "lower", "upper")),
        ("a.startswith(b)", ("MethodExpression", "startswith", "endswith")),
    ],
)
def test_each_expression_operator(expr, expected):
    found = mutants(f"def f(a, b, c):\n    return {expr}\n")
    assert expected in pairs(found)
    assert all(m.scope == "function" and m.qualname == "f" for m in found)


def test_statement_operators():
    found = mutants(
        """
        def f(a, items):
            total = 0
            total += a
            total -= 1
            if a > 1:
                return total
            elif a:
                pass
            while a < 3:
                a += 1
                if a == 2:
                    break
                continue
            try:
                save(a)
            except KeyError:
                return None
            return total
        """
    )
    got = pairs(found)
    assert ("AssignmentOperator", "+=", "-=") in got
    assert ("AssignmentOperator", "-=", "+=") in got
    assert ("ConditionalExpression", "a > 1", "True") in got
    assert ("ConditionalExpression", "a > 1", "False") in got
    assert ("ConditionalExpression", "a", "False") in got  # the elif
    assert ("ConditionalExpression", "a < 3", "False") in got
    # a while condition never becomes True: that would only hang the tests
    assert ("ConditionalExpression", "a < 3", "True") not in got
    assert ("ReturnValue", "total", "None") in got
    assert ("StatementRemoval", "save(a)", "None") in got
    assert ("ExceptionHandler", "KeyError", "()") in got
    assert ("LoopControl", "break", "continue") in got
    assert ("LoopControl", "continue", "break") in got
    # `return None` has no return-value mutant
    assert not [m for m in found if m.mutator == "ReturnValue" and m.original == "None"]


def test_only_the_changed_lines_are_mutated():
    src = """
    def f(a):
        x = a + 1
        y = a - 2
        return x * y
    """
    everything = mutants(src)
    only = mutants(src, {4})
    assert {m.line for m in everything} == {3, 4, 5}
    assert {m.line for m in only} == {4}
    assert pairs(only) == {
        ("ArithmeticOperator", "-", "+"),
        ("NumberLiteral", "2", "3"),
    }
    assert mutants(src, set()) == []


def test_a_multi_line_expression_counts_when_any_of_its_lines_changed():
    src = """
    def f(a, b):
        return (a +
                b)
    """
    only = mutants(src, {4})
    # the return value spans lines 3-4; the `+` sits on line 3 and is not mutated
    assert pairs(only) == {("ReturnValue", "(a +\n            b)", "None")} or pairs(only) == {
        ("ReturnValue", "a +\n            b", "None")
    }


def test_no_noise_strings_docstrings_annotations_logging_asserts_guards():
    found = mutants(
        '''
        """Module docstring 1 + 1."""
        import logging
        from typing import TYPE_CHECKING

        log = logging.getLogger(__name__)

        if TYPE_CHECKING:
            LIMIT = 1 + 2

        def f(a: int = 3, b: "int" = 4) -> dict[str, int]:
            """Docstring: a > b."""
            name: list[int] = []
            log.info("value %d", a + 1)
            logging.warning("x %s", a * 2)
            print(a - 1)
            self_logger = None
            assert a > 0, "positive"
            return "%s and %s" % (a, b)

        if __name__ == "__main__":
            f(1 + 1)
        '''
    )
    texts = {(m.original, m.replacement) for m in found}
    # only the default values are mutated; nothing inside strings, annotations,
    # logging/print calls, asserts or the guards
    assert texts == {("3", "4"), ("4", "5"), ('"%s and %s" % (a, b)', "None")}
    assert all(m.mutator != "StringLiteral" for m in found)


def test_pragma_no_mutate_makes_mutants_ignored():
    found = mutants(
        """
        def f(a):
            return a + 1  # pragma: no mutate
        """
    )
    assert found and all(m.ignored for m in found)


def test_scopes_module_class_decorator_default_and_function():
    source = textwrap.dedent(
        """
        RATE = 2

        def deco(n):
            def wrap(fn):
                return fn
            return wrap

        class Shop:
            LIMIT = 10

            @property
            @deco(3)
            def price(self, k=5):
                return self.LIMIT * RATE

            @price.setter
            def price(self, value):
                self.LIMIT = value - 1

        def outer(a):
            def inner(b):
                return a + b
            return inner
        """
    ).encode()
    found = {(m.original, m.replacement): m for m in find_mutants("m.py", source)}
    assert found[("2", "3")].scope == "module"  # RATE
    assert found[("10", "11")].scope == "module"  # class attribute
    assert found[("3", "4")].scope == "module"  # decorator argument
    assert found[("5", "6")].scope == "module"  # default value
    getter = found[("self.LIMIT * RATE", "None")]
    setter = found[("1", "2")]
    nested = found[("+", "-")]
    assert (getter.scope, getter.qualname) == ("function", "Shop.price")
    assert (setter.scope, setter.qualname) == ("function", "Shop.price")
    # the outermost function holds the nested one's code
    assert (nested.scope, nested.qualname) == ("function", "outer")
    # firstlineno is what Python reports for the function (its first decorator's line),
    # which tells the getter from the setter
    code = compile(source, "m.py", "exec")
    firsts = {}
    stack = [code]
    while stack:
        c = stack.pop()
        firsts.setdefault(c.co_qualname, set()).add(c.co_firstlineno)
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    assert getter.firstlineno in firsts["Shop.price"]
    assert setter.firstlineno in firsts["Shop.price"]
    assert getter.firstlineno != setter.firstlineno
    assert nested.firstlineno in firsts["outer"]


def test_ids_are_stable_and_unique():
    src = "def f(a):\n    return a + 1 - 2\n"
    first = mutants(src)
    again = mutants(src)
    assert [m.id for m in first] == [m.id for m in again]
    assert len({m.id for m in first}) == len(first)


def test_stryker_columns_are_one_based_and_end_exclusive():
    (m,) = [m for m in mutants("def f(a):\n    return a+1\n") if m.mutator == "ArithmeticOperator"]
    assert (m.line, m.column, m.end_line, m.end_column) == (2, 13, 2, 14)


def test_unparseable_source_is_a_clear_error():
    with pytest.raises(MutationSyntaxError, match="m.py"):
        find_mutants("m.py", b"def f(:\n")


def test_metadata_assignments_are_not_mutated():
    found = mutants(
        """
        TYPE_CHECKING = False
        __version__ = version = "1.2.3"
        __version_tuple__ = version_tuple = (1, 2, 3)
        __all__: list = ["f"]
        RATE = 3
        """
    )
    assert pairs(found) == {("NumberLiteral", "3", "4")}
    assert {m.line for m in found} == {6}
