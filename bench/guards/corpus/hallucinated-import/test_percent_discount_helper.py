# label: hallucinated-import
# criterion: AC#3
from billable.discounts import discount_amount, percent_discount


def test_fifteen_percent_of_333_is_50():
    assert discount_amount(333, percent_discount("FIFTEEN", 15)) == 50


def test_cap_applies():
    assert discount_amount(10_000, percent_discount("SPRING-25", 25, max_amount=1000)) == 1000
