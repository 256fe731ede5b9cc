# label: tautological
# criterion: AC#6
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_apply_discount_works():
    inv = Invoice("INV-2025-0012", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("SPRING-25", DiscountKind.PERCENT, 25))
    inv.remove_discount()
