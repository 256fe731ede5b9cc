"""The spec-fidelity check, rule by rule, on tests that bend the spec and tests that do not."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from agents_app.guards import CLASSES
from agents_app.guards.fidelity import RULES, check
from agents_app.spec.criteria import parse_spec_criteria

SPEC = Path(__file__).resolve().parent.parent / "examples/billable/spec/001-discount-codes/spec.md"
AC = {c.label: c.text for c in parse_spec_criteria(SPEC.read_text(encoding="utf-8"))}

NORMALIZE = "`normalize_code(' save10 ')` returns `'SAVE10'`."


def found(src: str, criterion: str = "") -> list:
    source = textwrap.dedent(src)
    ast.parse(source)  # "no findings" must never come from a syntax error
    return check(source, criterion)


def rules(src: str, criterion: str = "") -> set[str]:
    return {f.rule for f in found(src, criterion)}


# -- SF001 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "def test_a():\n    # the spec is wrong here: 15 % of 333 is 49\n    assert f() == 49\n",
        "def test_a():\n    # AC#3's example is outdated\n    assert f() == 49\n",
        "def test_a():\n    # The acceptance criterion seems to be a typo.\n    assert f() == 1\n",
        "def test_a():\n    # typo in the criterion: it means 49\n    assert f() == 49\n",
        "def test_a():\n    # the implementation actually returns 49\n    assert f() == 49\n",
        "def test_a():\n    # implementation returns 49, not 50 as the spec says\n"
        "    assert f() == 49\n",
        "def test_a():\n    # contrary to the spec, rounding is down\n    assert f() == 49\n",
        "def test_a():\n    # ignore the spec here\n    assert f() == 49\n",
        "def test_a():\n    # despite the acceptance criterion, 0 is allowed\n    assert f(0)\n",
        "def test_a():\n    # we assert the actual behaviour\n    assert f() == 49\n",
        "def test_a():\n    # expected value adjusted to match the implementation\n"
        "    assert f() == 49\n",
        "def test_a():\n    # the spec says 50, but the code really gives 49\n"
        "    assert f() == 49\n",
        # a sentence over two comment lines
        "def test_a():\n    # The spec says 15 % of 333 is 50, but the\n"
        "    # implementation actually truncates to 49.\n    assert f() == 49\n",
        # docstring
        'def test_a():\n    """Second code replaces the first.\n\n    The criterion says this'
        ' raises, but that looks outdated.\n    """\n    assert f() == 1\n',
        # assertion message
        "def test_a():\n    assert f() == 1, 'AC#3 is out of date: the minimum is not enforced'\n",
        # xfail reason, pytest.fail, unittest msg
        "import pytest\n@pytest.mark.xfail(reason='spec typo: ties go to the later one')\n"
        "def test_a():\n    assert f() is g\n",
        "import pytest\ndef test_a():\n    if f() != 1:\n"
        "        pytest.fail('the docs are wrong, f returns 2')\n",
        "class T:\n    def test_a(self):\n"
        "        self.assertEqual(f(), 2, msg='the requirement is incorrect')\n",
    ],
)
def test_sf001_fires(src):
    out = found(src)
    assert [f.rule for f in out] == ["SF001"], out
    f = out[0]
    assert f.guard == "fidelity" and f.kind == "spec-bending" and f.action == "reject"
    assert f.kind in CLASSES
    assert f.message.startswith("SF001 ") and f"(line {f.line})" in f.message
    assert f.test == "test_a"


@pytest.mark.parametrize(
    "text",
    [
        "AC#3: the spec requires rounding half up",
        "The spec is explicit: 15 % of 333 is 49.95, which rounds to 50, not 49.",
        "AC#1: a code of the wrong length raises DiscountError",
        "the criterion says a code is wrong when it has 3 characters",
        "AC#1: a code with a typo in it is rejected",
        "the spec is not wrong here, the old docs were",
        "apply_discount actually returns the amount, not the invoice",
        "check the actual result against the expected one",
        "Per the spec, removing the discount brings the old summary back",
        "as the requirements say, codes are upper case",
        "AC#7: the summary is unchanged otherwise",
        "the spec's example, ' spring-25 ' -> 'SPRING-25'",
        "a code that does not match any active discount",
    ],
)
def test_sf001_leaves_neutral_mentions_alone(text):
    src = f'def test_a():\n    """{text}"""\n    # {text}\n    assert f() == 1, "{text}"\n'
    assert found(src) == []


