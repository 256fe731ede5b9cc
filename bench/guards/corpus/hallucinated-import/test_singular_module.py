# label: hallucinated-import
# criterion: AC#1
import pytest

from billable.discount import DiscountError, normalize_code


def test_spaces_and_case_are_normalised():
    assert normalize_code(" spring-25 ") == "SPRING-25"


def test_too_short_code_raises():
    with pytest.raises(DiscountError):
        normalize_code("ab")
