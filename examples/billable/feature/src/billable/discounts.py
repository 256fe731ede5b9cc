"""Discount codes: what a code looks like and how much it takes off a subtotal.

A discount is either a percentage of the subtotal (tax is computed afterwards, on the
reduced amount) or a fixed amount in one currency. Amounts are minor units, like
everywhere else in billable. Discounts are configured by the shop with their codes in
canonical form; what customers type goes through :func:`find_discount`.
"""

import enum
import string
from dataclasses import dataclass

from billable.money import Currency, percent_of

CODE_MIN_LENGTH = 4
CODE_MAX_LENGTH = 16
_CODE_ALPHABET = string.ascii_uppercase + string.digits + "-"


class DiscountError(ValueError):
    """A discount code or discount that cannot be used."""


class DiscountKind(enum.Enum):
    PERCENT = "percent"
    FIXED = "fixed"


def normalize_code(raw: str) -> str:
    """Canonical form of a code as a customer typed it: ``" spring-25 "`` -> ``"SPRING-25"``.

    Codes are 4 to 16 characters of A-Z, 0-9 and inner hyphens.
    """
    code = raw.strip().upper()
    if not CODE_MIN_LENGTH <= len(code) <= CODE_MAX_LENGTH:
        raise DiscountError(
            f"discount code must have {CODE_MIN_LENGTH} to {CODE_MAX_LENGTH} characters, "
            f"got {len(code)}"
        )
    invalid = sorted({char for char in code if char not in _CODE_ALPHABET})
    if invalid:
        raise DiscountError(f"discount code contains invalid characters: {''.join(invalid)!r}")
    if code[0] == "-" or code[-1] == "-":
        raise DiscountError("discount code must not start or end with a hyphen")
    return code


@dataclass(frozen=True)
class Discount:
    code: str  # canonical form, see normalize_code()
    kind: DiscountKind
    value: int  # whole percent for PERCENT, minor units for FIXED
    currency: Currency | None = None  # required for FIXED, ignored for PERCENT
    min_subtotal: int = 0
    max_amount: int | None = None  # cap on the amount taken off, in minor units

    def __post_init__(self) -> None:
        if self.kind is DiscountKind.PERCENT:
            if not 1 <= self.value <= 100:
                raise DiscountError(f"percent discount must be 1-100, got {self.value}")
        else:
            if self.value < 1:
                raise DiscountError(f"fixed discount must be positive, got {self.value}")
            if self.currency is None:
                raise DiscountError(f"fixed discount {self.code} needs a currency")
        if self.min_subtotal < 0:
            raise DiscountError("minimum subtotal must not be negative")
        if self.max_amount is not None and self.max_amount < 1:
            raise DiscountError("maximum discount must be positive")


def find_discount(entered: str, active: list[Discount]) -> Discount:
    """The active discount for the code a customer entered, in whatever case or spacing."""
    code = normalize_code(entered)
    for discount in active:
        if discount.code == code:
            return discount
    raise DiscountError(f"unknown or expired discount code {code}")


def discount_amount(subtotal: int, discount: Discount) -> int:
    """How much ``discount`` takes off ``subtotal``: never more than the subtotal itself.

    Below the discount's minimum subtotal the amount is 0. Percentages are rounded half
    up to the minor unit, then capped at ``max_amount``.
    """
    if subtotal < 0:
        raise ValueError(f"subtotal must not be negative, got {subtotal}")
    if subtotal < discount.min_subtotal:
        return 0
    if discount.kind is DiscountKind.PERCENT:
        amount = percent_of(subtotal, discount.value * 100)
    else:
        amount = discount.value
    if discount.max_amount is not None:
        amount = min(amount, discount.max_amount)
    return min(amount, subtotal)


def best_discount(subtotal: int, currency: Currency, discounts: list[Discount]) -> Discount | None:
    """The discount that takes the most off ``subtotal``; ties go to the earlier one.

    Fixed discounts in another currency are skipped. Returns ``None`` when no discount
    takes anything off.
    """
    best: Discount | None = None
    best_amount = 0
    for discount in discounts:
        if discount.kind is DiscountKind.FIXED and discount.currency is not currency:
            continue
        amount = discount_amount(subtotal, discount)
        if amount > best_amount:
            best, best_amount = discount, amount
    return best
