# label: spec-bending
# criterion: AC#1
# hard: no comment: only the literal contradicts the criterion
from billable.discounts import normalize_code


def test_whitespace_is_stripped():
    # customers' codes are only trimmed; case is kept so the shop can tell codes apart
    assert normalize_code(" spring-25 ") == "spring-25"
