import pytest

from billable.money import Currency, format_amount, parse_amount, percent_of


@pytest.mark.parametrize(
    ("amount", "rate_bps", "expected"),
    [
        (1050, 1900, 200),  # 199.5 rounds up
        (1000, 700, 70),
        (0, 1900, 0),
        (1, 5000, 1),  # exactly half a cent rounds up
        (-1, 5000, -1),  # and away from zero for refunds
        (999, 0, 0),
    ],
)
def test_percent_of_rounds_half_up(amount: int, rate_bps: int, expected: int) -> None:
    assert percent_of(amount, rate_bps) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (123456, Currency.EUR, "€1,234.56"),
        (5, Currency.USD, "$0.05"),
        (-250, Currency.GBP, "-£2.50"),
        (1500, Currency.JPY, "¥1,500"),
        (0, Currency.EUR, "€0.00"),
    ],
)
def test_format_amount(amount: int, currency: Currency, expected: str) -> None:
    assert format_amount(amount, currency) == expected


def test_parse_amount_accepts_separators_and_symbol() -> None:
    assert parse_amount(" €1,234.5 ", Currency.EUR) == 123450
    assert parse_amount("1500", Currency.JPY) == 1500


def test_parse_amount_rejects_too_many_decimals() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        parse_amount("1.5", Currency.JPY)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "NaN", "inf"])
def test_parse_amount_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount(text, Currency.EUR)


def test_format_and_parse_round_trip() -> None:
    for amount in (0, 1, 99, 100, 123456789):
        assert parse_amount(format_amount(amount, Currency.USD), Currency.USD) == amount
