# label: good
# criterion: AC#7
# hard: docstring cites the spec; module-level expected rows
"""AC#7: the spec requires the summary to stay exactly as it was when no discount is set."""

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region

EXPECTED = [
    "Invoice INV-2025-0003",
    "  2 x Tea (TEA-1): €7.00",
    "Subtotal: €7.00",
    "  standard: VAT 20%",
    "Tax: €1.40",
    "Total: €8.40",
]


def fresh():
    inv = Invoice("INV-2025-0003", Currency.EUR, Region.FR)
    inv.add_line(LineItem("TEA-1", "Tea", 350, quantity=2))
    return inv


def test_summary_unchanged_without_discount():
    assert fresh().summary() == EXPECTED


def test_summary_unchanged_after_removing_the_discount():
    inv = fresh()
    inv.apply_discount(Discount("TEA-TIME", DiscountKind.PERCENT, 10))
    inv.remove_discount()
    # per the criterion, removing the discount brings the old summary back
    assert inv.summary() == EXPECTED