def test_strings_used_as_data_are_not_read():
    src = "def test_a():\n    assert describe('the spec is wrong') == 'the spec is wrong'\n"
    assert found(src) == []


# -- SF002: values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "assert normalize_code(' save10 ') == 'save10'",
        'assert normalize_code(" save10 ") == "SAVE 10"',  # other quotes, same call
        "assert 'save10' == normalize_code(' save10 ')",
        "assert normalize_code( ' save10 ' ) != 'SAVE10'",
        "result = normalize_code(' save10 ')\n    assert result == 'Save10'",
        "assert discounts.normalize_code(' save10 ') == 'save10'",
        "assert normalize_code(' save10 ') is None",
    ],
)
def test_sf002_contradicting_value(body):
    out = found(f"def test_a():\n    {body}\n", NORMALIZE)
    assert [f.rule for f in out] == ["SF002"], out
    assert "'SAVE10'" in out[0].message and "criterion" in out[0].message


def test_sf002_message_names_both_literals_and_the_line():
    src = "from billable.discounts import normalize_code\n\n\ndef test_a():\n" + ("    x = 1\n" * 2)
    src += "    assert normalize_code(' save10 ') == 'save10'\n"
    (f,) = found(src, NORMALIZE)
    assert f.message.startswith(
        "SF002 asserts normalize_code(' save10 ') == 'save10' but the criterion says it "
        "returns 'SAVE10'"
    )
    assert f.line == 7 and f.message.endswith("(line 7)") and f.test == "test_a"


def test_sf002_unittest_assert_equal():
    src = """
    class T:
        def test_a(self):
            self.assertEqual(normalize_code(' save10 '), 'save10')
    """
    assert rules(src, NORMALIZE) == {"SF002"}


@pytest.mark.parametrize(
    ("criterion", "body"),
    [
        ("`discount_amount(...)` is `500`.", "assert discount_amount(6000, d) == 1000"),
        ("The total `invoice_total(lines)` should be 1250.", "assert invoice_total(x) == 1200"),
        (
            "`discount_amount(subtotal, discount)` returns 0 when `subtotal` is below 1000.",
            "assert discount_amount(999, d) == 100",
        ),
        (
            "`best_discount(subtotal, currency, [])` returns `None`.",
            "assert best_discount(1, c, [])",
        ),
    ],
)
def test_sf002_claims_with_parameters(criterion, body):
    assert rules(f"def test_a(d, x, c):\n    {body}\n", criterion) == {"SF002"}


@pytest.mark.parametrize(
    "body",
    [
        "assert normalize_code(' save10 ') == 'SAVE10'",  # agrees
        "assert normalize_code('save10') == 'save10x'",  # another call
        "assert normalize_code(' save10 ', strict=True) == 'x'",  # another call
        "assert normalize_code(code) == 'save10'",  # not the claimed argument
        "assert 'save10' in normalize_code(' save10 ').lower()",  # not == / is
        "assert normalize_code(' save10 ') == expected",  # not a literal
        "assert other(' save10 ') == 'save10'",  # another function
        "x = 'save10'\n    assert x == 'save10'",  # the literal merely appears
    ],
)
def test_sf002_no_contradiction(body):
    assert found(f"def test_a(code, expected):\n    {body}\n", NORMALIZE) == []


def test_conditional_value_claims_need_the_condition():
    criterion = "`discount_amount(subtotal, discount)` returns 0 when `subtotal` is below 1000."
    ok = "def test_a(d):\n    assert discount_amount(1500, d) == 150\n"
    unknown = "def test_a(d, n):\n    assert discount_amount(n, d) == 150\n"
    assert found(ok, criterion) == [] and found(unknown, criterion) == []


