"""billable: invoice arithmetic for small shops."""

from billable.discounts import Discount, DiscountError, DiscountKind, best_discount, find_discount
from billable.invoice import Invoice, InvoiceError, LineItem, calculate_tax
from billable.money import Currency, format_amount, parse_amount, percent_of
from billable.numbering import next_invoice_number
from billable.tax import Region, TaxCategory, rate_bps

__version__ = "0.4.0"

__all__ = [
    "Currency",
    "Discount",
    "DiscountError",
    "DiscountKind",
    "Invoice",
    "InvoiceError",
    "LineItem",
    "Region",
    "TaxCategory",
    "best_discount",
    "calculate_tax",
    "find_discount",
    "format_amount",
    "next_invoice_number",
    "parse_amount",
    "percent_of",
    "rate_bps",
]
