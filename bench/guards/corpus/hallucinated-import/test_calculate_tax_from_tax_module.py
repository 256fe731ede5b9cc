# label: hallucinated-import
# criterion: AC#5
import pytest

from billable.invoice import LineItem
from billable.tax import Region, calculate_tax


def test_negative_discount_raises():
    lines = [LineItem("MUG-01", "Mug", 1250)]
    with pytest.raises(ValueError):
        calculate_tax(lines, Region.DE, discount=-1)


def test_zero_discount_is_unchanged():
    lines = [LineItem("MUG-01", "Mug", 1250)]
    assert calculate_tax(lines, Region.DE, discount=0) == calculate_tax(lines, Region.DE)
