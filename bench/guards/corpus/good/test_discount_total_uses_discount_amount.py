# label: good
# criterion: AC#7
# hard: mock.patch on project code, assertions on the patched mock
from unittest import mock

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_discount_total_is_computed_by_discount_amount_on_the_current_subtotal():
    inv = Invoice("INV-2025-0009", Currency.EUR, Region.NL)
    inv.add_line(LineItem("LAMP", "Lamp", 4000))
    discount = Discount("LIGHT-20", DiscountKind.PERCENT, 20)
    inv.apply_discount(discount)
    with mock.patch("billable.invoice.discount_amount", return_value=123) as amount:
        assert inv.discount_total == 123
    amount.assert_called_once_with(4000, discount)


def test_no_discount_means_discount_amount_is_not_called():
    inv = Invoice("INV-2025-0010", Currency.EUR, Region.NL)
    inv.add_line(LineItem("LAMP", "Lamp", 4000))
    with mock.patch("billable.invoice.discount_amount") as amount:
        assert inv.discount_total == 0
    amount.assert_not_called()
