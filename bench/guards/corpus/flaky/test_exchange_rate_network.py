# label: flaky
# criterion: AC#4
import requests

from billable.discounts import Discount, DiscountKind, best_discount
from billable.money import Currency


def test_usd_voucher_is_worth_less_than_percent_off_after_conversion():
    rate = requests.get("https://api.frankfurter.app/latest?from=USD&to=EUR", timeout=5).json()
    usd_in_eur = round(1000 * rate["rates"]["EUR"])
    offers = [
        Discount("TEN-USD", DiscountKind.FIXED, 1000, Currency.USD),
        Discount("TWENTY-PCT", DiscountKind.PERCENT, 20),
    ]
    assert best_discount(10_000, Currency.EUR, offers).code == "TWENTY-PCT"
    assert usd_in_eur < 2000
