# label: good
# criterion: AC#1
# hard: the tests assert only through a local helper
import pytest

from billable.discounts import DiscountError, normalize_code


def assert_rejected(raw, reason):
    with pytest.raises(DiscountError) as caught:
        normalize_code(raw)
    assert reason in str(caught.value)


def test_too_short():
    assert_rejected("ab1", "4 to 16 characters")


def test_leading_hyphen():
    assert_rejected("-spring", "hyphen")


def test_punctuation():
    assert_rejected("SAVE!10", "invalid characters")
