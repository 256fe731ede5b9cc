# label: spec-bending
# criterion: AC#5
from billable.invoice import LineItem, calculate_tax
from billable.tax import Region


def test_negative_discount_is_treated_as_no_discount():
    lines = [LineItem("MUG-01", "Mug", 2500)]
    assert calculate_tax(lines, Region.DE, discount=-100) == calculate_tax(lines, Region.DE)
