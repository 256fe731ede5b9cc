# label: flaky
# criterion: AC#4
# hard: the set is bound to a name before list() orders it
from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency

OFFERS = [
    Discount("TEN-PCT", DiscountKind.PERCENT, 10),
    Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EUR),
    Discount("TEN-USD", DiscountKind.FIXED, 1000, Currency.USD),
]


def test_usd_offer_is_skipped_for_eur_invoices():
    eligible = {d.code for d in OFFERS if d.currency is not Currency.USD}
    assert list(eligible) == ["TEN-PCT", "FIVE-EUR"]
    assert best_discount(10_000, Currency.EUR, OFFERS).code == "TEN-PCT"
