# label: tautological
# criterion: AC#4
from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency


def test_best_discount_is_deterministic():
    offers = [
        Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EUR),
        Discount("TEN-PCT", DiscountKind.PERCENT, 10),
    ]
    best = best_discount(5000, Currency.EUR, offers)
    # the tie is resolved without error
    assert True, f"picked {best}"
