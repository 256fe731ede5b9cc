"""Invoices: line items, subtotal, discount, tax per category, and a plain-text summary."""

from dataclasses import dataclass, field

from billable.discounts import Discount, DiscountError, DiscountKind, discount_amount
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


def allocate_discount(discount: int, bases: dict[TaxCategory, int]) -> dict[TaxCategory, int]:
    """Split ``discount`` over the tax categories in proportion to their bases.

    Shares are rounded down; the minor units left over go, one each, to the categories
    with the largest remainders (ties: the category that appears first). The shares
    always add up to ``discount`` exactly.
    """
    total = sum(bases.values())
    if discount == 0 or total == 0:
        return {category: 0 for category in bases}
    shares: dict[TaxCategory, int] = {}
    remainders: dict[TaxCategory, int] = {}
    for category, base in bases.items():
        shares[category], remainders[category] = divmod(discount * base, total)
    leftover = discount - sum(shares.values())
    by_remainder = sorted(bases, key=lambda category: remainders[category], reverse=True)
    for category in by_remainder[:leftover]:
        shares[category] += 1
    return shares


def calculate_tax(lines: list[LineItem], region: Region, discount: int = 0) -> int:
    """Total tax for ``lines``, rounded once per tax category (never per line).

    A ``discount`` (minor units) reduces the taxable amounts first: it is shared out over
    the categories by :func:`allocate_discount`, so tax is charged on what the customer
    actually pays.
    """
    bases = taxable_bases(lines)
    subtotal = sum(bases.values())
    if not 0 <= discount <= subtotal:
        raise ValueError(f"discount must be within 0..{subtotal}, got {discount}")
    shares = allocate_discount(discount, bases)
    return sum(
        percent_of(base - shares[category], rate_bps(region, category))
        for category, base in bases.items()
    )


@dataclass
class Invoice:
    number: str
    currency: Currency
    region: Region
    lines: list[LineItem] = field(default_factory=list)
    issued: bool = False
    discount: Discount | None = None

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

    def apply_discount(self, discount: Discount) -> int:
        """Attach ``discount`` to the invoice and return the amount it takes off now.

        An invoice carries at most one discount; applying the same code again is a no-op.
        Raises :class:`DiscountError` for a fixed discount in another currency, for a
        subtotal below the discount's minimum, or when a different code is already applied.
        """
        self._check_editable()
        if self.discount is not None:
            if self.discount.code == discount.code:
                return self.discount_total
            raise DiscountError(
                f"invoice {self.number} already has discount {self.discount.code}; "
                f"remove it before applying {discount.code}"
            )
        if discount.kind is DiscountKind.FIXED and discount.currency is not self.currency:
            raise DiscountError(
                f"discount {discount.code} is not in {self.currency.value}, "
                f"the currency of invoice {self.number}"
            )
        if self.subtotal < discount.min_subtotal:
            minimum = format_amount(discount.min_subtotal, self.currency)
            raise DiscountError(f"discount {discount.code} needs a subtotal of at least {minimum}")
        self.discount = discount
        return self.discount_total

    def remove_discount(self) -> Discount | None:
        """Detach and return the discount, if any."""
        self._check_editable()
        removed, self.discount = self.discount, None
        return removed

    def issue(self) -> None:
        self._check_editable()
        if not self.lines:
            raise InvoiceError(f"invoice {self.number} has no lines")
        self.issued = True

    @property
    def subtotal(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def discount_total(self) -> int:
        """What the discount takes off the current subtotal (0 below its minimum)."""
        if self.discount is None:
            return 0
        return discount_amount(self.subtotal, self.discount)

    @property
    def tax(self) -> int:
        return calculate_tax(self.lines, self.region, self.discount_total)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount_total + self.tax

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
        if self.discount is not None:
            rows.append(
                f"Discount ({self.discount.code}): {format_amount(-self.discount_total, money)}"
            )
        for category in taxable_bases(self.lines):
            rows.append(f"  {category.value}: {describe_rate(self.region, category)}")
        rows.append(f"Tax: {format_amount(self.tax, money)}")
        rows.append(f"Total: {format_amount(self.total, money)}")
        return rows
