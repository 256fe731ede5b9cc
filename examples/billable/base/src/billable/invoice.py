"""Invoices: line items, subtotal, tax per category, and a plain-text summary."""

from dataclasses import dataclass, field

from billable.money import Currency, format_amount, percent_of
from billable.tax import Region, TaxCategory, describe_rate, rate_bps


class InvoiceError(Exception):
    """An operation that the invoice's current state does not allow."""


@dataclass(frozen=True)
class LineItem:
    sku: str
    description: str
    unit_price: int  # minor units
    quantity: int = 1
    category: TaxCategory = TaxCategory.STANDARD

    def __post_init__(self) -> None:
        if not self.sku.strip():
            raise ValueError("sku must not be blank")
        if self.unit_price < 0:
            raise ValueError(f"unit price must not be negative, got {self.unit_price}")
        if self.quantity < 1:
            raise ValueError(f"quantity must be at least 1, got {self.quantity}")

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


def taxable_bases(lines: list[LineItem]) -> dict[TaxCategory, int]:
    """Sum of line totals per tax category, in the order categories first appear."""
    bases: dict[TaxCategory, int] = {}
    for line in lines:
        bases[line.category] = bases.get(line.category, 0) + line.total
    return bases


def calculate_tax(lines: list[LineItem], region: Region) -> int:
    """Total tax for ``lines``, rounded once per tax category (never per line)."""
    return sum(
        percent_of(base, rate_bps(region, category))
        for category, base in taxable_bases(lines).items()
    )


@dataclass
class Invoice:
    number: str
    currency: Currency
    region: Region
    lines: list[LineItem] = field(default_factory=list)
    issued: bool = False

    def _check_editable(self) -> None:
        if self.issued:
            raise InvoiceError(f"invoice {self.number} has been issued and cannot change")

    def add_line(self, line: LineItem) -> None:
        self._check_editable()
        self.lines.append(line)

    def remove_line(self, sku: str) -> LineItem:
        """Remove and return the first line with ``sku``."""
        self._check_editable()
        for index, line in enumerate(self.lines):
            if line.sku == sku:
                return self.lines.pop(index)
        raise InvoiceError(f"invoice {self.number} has no line with sku {sku!r}")

    def issue(self) -> None:
        self._check_editable()
        if not self.lines:
            raise InvoiceError(f"invoice {self.number} has no lines")
        self.issued = True

    @property
    def subtotal(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def tax(self) -> int:
        return calculate_tax(self.lines, self.region)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax

    def summary(self) -> list[str]:
        """Plain-text lines for an e-mail or a receipt printer."""
        money = self.currency
        rows = [f"Invoice {self.number}"]
        for line in self.lines:
            rows.append(
                f"  {line.quantity} x {line.description} ({line.sku}): "
                f"{format_amount(line.total, money)}"
            )
        rows.append(f"Subtotal: {format_amount(self.subtotal, money)}")
        for category in taxable_bases(self.lines):
            rows.append(f"  {category.value}: {describe_rate(self.region, category)}")
        rows.append(f"Tax: {format_amount(self.tax, money)}")
        rows.append(f"Total: {format_amount(self.total, money)}")
        return rows
