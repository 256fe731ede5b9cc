"""Invoice numbers of the form ``INV-2025-0042``: a prefix, the year, a counter.

The counter restarts at 1 every year. The caller passes the year in (billing runs are
dated by the caller, not by the clock of the machine that happens to run them).
"""

COUNTER_WIDTH = 4


def format_invoice_number(prefix: str, year: int, counter: int) -> str:
    if not prefix.isalpha() or not prefix.isupper():
        raise ValueError(f"prefix must be upper-case letters, got {prefix!r}")
    if not 1900 <= year <= 9999:
        raise ValueError(f"implausible year {year}")
    if counter < 1:
        raise ValueError("counter starts at 1")
    return f"{prefix}-{year}-{counter:0{COUNTER_WIDTH}d}"


def parse_invoice_number(number: str) -> tuple[str, int, int]:
    """Split ``"INV-2025-0042"`` into ``("INV", 2025, 42)``."""
    parts = number.split("-")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"not an invoice number: {number!r}")
    prefix, year, counter = parts[0], int(parts[1]), int(parts[2])
    # Round-trip through the formatter so that every rule lives in one place.
    if format_invoice_number(prefix, year, counter) != number:
        raise ValueError(f"not an invoice number: {number!r}")
    return prefix, year, counter


def next_invoice_number(previous: str | None, year: int, prefix: str = "INV") -> str:
    """The number after ``previous``; the first of the year when the year changed."""
    if previous is None:
        return format_invoice_number(prefix, year, 1)
    prev_prefix, prev_year, prev_counter = parse_invoice_number(previous)
    if prev_prefix != prefix:
        raise ValueError(f"previous number {previous!r} does not use prefix {prefix!r}")
    if year < prev_year:
        raise ValueError(f"year {year} is before the previous invoice's year {prev_year}")
    if year > prev_year:
        return format_invoice_number(prefix, year, 1)
    return format_invoice_number(prefix, year, prev_counter + 1)
