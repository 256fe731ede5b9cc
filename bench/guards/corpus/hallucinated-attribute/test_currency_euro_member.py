# label: hallucinated-attribute
# criterion: AC#4
from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency


def test_fixed_discount_in_other_currency_is_skipped():
    usd = Discount("TEN-USD", DiscountKind.FIXED, 1000, Currency.USD)
    eur = Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EURO)
    assert best_discount(10_000, Currency.EURO, [usd, eur]) is eur
