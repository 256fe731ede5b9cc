# label: tautological
# criterion: AC#5
# hard: a Mock shadows the project function's name
from unittest.mock import Mock

from billable.invoice import LineItem
from billable.tax import Region


def test_tax_on_discounted_amount():
    lines = [LineItem("MUG-01", "Mug", 2500)]
    calculate_tax = Mock(return_value=428)
    assert calculate_tax(lines, Region.DE, discount=250) == 428
    calculate_tax.assert_called_once_with(lines, Region.DE, discount=250)
