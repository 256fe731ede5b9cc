"""The tautology check, rule by rule, on tests that cannot fail and tests that can."""

from __future__ import annotations

import ast
import textwrap

import pytest

from agents_app.guards import CLASSES
from agents_app.guards.tautology import RULES, check

IMPORTS = """\
import pytest
from unittest.mock import Mock, patch

from billable.discounts import Discount, DiscountError, DiscountKind, discount_amount
from billable.discounts import normalize_code
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region

"""


def found(src: str) -> list:
    source = IMPORTS + textwrap.dedent(src)
    ast.parse(source)  # "no findings" must never come from a syntax error
    return check(source)


def rules(src: str) -> set[str]:
    return {f.rule for f in found(src)}


@pytest.mark.parametrize(
    ("rule", "src"),
    [
        # TA001: nothing asserted
        ("TA001", "def test_a():\n    normalize_code('save10')\n"),
        ("TA001", "def test_a():\n    print(discount_amount(333, D))\n"),
        ("TA001", "class TestX:\n    def test_a(self):\n        normalize_code('save10')\n"),
        ("TA001", "async def test_a():\n    await thing()\n"),
        # TA002: only trivially true assertions
        ("TA002", "def test_a():\n    normalize_code('save10')\n    assert True\n"),
        ("TA002", "def test_a():\n    assert 1\n"),
        ("TA002", "def test_a():\n    assert 'normalises codes'\n"),
        ("TA002", "def test_a():\n    r = normalize_code('x')\n    assert r == r\n"),
        ("TA002", "def test_a(inv):\n    assert inv.total == inv.total\n"),
        ("TA002", "def test_a():\n    assert isinstance(normalize_code('ab12'), object)\n"),
        ("TA002", "def test_a():\n    assert normalize_code('ab12') is not None or True\n"),
        ("TA002", "def test_a():\n    r = normalize_code('ab12')\n    assert r or not r\n"),
        ("TA002", "def test_a():\n    assert len(normalize_code('ab12')) >= 0\n"),
        ("TA002", "def test_a():\n    assert (normalize_code('ab12') == 'AB12', 'msg')\n"),
        ("TA002", "def test_a():\n    assert 2 == 2\n    assert not None\n"),
        (
            "TA002",
            "def test_a():\n    with pytest.raises(DiscountError):\n"
            "        raise DiscountError('bad')\n",
        ),
        ("TA002", "class TestX:\n    def test_a(self):\n        self.assertTrue(True)\n"),
        ("TA002", "class TestX:\n    def test_a(self):\n        self.assertEqual(1, 1)\n"),
        # TA003: only values the test made itself
        (
            "TA003",
            "def test_a():\n    amount = discount_amount(333, D)\n    expected = 50\n"
            "    assert expected == 50\n",
        ),
        ("TA003", "def test_a():\n    m = Mock(return_value=3)\n    assert m() == 3\n"),
        (
            "TA003",
            "def test_a():\n    calc = Mock(return_value=428)\n"
            "    lines = [LineItem('A', 'a', 1)]\n"
            "    assert calc(lines, Region.DE) == 428\n"
            "    calc.assert_called_once_with(lines, Region.DE)\n",
        ),
        (
            "TA003",
            "def test_a():\n    notify = Mock()\n    notify('applied')\n"
            "    notify.assert_called_once_with('applied')\n",
        ),
        ("TA003", "def test_a():\n    with pytest.raises(ValueError):\n        int('x')\n"),
        (
            "TA003",
            "def test_a(tmp_path):\n    p = tmp_path / 'x.txt'\n    p.write_text('a')\n"
            "    assert p.read_text() == 'a'\n",
        ),
        ("TA003", "EXPECTED = 'SAVE10'\ndef test_a():\n    assert EXPECTED.lower() == 'save10'\n"),
    ],
)
def test_each_rule_fires(rule, src):
    out = found(src)
    assert [f.rule for f in out] == [rule], out
    f = out[0]
    assert f.guard == "tautology" and f.kind == "tautological" and f.kind in CLASSES
    assert f.action == RULES[rule][0] == "reject"
    assert f.message.startswith(f"{rule} test_a ") and RULES[rule][1] in f.message
    assert f.test == "test_a" and f"(line {f.line})" in f.message


