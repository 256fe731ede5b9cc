# label: spec-bending
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount


def test_fifteen_percent_of_333():
    fifteen = Discount("FIFTEEN", DiscountKind.PERCENT, 15)
    # The spec says 15 % of 333 is 50, but the implementation actually truncates
    # 49.95 to 49, so we assert what the code does.
    assert discount_amount(333, fifteen) == 49
