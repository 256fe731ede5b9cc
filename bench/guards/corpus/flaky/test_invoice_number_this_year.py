# label: flaky
# criterion: AC#7
from datetime import date

from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.numbering import next_invoice_number
from billable.tax import Region


def test_summary_header_and_discount_line():
    number = next_invoice_number(None, date.today().year)
    inv = Invoice(number, Currency.EUR, Region.DE)
    inv.add_line(LineItem("MUG-01", "Mug", 2000))
    inv.apply_discount(Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR))
    rows = inv.summary()
    assert rows[0] == "Invoice INV-2025-0001"
    assert rows[2] == "Discount (WELCOME10): -€10.00"
