# label: tautological
# criterion: AC#2
from billable.discounts import Discount, DiscountKind
from billable.money import Currency


def test_valid_fixed_discount_is_created():
    discount = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR)
    assert isinstance(discount, object)
    assert discount or not discount
