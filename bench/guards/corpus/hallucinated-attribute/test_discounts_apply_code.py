# label: hallucinated-attribute
# criterion: AC#1
from billable import discounts

ACTIVE = [discounts.Discount("SPRING-25", discounts.DiscountKind.PERCENT, 25)]


def test_apply_code_finds_discount_case_insensitively():
    found = discounts.apply_code(" spring-25 ", ACTIVE)
    assert found.code == "SPRING-25"
