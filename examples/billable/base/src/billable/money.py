"""Money helpers.

Amounts are plain ``int`` values in the currency's minor unit (cents, pence). Yen have
no minor unit, so an amount of 500 JPY is simply ``500``.
"""

import enum
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"
    JPY = "JPY"

    @property
    def minor_units(self) -> int:
        """Number of decimal places of the currency's minor unit."""
        return 0 if self is Currency.JPY else 2

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS: dict[Currency, str] = {
    Currency.EUR: "€",
    Currency.USD: "$",
    Currency.GBP: "£",
    Currency.JPY: "¥",
}


def percent_of(amount: int, rate_bps: int) -> int:
    """Return ``rate_bps`` basis points of ``amount``, rounded half away from zero.

    >>> percent_of(1050, 1900)  # 19 % of 10.50
    200
    """
    exact = Decimal(amount) * Decimal(rate_bps) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_amount(amount: int, currency: Currency) -> str:
    """Format an amount in minor units, e.g. ``-123456`` EUR -> ``"-€1,234.56"``."""
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    places = currency.minor_units
    if places == 0:
        return f"{sign}{currency.symbol}{value:,}"
    major, minor = divmod(value, 10**places)
    return f"{sign}{currency.symbol}{major:,}.{minor:0{places}d}"


def parse_amount(text: str, currency: Currency) -> int:
    """Parse ``"1,234.5"`` into minor units (``123450`` for EUR).

    Raises ``ValueError`` for text that is not a number or has more decimal places than
    the currency allows.
    """
    cleaned = text.strip().replace(",", "")
    if cleaned.startswith(currency.symbol):
        cleaned = cleaned[len(currency.symbol) :]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    scaled = value.scaleb(currency.minor_units)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{text!r} has more than {currency.minor_units} decimal places for {currency.value}"
        )
    return int(scaled)
