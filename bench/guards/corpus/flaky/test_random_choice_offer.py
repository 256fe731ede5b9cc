# label: flaky
# criterion: AC#4
import random

from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency

OFFERS = [
    Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EUR),
    Discount("TEN-PCT", DiscountKind.PERCENT, 10),
    Discount("NINE-EUR", DiscountKind.FIXED, 900, Currency.EUR),
]


def test_any_single_offer_is_its_own_best():
    offer = random.choice(OFFERS)
    assert best_discount(10_000, Currency.EUR, [offer]) is offer
