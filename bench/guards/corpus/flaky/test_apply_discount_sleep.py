# label: flaky
# criterion: AC#6
import time

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_reapplying_the_same_code_later_is_a_no_op():
    inv = Invoice("INV-2025-0014", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    spring = Discount("SPRING-25", DiscountKind.PERCENT, 25)
    first = inv.apply_discount(spring)
    time.sleep(1.5)  # let the first application settle
    assert inv.apply_discount(spring) == first
