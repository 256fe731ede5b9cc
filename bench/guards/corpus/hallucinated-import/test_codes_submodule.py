# label: hallucinated-import
# criterion: AC#1
# hard: a submodule of a real module, imported with a plain import
import pytest

import billable.discounts.codes as codes


def test_normalise():
    assert codes.normalize_code(" spring-25 ") == "SPRING-25"


def test_reject_trailing_hyphen():
    with pytest.raises(ValueError):
        codes.normalize_code("SPRING-")
