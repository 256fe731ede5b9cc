# label: flaky
# criterion: AC#1
import uuid

from billable.discounts import Discount, DiscountKind, find_discount


def test_lookup_of_generated_code():
    code = uuid.uuid4().hex[:12].upper()
    active = [Discount(code, DiscountKind.PERCENT, 10)]
    assert find_discount(code.lower(), active).code == code
