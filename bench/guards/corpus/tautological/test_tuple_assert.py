# label: tautological
# criterion: AC#4
# hard: assert (cond, msg): a non-empty tuple is always true
from billable.discounts import best_discount
from billable.money import Currency


def test_empty_list_gives_none():
    assert (best_discount(1000, Currency.EUR, []) is None, "empty list must give None")
