# label: tautological
# criterion: AC#6
# hard: asserts on a mock the test called itself; project code is called but never checked
from unittest.mock import Mock

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_applying_a_discount_notifies_the_shop():
    notify = Mock()
    inv = Invoice("INV-2025-0019", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    amount = inv.apply_discount(Discount("SPRING-25", DiscountKind.PERCENT, 25))
    notify("SPRING-25 applied")
    notify.assert_called_once_with("SPRING-25 applied")
    assert notify.call_count == 1, f"{amount} taken off"
