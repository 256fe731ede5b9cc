# label: hallucinated-attribute
# criterion: AC#2
import pytest

from billable.discounts import Discount, DiscountError


@pytest.mark.parametrize("value", [0, 101])
def test_percent_outside_range_is_rejected(value):
    with pytest.raises(DiscountError):
        Discount.percent("SAVE10", value)


def test_percent_in_range_is_fine():
    assert Discount.percent("SAVE10", 10).value == 10
