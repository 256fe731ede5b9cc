import pytest

from billable.invoice import Invoice, InvoiceError, LineItem, calculate_tax, taxable_bases
from billable.money import Currency
from billable.tax import Region, TaxCategory


def make_invoice() -> Invoice:
    invoice = Invoice(number="INV-2025-0001", currency=Currency.EUR, region=Region.DE)
    invoice.add_line(LineItem("MUG-01", "Mug", 1250, quantity=2))
    invoice.add_line(LineItem("BOOK-7", "Cookbook", 2400, category=TaxCategory.REDUCED))
    return invoice


def test_line_total() -> None:
    assert LineItem("A", "thing", 333, quantity=3).total == 999


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sku": "  "}, "sku"),
        ({"unit_price": -1}, "unit price"),
        ({"quantity": 0}, "quantity"),
    ],
)
def test_line_item_validation(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"sku": "A", "description": "thing", "unit_price": 100}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LineItem(**fields)  # type: ignore[arg-type]


def test_taxable_bases_group_by_category() -> None:
    lines = [
        LineItem("A", "a", 100),
        LineItem("B", "b", 50, category=TaxCategory.REDUCED),
        LineItem("C", "c", 25, quantity=2),
    ]
    assert taxable_bases(lines) == {TaxCategory.STANDARD: 150, TaxCategory.REDUCED: 50}


def test_tax_is_rounded_per_category_not_per_line() -> None:
    # Three 3-cent lines at 19 %: per line 3 * round(0.57) = 3, per category round(1.71) = 2.
    lines = [LineItem(sku, "sweet", 3) for sku in ("S1", "S2", "S3")]
    assert calculate_tax(lines, Region.DE) == 2


def test_tax_of_no_lines_is_zero() -> None:
    assert calculate_tax([], Region.FR) == 0


def test_invoice_totals() -> None:
    invoice = make_invoice()
    assert invoice.subtotal == 4900
    assert invoice.tax == 475 + 168
    assert invoice.total == 4900 + 643


def test_remove_line() -> None:
    invoice = make_invoice()
    removed = invoice.remove_line("MUG-01")
    assert removed.description == "Mug"
    assert invoice.subtotal == 2400


def test_remove_unknown_line() -> None:
    with pytest.raises(InvoiceError, match="no line"):
        make_invoice().remove_line("NOPE")


def test_issued_invoice_is_read_only() -> None:
    invoice = make_invoice()
    invoice.issue()
    with pytest.raises(InvoiceError, match="issued"):
        invoice.add_line(LineItem("X", "x", 1))


def test_cannot_issue_an_empty_invoice() -> None:
    invoice = Invoice(number="INV-2025-0002", currency=Currency.EUR, region=Region.DE)
    with pytest.raises(InvoiceError, match="no lines"):
        invoice.issue()


def test_summary() -> None:
    assert make_invoice().summary() == [
        "Invoice INV-2025-0001",
        "  2 x Mug (MUG-01): €25.00",
        "  1 x Cookbook (BOOK-7): €24.00",
        "Subtotal: €49.00",
        "  standard: VAT 19%",
        "  reduced: VAT 7%",
        "Tax: €6.43",
        "Total: €55.43",
    ]