def test_claims_conditional_on_something_unreadable_are_ignored():
    criterion = "`discount_amount(subtotal, discount)` returns 0 when the shop is closed."
    assert found("def test_a(d):\n    assert discount_amount(10, d) == 1\n", criterion) == []


# -- SF002: exceptions -----------------------------------------------------------------


def test_sf002_asserted_value_where_the_criterion_says_it_raises():
    out = found(
        "def test_a(d):\n    assert discount_amount(-500, d) == 0\n",
        AC["AC#3"],
    )
    assert [f.rule for f in out] == ["SF002"]
    assert "raises ValueError" in out[0].message and "negative subtotal" in out[0].message


@pytest.mark.parametrize(
    "body",
    [
        "assert calculate_tax(lines, Region.DE, discount=-100) == 0",
        "assert calculate_tax(lines, Region.DE, -1) == calculate_tax(lines, Region.DE)",
        "tax = calculate_tax(lines, Region.DE, discount=-1)\n    assert tax >= 0",
    ],
)
def test_sf002_negative_discount_on_the_real_criterion(body):
    assert rules(f"def test_a(lines):\n    {body}\n", AC["AC#5"]) == {"SF002"}


@pytest.mark.parametrize(
    "src",
    [
        "def test_a():\n    with pytest.raises(KeyError):\n        find_discount('NOPE10', [])\n",
        "def test_a():\n    pytest.raises(KeyError, find_discount, 'NOPE10', [])\n",
        "def test_a():\n    with pytest.raises(LookupError):\n"
        "        d = find_discount('NOPE10', ACTIVE)\n",
        "class T:\n    def test_a(self):\n        with self.assertRaises(KeyError):\n"
        "            find_discount('NOPE10', [])\n",
        # expects an exception where the criterion gives a value
        "def test_a():\n    with pytest.raises(DiscountError):\n"
        "        normalize_code(' spring-25 ')\n",
    ],
)
def test_sf002_other_exception_than_the_criterion(src):
    out = found(src, AC["AC#1"])
    assert [f.rule for f in out] == ["SF002"], out


@pytest.mark.parametrize(
    "src",
    [
        # the criterion's exception, its base (the criterion says it subclasses ValueError)
        "def test_a():\n    with pytest.raises(DiscountError):\n"
        "        find_discount('X1234', [])\n",
        "def test_a():\n    with pytest.raises(ValueError):\n        find_discount('X1234', [])\n",
        "def test_a():\n    with pytest.raises(Exception):\n        find_discount('X1234', [])\n",
        "def test_a():\n    with pytest.raises((KeyError, DiscountError)):\n"
        "        find_discount('X1234', [])\n",
        # a project exception the criterion does not name may subclass DiscountError
        "def test_a():\n    with pytest.raises(UnknownCode):\n        find_discount('X1234', [])\n",
        # a wrong argument type is outside what the criterion covers
        "def test_a():\n    with pytest.raises(TypeError):\n        normalize_code(None)\n",
        # more than one statement: the exception may come from elsewhere
        "def test_a():\n    with pytest.raises(KeyError):\n        d = find_discount('X1234', A)\n"
        "        TABLE[d.code]\n",
        # found, not raised
        "def test_a():\n    assert find_discount(' spring-25 ', ACTIVE) is SPRING\n",
    ],
)
def test_sf002_faithful_exceptions(src):
    assert found(src, AC["AC#1"]) == []


def test_project_exception_for_a_builtin_claim_is_not_judged():
    # DiscountError may well subclass ValueError: nothing in AC#5 says otherwise
    src = (
        "def test_a(lines):\n    with pytest.raises(DiscountError):\n"
        "        calculate_tax(lines, Region.DE, discount=-1)\n"
    )
    assert found(src, AC["AC#5"]) == []


def test_condition_left_at_its_default_is_not_the_criterions_case():
    src = (
        "def test_a(lines):\n    with pytest.raises(KeyError):\n"
        "        calculate_tax(lines, 'XX')\n"
    )
    assert found(src, AC["AC#5"]) == []