def test_real_tests_have_no_findings():
    assert (
        rules(
            """
        SPRING = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
        EXPECTED_ROWS = ["Subtotal: €20.00"]

        def make_invoice(*prices):
            inv = Invoice("INV-2025-0001", Currency.EUR, Region.DE)
            for i, price in enumerate(prices):
                inv.add_line(LineItem(f"SKU-{i}", "thing", price))
            return inv

        def assert_rejected(raw):
            with pytest.raises(DiscountError):
                normalize_code(raw)

        def test_value():
            assert normalize_code(" save10 ") == "SAVE10"

        def test_raises():
            with pytest.raises(DiscountError, match="hyphen"):
                normalize_code("SAVE-")

        def test_raises_callable_form():
            pytest.raises(DiscountError, normalize_code, "SAVE-")

        def test_through_a_helper():
            assert_rejected("ab")

        def test_expected_computed_locally():
            expected = 333 * 15 // 100 + 1
            result = discount_amount(333, SPRING)
            assert result == expected

        def test_module_level_project_object():
            assert SPRING.max_amount == 1000

        def test_loop():
            for raw, want in [(" a-b1 ", "A-B1"), ("abcd", "ABCD")]:
                assert normalize_code(raw) == want

        def test_collected_into_a_local_list():
            seen = []
            for price in (100, 200):
                seen.append(make_invoice(price).subtotal)
            assert seen == [100, 200]

        def test_mock_handed_to_project_code():
            inv = make_invoice(2000)
            hook = Mock()
            inv.subscribe(hook)
            hook.assert_called_once()

        def test_patched_project_code():
            inv = make_invoice(4000)
            inv.apply_discount(SPRING)
            with patch("billable.invoice.discount_amount", return_value=123) as amount:
                assert inv.discount_total == 123
            amount.assert_called_once_with(4000, SPRING)

        def test_fixture(invoice):
            assert invoice.summary()[-1].startswith("Total")

        def test_capsys(capsys):
            print("\\n".join(make_invoice(2000).summary()))
            assert "Subtotal: €20.00" in capsys.readouterr().out

        def test_written_under_tmp_path(tmp_path):
            receipt = tmp_path / "receipt.txt"
            receipt.write_text("\\n".join(make_invoice(2000).summary()))
            assert EXPECTED_ROWS[0] in receipt.read_text().splitlines()

        def test_exception_details():
            try:
                normalize_code("ab")
            except DiscountError as exc:
                assert "characters" in str(exc)
            else:
                pytest.fail("no DiscountError")

        def test_determinism_is_checked_with_calls():
            assert normalize_code(" ab12 ") == normalize_code("AB12")

        def test_len_is_compared_with_something_real():
            assert len(make_invoice(1, 2).summary()) >= 7

        def test_explicit_assertion_error():
            if normalize_code("abcd") != "ABCD":
                raise AssertionError("not normalised")

        class TestUnittestStyle:
            def setUp(self):
                self.spring = SPRING

            def test_equal(self):
                self.assertEqual(discount_amount(2000, self.spring), 500)

            def test_raises(self):
                with self.assertRaises(ValueError):
                    discount_amount(-1, self.spring)
        """
        )
        == set()
    )


def test_one_finding_per_test_in_line_order():
    out = found(
        "def test_b():\n    assert True\n\ndef test_a():\n    normalize_code('x')\n"
        "\ndef helper():\n    pass\n"
    )
    assert [(f.rule, f.test) for f in out] == [("TA002", "test_b"), ("TA001", "test_a")]


def test_assertions_in_nested_blocks_count():
    src = (
        "def test_a(items):\n    for i in items:\n"
        "        if i:\n            assert normalize_code(i)\n"
    )
    assert found(src) == []


def test_unknown_names_count_as_project_code():
    # a star import or a conftest name: the value may well come from the project
    src = "from billable.discounts import *\n\ndef test_a():\n    assert CODE_MIN_LENGTH == 4\n"
    assert check(src) == []


def test_imported_test_helpers_count_as_assertions():
    src = "from tests.helpers import check_total\n\ndef test_a(inv):\n    check_total(inv, 500)\n"
    assert check(src) == []


def test_unparseable_source_has_no_findings():
    assert check("def test_(:\n") == []


def test_unittest_classes_are_checked_whatever_their_name():
    src = """
    import unittest

    class DiscountAmountCase(unittest.TestCase):
        def test_a(self):
            self.assertTrue(True)
    """
    assert rules(src) == {"TA002"}


def test_mocks_used_by_callbacks_the_project_runs_count():
    src = """
    def test_a():
        seen = Mock()

        def on_apply(code):
            seen(code)

        make_invoice(on_apply=on_apply).apply_discount(SPRING)
        seen.assert_called_once_with("SPRING-25")
    """
    assert found(src) == []


def test_the_test_case_handed_to_other_code_counts_as_asserting():
    src = """
    class TestVisitor:
        def test_a(self):
            walk(parse("a = b"), Checker(test=self, expected={"a": "store"}))
    """
    assert found(src) == []
