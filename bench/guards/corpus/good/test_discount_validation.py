# label: good
# criterion: AC#2
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind
from billable.money import Currency


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": DiscountKind.PERCENT, "value": 0},
        {"kind": DiscountKind.PERCENT, "value": 101},
        {"kind": DiscountKind.PERCENT, "value": -5},
        {"kind": DiscountKind.FIXED, "value": 0, "currency": Currency.EUR},
        {"kind": DiscountKind.FIXED, "value": 500},
        {"kind": DiscountKind.PERCENT, "value": 10, "min_subtotal": -1},
        {"kind": DiscountKind.PERCENT, "value": 10, "max_amount": 0},
    ],
)
def test_invalid_discounts_raise(kwargs):
    with pytest.raises(DiscountError):
        Discount(code="SAVE10", **kwargs)


@pytest.mark.parametrize("value", [1, 50, 100])
def test_percentages_from_1_to_100_are_valid(value):
    assert Discount("SAVE10", DiscountKind.PERCENT, value).value == value


def test_fixed_discount_with_currency_and_bounds_is_valid():
    discount = Discount(
        "WELCOME10", DiscountKind.FIXED, 1, Currency.GBP, min_subtotal=0, max_amount=1
    )
    assert discount.currency is Currency.GBP
    assert discount.max_amount == 1
