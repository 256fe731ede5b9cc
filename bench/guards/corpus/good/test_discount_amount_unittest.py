# label: good
# criterion: AC#3
# hard: unittest style: self.assert*, fixtures on self
import unittest

from billable.discounts import Discount, DiscountKind, discount_amount


class DiscountAmountTest(unittest.TestCase):
    def setUp(self):
        self.fifteen = Discount("FIFTEEN", DiscountKind.PERCENT, 15)

    def test_rounding_half_up(self):
        self.assertEqual(discount_amount(333, self.fifteen), 50)

    def test_cap(self):
        capped = Discount("FIFTEEN-CAP", DiscountKind.PERCENT, 15, max_amount=40)
        self.assertEqual(discount_amount(333, capped), 40)

    def test_negative_subtotal(self):
        with self.assertRaises(ValueError):
            discount_amount(-333, self.fifteen)
