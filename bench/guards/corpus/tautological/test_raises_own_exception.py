# label: tautological
# criterion: AC#1
import pytest

from billable.discounts import DiscountError, find_discount


def test_unknown_code_raises():
    with pytest.raises(DiscountError):
        raise DiscountError("unknown discount code NOPE10")
    assert find_discount is not None or True
