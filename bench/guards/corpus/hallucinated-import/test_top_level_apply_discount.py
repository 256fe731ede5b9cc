# label: hallucinated-import
# criterion: AC#6
import pytest

from billable import Currency, Discount, DiscountError, DiscountKind, Invoice, LineItem, Region
from billable import apply_discount


@pytest.fixture
def invoice():
    inv = Invoice("INV-2025-0004", Currency.EUR, Region.DE)
    inv.add_line(LineItem("BOOK-7", "Cookbook", 6000))
    return inv


def test_currency_mismatch_is_refused(invoice):
    usd = Discount("TEN-USD", DiscountKind.FIXED, 1000, Currency.USD)
    with pytest.raises(DiscountError):
        apply_discount(invoice, usd)
