# label: tautological
# criterion: AC#1
from billable.discounts import normalize_code


def test_normalisation_is_stable():
    code = normalize_code(" spring-25 ")
    assert code == code
    assert normalize_code(code) is not None or True
