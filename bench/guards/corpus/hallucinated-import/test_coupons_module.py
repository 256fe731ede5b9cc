# label: hallucinated-import
# criterion: AC#6
from billable.coupons import apply_coupon
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_apply_coupon_returns_amount_off():
    inv = Invoice("INV-2025-0002", Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    amount = apply_coupon(inv, Discount("SPRING-25", DiscountKind.PERCENT, 25))
    assert amount == 500
