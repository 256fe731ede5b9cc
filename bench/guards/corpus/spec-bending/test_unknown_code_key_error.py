# label: spec-bending
# criterion: AC#1
import pytest

from billable.discounts import Discount, DiscountKind, find_discount

ACTIVE = [Discount("SPRING-25", DiscountKind.PERCENT, 25)]


def test_unknown_code_is_a_missing_key():
    with pytest.raises(KeyError):
        find_discount("NOPE10", ACTIVE)
