# label: tautological
# criterion: AC#7
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_summary_has_rows():
    inv = Invoice("INV-2025-0013", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR))
    rows = inv.summary()
    assert len(rows) >= 0
    assert isinstance(rows, object)
