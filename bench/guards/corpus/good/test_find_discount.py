# label: good
# criterion: AC#1
# hard: pytest.raises(ValueError), a base of the criterion's DiscountError
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind, find_discount
from billable.money import Currency

SPRING = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
WELCOME = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR, min_subtotal=5000)
ACTIVE = [SPRING, WELCOME]


def test_lookup_ignores_case_and_surrounding_spaces():
    assert find_discount(" spring-25 ", ACTIVE) is SPRING
    assert find_discount("Welcome10", ACTIVE) is WELCOME


def test_unknown_code_raises_discount_error():
    with pytest.raises(DiscountError, match="NOPE10"):
        find_discount("nope10", ACTIVE)


def test_unknown_code_can_be_caught_as_value_error():
    # DiscountError subclasses ValueError, so callers that only know ValueError still work
    with pytest.raises(ValueError):
        find_discount("SUMMER-99", ACTIVE)


def test_malformed_input_is_rejected_before_lookup():
    with pytest.raises(DiscountError, match="hyphen"):
        find_discount("spring-", ACTIVE)


def test_no_active_discounts():
    with pytest.raises(DiscountError):
        find_discount("SPRING-25", [])
