# label: tautological
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount


def test_rounding_examples():
    fifteen = Discount("FIFTEEN", DiscountKind.PERCENT, 15)
    for subtotal in (333, 1000, 1):
        amount = discount_amount(subtotal, fifteen)
        print(f"15% of {subtotal} -> {amount}")
