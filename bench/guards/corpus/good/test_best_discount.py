# label: good
# criterion: AC#4
from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency

TEN_PERCENT = Discount("TEN-PCT", DiscountKind.PERCENT, 10)
FIVE_EUR = Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EUR)
TWENTY_USD = Discount("TWENTY-USD", DiscountKind.FIXED, 2000, Currency.USD)


def test_picks_the_discount_that_takes_most_off():
    assert best_discount(10_000, Currency.EUR, [FIVE_EUR, TEN_PERCENT]) is TEN_PERCENT
    assert best_discount(3000, Currency.EUR, [TEN_PERCENT, FIVE_EUR]) is FIVE_EUR


def test_skips_fixed_discounts_in_another_currency():
    assert best_discount(10_000, Currency.EUR, [TWENTY_USD, FIVE_EUR]) is FIVE_EUR


def test_tie_goes_to_the_earlier_discount():
    # 10 % of 5000 is 500, the same as the fixed 5 EUR
    assert best_discount(5000, Currency.EUR, [FIVE_EUR, TEN_PERCENT]) is FIVE_EUR
    assert best_discount(5000, Currency.EUR, [TEN_PERCENT, FIVE_EUR]) is TEN_PERCENT


def test_none_when_nothing_applies():
    assert best_discount(10_000, Currency.EUR, []) is None
    assert best_discount(10_000, Currency.EUR, [TWENTY_USD]) is None
    minimum = Discount("BIG-SPEND", DiscountKind.PERCENT, 50, min_subtotal=100_000)
    assert best_discount(10_000, Currency.EUR, [minimum]) is None
