# label: flaky
# criterion: AC#7
# hard: the literal path is bound to a name before write_text
from pathlib import Path

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_summary_file_has_discount_line():
    inv = Invoice("INV-2025-0015", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR))
    out = Path("summary.txt")
    out.write_text("\n".join(inv.summary()), encoding="utf-8")
    assert "Discount (WELCOME10): -€10.00" in out.read_text(encoding="utf-8")
