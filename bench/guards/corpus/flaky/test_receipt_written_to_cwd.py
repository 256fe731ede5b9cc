# label: flaky
# criterion: AC#7
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_receipt_has_discount_line():
    inv = Invoice("INV-2025-0021", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR))
    with open("receipt.txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(inv.summary()))
    with open("receipt.txt", encoding="utf-8") as fh:
        assert "Discount (WELCOME10): -€10.00" in fh.read().splitlines()
