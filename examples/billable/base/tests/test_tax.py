import pytest

from billable.tax import Region, TaxCategory, describe_rate, rate_bps


def test_standard_rates() -> None:
    assert rate_bps(Region.DE, TaxCategory.STANDARD) == 1900
    assert rate_bps(Region.NL, TaxCategory.STANDARD) == 2100


def test_exempt_is_always_zero() -> None:
    for region in Region:
        assert rate_bps(region, TaxCategory.EXEMPT) == 0


def test_oregon_has_no_sales_tax() -> None:
    assert rate_bps(Region.US_OR, TaxCategory.STANDARD) == 0


@pytest.mark.parametrize(
    ("region", "category", "expected"),
    [
        (Region.DE, TaxCategory.STANDARD, "VAT 19%"),
        (Region.FR, TaxCategory.REDUCED, "VAT 5.5%"),
        (Region.GB, TaxCategory.EXEMPT, "no tax"),
        (Region.US_OR, TaxCategory.STANDARD, "no tax"),
    ],
)
def test_describe_rate(region: Region, category: TaxCategory, expected: str) -> None:
    assert describe_rate(region, category) == expected
