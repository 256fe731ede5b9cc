import pytest

from billable.numbering import format_invoice_number, next_invoice_number, parse_invoice_number


def test_first_number_of_the_year() -> None:
    assert next_invoice_number(None, 2025) == "INV-2025-0001"


def test_counter_increments_within_a_year() -> None:
    assert next_invoice_number("INV-2025-0041", 2025) == "INV-2025-0042"


def test_counter_restarts_in_a_new_year() -> None:
    assert next_invoice_number("INV-2024-0917", 2025) == "INV-2025-0001"


def test_counter_may_outgrow_its_padding() -> None:
    assert next_invoice_number("INV-2025-9999", 2025) == "INV-2025-10000"


def test_going_back_in_time_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        next_invoice_number("INV-2025-0003", 2024)


def test_prefix_must_match() -> None:
    with pytest.raises(ValueError, match="prefix"):
        next_invoice_number("CRN-2025-0003", 2025)


def test_parse_round_trips() -> None:
    assert parse_invoice_number("CRN-2024-0100") == ("CRN", 2024, 100)


@pytest.mark.parametrize("number", ["INV-2025", "INV-25-0001", "INV-2025-01", "inv-2025-0001"])
def test_parse_rejects_malformed_numbers(number: str) -> None:
    with pytest.raises(ValueError):
        parse_invoice_number(number)


def test_format_rejects_bad_counter() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        format_invoice_number("INV", 2025, 0)
