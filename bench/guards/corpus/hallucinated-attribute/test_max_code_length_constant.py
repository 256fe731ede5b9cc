# label: hallucinated-attribute
# criterion: AC#1
import pytest

import billable.discounts


def test_longest_allowed_code():
    code = "A" * billable.discounts.MAX_CODE_LENGTH
    assert billable.discounts.normalize_code(code) == code


def test_one_longer_is_rejected():
    code = "A" * (billable.discounts.MAX_CODE_LENGTH + 1)
    with pytest.raises(billable.discounts.DiscountError):
        billable.discounts.normalize_code(code)
