import pytest

from billable.discounts import DiscountError, normalize_code


def test_codes_are_normalised() -> None:
    assert normalize_code(" spring-25 ") == "SPRING-25"


def test_codes_must_not_end_with_a_hyphen() -> None:
    with pytest.raises(DiscountError, match="hyphen"):
        normalize_code("SPRING-")
