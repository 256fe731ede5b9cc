# label: hallucinated-import
# criterion: AC#5
from billable.invoice import DiscountAllocation, allocate_discount
from billable.tax import TaxCategory


def test_shares_add_up_to_the_discount():
    bases = {TaxCategory.STANDARD: 2500, TaxCategory.REDUCED: 2400}
    shares = allocate_discount(490, bases)
    assert isinstance(shares, DiscountAllocation)
    assert sum(shares.values()) == 490