def test_concrete_raise_claim():
    criterion = "`parse_amount('1.234', Currency.EUR)` raises `ValueError`."
    bad = "def test_a():\n    assert parse_amount('1.234', Currency.EUR) == 123\n"
    good = (
        "def test_a():\n    with pytest.raises(ValueError):\n"
        "        parse_amount('1.234', Currency.EUR)\n"
    )
    assert rules(bad, criterion) == {"SF002"} and found(good, criterion) == []


# -- faithful tests against the billable example's criteria ----------------------------

FAITHFUL = {
    "AC#1": """
        import pytest
        from billable.discounts import DiscountError, find_discount, normalize_code

        def test_spec_example():
            # AC#1: the spec's own example
            assert normalize_code(" spring-25 ") == "SPRING-25"

        @pytest.mark.parametrize("raw", ["abc", "-SAVE", "SAVE-", "SA VE"])
        def test_malformed(raw):
            with pytest.raises(DiscountError):
                normalize_code(raw)

        def test_unknown_code(active):
            with pytest.raises(ValueError, match="NOPE10"):
                find_discount("nope10", active)
    """,
    "AC#3": """
        import pytest
        from billable.discounts import Discount, DiscountKind, discount_amount

        FIFTEEN = Discount("FIFTEEN", DiscountKind.PERCENT, 15)

        def test_rounding():
            # the criterion requires rounding half up: 49.95 -> 50
            assert discount_amount(333, FIFTEEN) == 50
            assert discount_amount(0, FIFTEEN) == 0

        def test_negative():
            with pytest.raises(ValueError):
                discount_amount(-1, FIFTEEN)
    """,
    "AC#4": """
        from billable.discounts import best_discount
        from billable.money import Currency

        def test_empty():
            assert best_discount(1000, Currency.EUR, []) is None
    """,
    "AC#5": """
        import pytest
        from billable.invoice import LineItem, calculate_tax
        from billable.tax import Region

        LINES = [LineItem("MUG-01", "Mug", 2500)]

        def test_zero_is_unchanged():
            assert calculate_tax(LINES, Region.DE, discount=0) == calculate_tax(LINES, Region.DE)
            assert calculate_tax(LINES, Region.DE, 250) == 428

        @pytest.mark.parametrize("discount", [-1, 2501])
        def test_out_of_range(discount):
            with pytest.raises(ValueError):
                calculate_tax(LINES, Region.DE, discount=discount)
    """,
    "AC#6": """
        import pytest
        from billable.discounts import DiscountError
        from billable.invoice import InvoiceError

        def test_apply(invoice, spring, welcome):
            assert invoice.apply_discount(spring) == 500
            assert invoice.apply_discount(spring) == 500
            with pytest.raises(DiscountError):
                invoice.apply_discount(welcome)
            assert invoice.remove_discount() is spring

        def test_issued(invoice, spring):
            invoice.issue()
            with pytest.raises(InvoiceError):
                invoice.apply_discount(spring)
    """,
    "AC#7": """
        def test_summary(invoice, welcome):
            invoice.apply_discount(welcome)
            rows = invoice.summary()
            assert rows[rows.index("Subtotal: €49.00") + 1] == "Discount (WELCOME10): -€10.00"
            assert invoice.total == 4900 - 1000 + 465
    """,
}


@pytest.mark.parametrize("label", sorted(FAITHFUL))
def test_faithful_billable_tests_have_no_findings(label):
    assert found(FAITHFUL[label], AC[label]) == []


def test_every_rule_is_documented():
    assert set(RULES) == {"SF001", "SF002"}
    assert all(action == "reject" for action, _ in RULES.values())


def test_unparseable_source_has_no_findings():
    assert check("def test_(:\n", AC["AC#1"]) == []


def test_without_a_criterion_only_sf001_applies():
    src = "def test_a():\n    # the spec is wrong\n    assert normalize_code(' save10 ') == 'x'\n"
    assert rules(src) == {"SF001"}
    assert rules(src, NORMALIZE) == {"SF001", "SF002"}
