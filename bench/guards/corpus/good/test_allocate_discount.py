# label: good
# criterion: AC#5
# hard: submodule import, function taken as a module attribute
import billable.invoice
from billable.tax import TaxCategory

allocate = billable.invoice.allocate_discount


def test_shares_are_proportional_and_add_up():
    bases = {TaxCategory.STANDARD: 2500, TaxCategory.REDUCED: 2400}
    shares = allocate(490, bases)
    assert shares == {TaxCategory.STANDARD: 250, TaxCategory.REDUCED: 240}
    assert sum(shares.values()) == 490


def test_leftover_cent_goes_to_the_largest_remainder():
    # 100 * 2/3 = 66.67 and 100 * 1/3 = 33.33: the leftover cent goes to STANDARD
    bases = {TaxCategory.REDUCED: 100, TaxCategory.STANDARD: 200}
    assert allocate(100, bases) == {TaxCategory.REDUCED: 33, TaxCategory.STANDARD: 67}


def test_ties_go_to_the_category_that_appears_first():
    bases = {TaxCategory.REDUCED: 100, TaxCategory.STANDARD: 100}
    assert allocate(3, bases) == {TaxCategory.REDUCED: 2, TaxCategory.STANDARD: 1}
    bases = {TaxCategory.STANDARD: 100, TaxCategory.REDUCED: 100}
    assert allocate(3, bases) == {TaxCategory.STANDARD: 2, TaxCategory.REDUCED: 1}


def test_zero_discount_allocates_nothing():
    assert allocate(0, {TaxCategory.STANDARD: 999}) == {TaxCategory.STANDARD: 0}
