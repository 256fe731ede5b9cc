# label: hallucinated-attribute
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount


def test_fifteen_percent_of_333_rounds_half_up():
    fifteen = Discount("FIFTEEN", DiscountKind.PERCENTAGE, 15)
    assert discount_amount(333, fifteen) == 50
