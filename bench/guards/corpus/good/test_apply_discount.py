# label: good
# criterion: AC#6
# hard: comment 'actually returns ... not the invoice' is neutral
import pytest

from billable.discounts import Discount, DiscountError, DiscountKind
from billable.invoice import Invoice, InvoiceError, LineItem
from billable.money import Currency
from billable.tax import Region

SPRING = Discount("SPRING-25", DiscountKind.PERCENT, 25, max_amount=1000)
WELCOME = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR, min_subtotal=5000)


def invoice(*prices):
    inv = Invoice("INV-2025-0007", Currency.EUR, Region.DE)
    for i, price in enumerate(prices):
        inv.add_line(LineItem(f"SKU-{i}", "thing", price))
    return inv


def test_apply_returns_the_amount_taken_off():
    inv = invoice(2000)
    # apply_discount actually returns the amount taken off, not the invoice
    assert inv.apply_discount(SPRING) == 500
    assert inv.discount is SPRING


def test_applying_the_same_code_again_changes_nothing():
    inv = invoice(2000)
    first = inv.apply_discount(SPRING)
    assert inv.apply_discount(SPRING) == first
    assert inv.discount is SPRING and inv.discount_total == 500


def test_a_second_code_is_refused():
    inv = invoice(6000)
    inv.apply_discount(SPRING)
    with pytest.raises(DiscountError, match="SPRING-25"):
        inv.apply_discount(WELCOME)
    assert inv.discount is SPRING


def test_fixed_discount_in_another_currency_is_refused():
    inv = invoice(6000)
    with pytest.raises(DiscountError):
        inv.apply_discount(Discount("TEN-USD", DiscountKind.FIXED, 1000, Currency.USD))
    assert inv.discount is None


def test_subtotal_below_the_minimum_is_refused():
    with pytest.raises(DiscountError, match="at least"):
        invoice(4999).apply_discount(WELCOME)


def test_issued_invoice_cannot_take_a_discount():
    inv = invoice(6000)
    inv.issue()
    with pytest.raises(InvoiceError):
        inv.apply_discount(WELCOME)


def test_remove_discount_detaches_and_returns_it():
    inv = invoice(6000)
    inv.apply_discount(WELCOME)
    assert inv.remove_discount() is WELCOME
    assert inv.discount is None
    assert inv.remove_discount() is None
