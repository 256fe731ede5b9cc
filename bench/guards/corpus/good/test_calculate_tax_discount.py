# label: good
# criterion: AC#5
import pytest

from billable.invoice import LineItem, calculate_tax
from billable.tax import Region, TaxCategory

LINES = [
    LineItem("MUG-01", "Mug", 1250, quantity=2),
    LineItem("BOOK-7", "Cookbook", 2400, category=TaxCategory.REDUCED),
]


def test_zero_discount_is_the_old_result():
    assert calculate_tax(LINES, Region.DE, discount=0) == calculate_tax(LINES, Region.DE)
    assert calculate_tax(LINES, Region.DE) == 475 + 168


def test_tax_is_charged_on_the_discounted_amounts():
    # 490 off 4900 splits 250 / 240: 19 % of 2250 = 427.5 -> 428, 7 % of 2160 = 151.2 -> 151
    assert calculate_tax(LINES, Region.DE, discount=490) == 428 + 151


def test_whole_subtotal_off_leaves_no_tax():
    assert calculate_tax(LINES, Region.DE, discount=4900) == 0


@pytest.mark.parametrize("discount", [-1, 4901])
def test_discount_outside_the_subtotal_raises(discount):
    with pytest.raises(ValueError):
        calculate_tax(LINES, Region.DE, discount=discount)
