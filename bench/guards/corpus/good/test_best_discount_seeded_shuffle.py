# label: good
# criterion: AC#4
# hard: randomness from a seeded random.Random(seed)
import random

from billable.discounts import Discount, DiscountKind, best_discount, discount_amount
from billable.money import Currency


def test_best_discount_is_the_maximum_whatever_the_order():
    offers = [
        Discount(f"FIXED-{n}", DiscountKind.FIXED, n * 100, Currency.EUR) for n in range(1, 9)
    ]
    offers += [Discount(f"PCT-{p}", DiscountKind.PERCENT, p) for p in (3, 7, 11)]
    rng = random.Random(20250108)
    for _ in range(20):
        rng.shuffle(offers)
        best = best_discount(5000, Currency.EUR, offers)
        assert discount_amount(5000, best) == max(discount_amount(5000, d) for d in offers)
        assert best.code == "FIXED-8"  # 800 beats 11 % of 5000 (550)
