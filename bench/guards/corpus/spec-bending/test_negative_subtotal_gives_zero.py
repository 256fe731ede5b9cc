# label: spec-bending
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount


def test_negative_subtotal_takes_nothing_off():
    ten = Discount("TEN-PCT", DiscountKind.PERCENT, 10)
    assert discount_amount(-500, ten) == 0
