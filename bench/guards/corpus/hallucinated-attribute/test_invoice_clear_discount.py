# label: hallucinated-attribute
# criterion: AC#6
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_clear_discount_detaches_and_returns_it():
    inv = Invoice("INV-2025-0008", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    spring = Discount("SPRING-25", DiscountKind.PERCENT, 25)
    inv.apply_discount(spring)
    assert inv.clear_discount() is spring
    assert inv.discount is None
