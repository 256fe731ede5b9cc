# label: good
# criterion: AC#4
# hard: a set, compared with sorted() and as a set
from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency


def offers():
    return [
        Discount("TEN-PCT", DiscountKind.PERCENT, 10),
        Discount("FIVE-EUR", DiscountKind.FIXED, 500, Currency.EUR),
        Discount("FIVE-GBP", DiscountKind.FIXED, 500, Currency.GBP),
        Discount("NINE-EUR", DiscountKind.FIXED, 900, Currency.EUR),
    ]


def test_candidates_in_the_invoice_currency():
    eligible = {d.code for d in offers() if d.currency in (None, Currency.EUR)}
    assert sorted(eligible) == ["FIVE-EUR", "NINE-EUR", "TEN-PCT"]
    assert eligible == {"TEN-PCT", "NINE-EUR", "FIVE-EUR"}


def test_winner_is_the_same_for_every_order_without_ties():
    winners = {
        best_discount(6000, Currency.EUR, ordering).code
        for ordering in (offers(), offers()[::-1], offers()[1:] + offers()[:1])
    }
    assert winners == {"NINE-EUR"}
