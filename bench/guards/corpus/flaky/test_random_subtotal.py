# label: flaky
# criterion: AC#3
import random

from billable.discounts import Discount, DiscountKind, discount_amount


def test_cap_holds_for_any_subtotal():
    capped = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
    subtotal = random.randint(0, 100_000)
    assert discount_amount(subtotal, capped) == min(round(subtotal * 0.25), 1000)
