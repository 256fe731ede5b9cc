"""billable: invoice arithmetic for small shops."""

from billable.invoice import Invoice, InvoiceError, LineItem, calculate_tax
from billable.money import Currency, format_amount, parse_amount, percent_of
from billable.numbering import next_invoice_number
from billable.tax import Region, TaxCategory, rate_bps

__version__ = "0.3.0"

__all__ = [
    "Currency",
    "Invoice",
    "InvoiceError",
    "LineItem",
    "Region",
    "TaxCategory",
    "calculate_tax",
    "format_amount",
    "next_invoice_number",
    "parse_amount",
    "percent_of",
    "rate_bps",
]
