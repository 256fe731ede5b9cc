# label: hallucinated-attribute
# criterion: AC#3
import pytest

from billable.discounts import Discount, DiscountKind
from billable.money import Currency


def test_cap_is_applied():
    spring = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
    assert spring.amount_off(10_000) == 1000


def test_never_more_than_subtotal():
    big = Discount("BIG-500", DiscountKind.FIXED, 50_000, Currency.EUR)
    assert big.amount_off(1999) == 1999


def test_negative_subtotal():
    with pytest.raises(ValueError):
        Discount("SAVE10", DiscountKind.PERCENT, 10).amount_off(-1)
