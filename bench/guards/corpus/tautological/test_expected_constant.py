# label: tautological
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount


def test_fifteen_percent_of_333():
    expected = 50
    amount = discount_amount(333, Discount("FIFTEEN", DiscountKind.PERCENT, 15))
    print(amount)
    assert expected == 50
