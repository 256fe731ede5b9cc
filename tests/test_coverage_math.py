"""Coverage math of the evaluator: changed elements and minimisation."""

from agents_app.stages.evaluate import minimise


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


def test_a_changed_continuation_line_counts_as_its_statement():
    from agents_app.stages.evaluate import changed_elements, covered_by_context

    plan = {"targets": [{"path": "m.py", "changed_lines": [3, 7]}]}
    export = {
        "files": {
            "/r/m.py": {
                "statements": [1, 2, 6, 8],
                "branch_lines": [6],
                "arcs_possible": [[1, -1], [2, -1], [6, 8], [6, -1], [8, -1]],
                # line 3 continues the statement of line 2; line 7 the `if` of line 6
                "first_lines": {"3": 2, "4": 2, "7": 6},
                "contexts": {"t1": {"lines": [2, 6], "arcs": [[6, 8]]}},
            }
        }
    }
    changed = changed_elements(plan, export, "/r")
    assert changed.lines == {"m.py": {2, 6}}
    assert changed.arcs == {"m.py": {(6, 8), (6, -1)}}
    hit = covered_by_context(export, "/r", changed)["t1"]
    assert hit == {("L", "m.py", 2), ("L", "m.py", 6), ("B", "m.py", 6, 8)}


def test_minimise_finds_a_smaller_cover_than_greedy():
    L = lambda *ns: {("L", "m.py", n) for n in ns}  # noqa: E731
    # greedy (then pruning) ends with a, e, f; d and f alone cover every line
    green = {
        "a": L(1, 2, 4, 5, 7),
        "b": L(5, 6),
        "c": L(2, 4, 6),
        "d": L(2, 4, 5, 7, 8),
        "e": L(1, 6, 8),
        "f": L(1, 3, 5, 6),
    }
    kept, target = minimise(green, baseline=set(), code_len={})
    assert sorted(t for t, _ in kept) == ["d", "f"]
    assert set().union(*(g for _, g in kept)) == target
