# label: hallucinated-import
# criterion: AC#3
from billable.discounts import Discount, DiscountKind, discount_amount
from billable.money import Currency, Money


def test_fixed_discount_amount():
    fixed = Discount(
        "WELCOME10", DiscountKind.FIXED, Money(1000, Currency.EUR).amount, Currency.EUR
    )
    assert discount_amount(6000, fixed) == 1000
