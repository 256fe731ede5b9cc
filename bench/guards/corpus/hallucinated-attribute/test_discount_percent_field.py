# label: hallucinated-attribute
# criterion: AC#6
# hard: the missing attribute is on an attribute of an instance the test builds
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_applied_discount_is_kept_on_the_invoice():
    inv = Invoice("INV-2025-0022", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("SPRING-25", DiscountKind.PERCENT, 25))
    assert inv.discount.percent == 25
    assert inv.discount_total == 500
