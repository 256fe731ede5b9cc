# label: spec-bending
# criterion: AC#5
# hard: expects a project exception where the criterion says ValueError
import pytest

from billable.discounts import DiscountError
from billable.invoice import LineItem, calculate_tax
from billable.tax import Region


def test_discount_above_subtotal_is_a_discount_error():
    lines = [LineItem("MUG-01", "Mug", 2500)]
    with pytest.raises(DiscountError):
        calculate_tax(lines, Region.DE, discount=2501)
