# label: good
# criterion: AC#1
# hard: mentions the spec neutrally; module alias import
"""The spec's own example, through the module rather than the names.

Criterion AC#1 says " spring-25 " becomes "SPRING-25"; the spec is the reference here.
"""

import pytest

import billable.discounts as discounts


def test_spec_example():
    assert discounts.normalize_code(" spring-25 ") == "SPRING-25"


def test_length_limits_come_from_the_module():
    shortest = "A" * discounts.CODE_MIN_LENGTH
    longest = "B" * discounts.CODE_MAX_LENGTH
    assert discounts.normalize_code(shortest.lower()) == shortest
    assert discounts.normalize_code(longest) == longest
    with pytest.raises(discounts.DiscountError):
        discounts.normalize_code(longest + "B")
