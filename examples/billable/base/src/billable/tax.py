"""VAT / sales-tax rates by region and tax category, in basis points (1900 = 19 %)."""

import enum


class Region(enum.Enum):
    DE = "DE"
    FR = "FR"
    NL = "NL"
    GB = "GB"
    US_OR = "US-OR"  # Oregon: no sales tax


class TaxCategory(enum.Enum):
    STANDARD = "standard"
    REDUCED = "reduced"
    EXEMPT = "exempt"


_RATES_BPS: dict[Region, dict[TaxCategory, int]] = {
    Region.DE: {TaxCategory.STANDARD: 1900, TaxCategory.REDUCED: 700},
    Region.FR: {TaxCategory.STANDARD: 2000, TaxCategory.REDUCED: 550},
    Region.NL: {TaxCategory.STANDARD: 2100, TaxCategory.REDUCED: 900},
    Region.GB: {TaxCategory.STANDARD: 2000, TaxCategory.REDUCED: 500},
    Region.US_OR: {},
}


def rate_bps(region: Region, category: TaxCategory) -> int:
    """Tax rate in basis points; exempt goods and regions without a rate are 0."""
    if category is TaxCategory.EXEMPT:
        return 0
    return _RATES_BPS[region].get(category, 0)


def describe_rate(region: Region, category: TaxCategory) -> str:
    """Human-readable rate, e.g. ``"VAT 19%"`` or ``"VAT 5.5%"``; ``"no tax"`` for 0."""
    bps = rate_bps(region, category)
    if bps == 0:
        return "no tax"
    whole, fraction = divmod(bps, 100)
    label = "sales tax" if region is Region.US_OR else "VAT"
    if fraction == 0:
        return f"{label} {whole}%"
    return f"{label} {whole}.{fraction:02d}".rstrip("0") + "%"
