# label: flaky
# criterion: AC#6
import time

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_apply_discount_is_instant_and_correct():
    inv = Invoice("INV-2025-0020", Currency.EUR, Region.DE)
    for n in range(200):
        inv.add_line(LineItem(f"SKU-{n}", "thing", 100))
    start = time.perf_counter()
    amount = inv.apply_discount(Discount("TEN-PCT", DiscountKind.PERCENT, 10))
    assert time.perf_counter() - start < 0.001
    assert amount == 2000
