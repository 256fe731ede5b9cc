# label: flaky
# criterion: AC#6
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region

APPLIED = []
INVOICE = Invoice("INV-2025-0016", Currency.EUR, Region.DE, [LineItem("MUG-01", "Mug", 6000)])


def test_first_code_applies():
    spring = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
    assert INVOICE.apply_discount(spring) == 1000
    APPLIED.append(spring)


def test_second_code_is_refused():
    welcome = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR)
    assert APPLIED, "runs after test_first_code_applies"
    with pytest.raises(DiscountError):
        INVOICE.apply_discount(welcome)
