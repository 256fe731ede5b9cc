# label: hallucinated-import
# criterion: AC#2
import pytest

from billable.discounts import DiscountCode, DiscountError, DiscountKind


def test_percentage_above_100_is_rejected():
    with pytest.raises(DiscountError):
        DiscountCode("SAVE200", DiscountKind.PERCENT, 200)


def test_valid_percentage_is_accepted():
    assert DiscountCode("SAVE20", DiscountKind.PERCENT, 20).value == 20
