# label: hallucinated-attribute
# criterion: AC#6
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_add_discount_returns_amount_off():
    inv = Invoice("INV-2025-0005", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    assert inv.add_discount(Discount("SPRING-25", DiscountKind.PERCENT, 25)) == 500
    assert inv.discount.code == "SPRING-25"
