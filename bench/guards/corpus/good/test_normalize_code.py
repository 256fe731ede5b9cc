# label: good
# criterion: AC#1
import pytest

from billable.discounts import DiscountError, normalize_code


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        (" spring-25 ", "SPRING-25"),
        ("welcome10", "WELCOME10"),
        ("\tSave-5\n", "SAVE-5"),
        ("abcd", "ABCD"),
        ("A" * 16, "A" * 16),
    ],
)
def test_codes_are_stripped_and_upper_cased(typed, canonical):
    assert normalize_code(typed) == canonical


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "4 to 16 characters"),
        ("A" * 17, "4 to 16 characters"),
        ("SAVE 10", "invalid characters"),
        ("SAVE_10", "invalid characters"),
        ("-SAVE10", "hyphen"),
        ("SAVE10-", "hyphen"),
    ],
)
def test_malformed_codes_are_rejected_with_a_reason(typed, message):
    with pytest.raises(DiscountError, match=message):
        normalize_code(typed)


def test_discount_error_is_a_value_error():
    assert issubclass(DiscountError, ValueError)
