# label: hallucinated-attribute
# criterion: AC#7
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_discount_drops_to_zero_below_minimum():
    inv = Invoice("INV-2025-0006", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 3000))
    inv.add_line(LineItem("BOOK-7", "Cookbook", 3000))
    welcome = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR, min_subtotal=5000)
    inv.apply_discount(welcome)
    assert inv.discount_amount == 1000
    inv.remove_line("BOOK-7")
    assert inv.discount_amount == 0
