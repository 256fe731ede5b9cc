# label: good
# criterion: AC#7
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region, TaxCategory


def make_invoice():
    invoice = Invoice(number="INV-2025-0001", currency=Currency.EUR, region=Region.DE)
    invoice.add_line(LineItem("MUG-01", "Mug", 1250, quantity=2))
    invoice.add_line(LineItem("BOOK-7", "Cookbook", 2400, category=TaxCategory.REDUCED))
    return invoice


def test_total_is_subtotal_minus_discount_plus_tax():
    invoice = make_invoice()
    invoice.apply_discount(Discount("TEN-PCT", DiscountKind.PERCENT, 10))
    assert invoice.discount_total == 490
    assert invoice.tax == 428 + 151
    assert invoice.total == 4900 - 490 + 579


def test_discount_total_follows_the_lines():
    invoice = make_invoice()
    welcome = Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR, min_subtotal=4000)
    assert invoice.apply_discount(welcome) == 1000
    invoice.remove_line("MUG-01")  # subtotal 2400, below the minimum
    assert invoice.discount_total == 0
    assert invoice.total == 2400 + 168


def test_summary_shows_the_discount_after_the_subtotal():
    invoice = make_invoice()
    invoice.apply_discount(Discount("WELCOME10", DiscountKind.FIXED, 1000, Currency.EUR))
    rows = invoice.summary()
    at = rows.index("Subtotal: €49.00")
    assert rows[at + 1] == "Discount (WELCOME10): -€10.00"
