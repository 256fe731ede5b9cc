# label: good
# criterion: AC#7
# hard: writes and reads back a file under tmp_path
from billable.discounts import Discount, DiscountKind
from billable.invoice import Invoice, LineItem
from billable.money import Currency
from billable.tax import Region


def test_receipt_file_contains_the_discount_line(tmp_path):
    inv = Invoice("INV-2025-0011", Currency.GBP, Region.GB)
    inv.add_line(LineItem("SCARF", "Scarf", 3000))
    inv.apply_discount(Discount("WINTER-5", DiscountKind.FIXED, 500, Currency.GBP))
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("\n".join(inv.summary()), encoding="utf-8")
    lines = receipt.read_text(encoding="utf-8").splitlines()
    assert "Discount (WINTER-5): -£5.00" in lines
    assert lines[-1] == "Total: £30.00"  # 30.00 - 5.00 + 20 % of 25.00
