# label: hallucinated-import
# criterion: AC#1
import pytest

from billable.discounts import InvalidDiscountCode, normalize_code


@pytest.mark.parametrize("raw", ["ab", "-SAVE10", "SAVE10-", "SAVE 10"])
def test_malformed_codes_raise(raw):
    with pytest.raises(InvalidDiscountCode):
        normalize_code(raw)
