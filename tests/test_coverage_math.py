"""The evaluator's minimisation: the fewest tests for the same changed-line coverage."""

from agents_app.evaluator import minimise


def test_minimise_keeps_the_fewest_tests_for_the_same_coverage():
    L = lambda *ns: {("L", "m.py", n) for n in ns}  # noqa: E731
    green = {
        "big": L(1, 2, 3, 4),  # greedy takes this first ...
        "left": L(1, 2, 5),
        "right": L(3, 4, 6),  # ... but left + right alone reach everything
        "same": L(5),
        "old": L(9),
    }
    kept, target = minimise(green, baseline=L(9), code_len={})
    assert target == L(1, 2, 3, 4, 5, 6)
    assert sorted(t for t, _ in kept) == ["left", "right"]
    assert set().union(*(g for _, g in kept)) == target
