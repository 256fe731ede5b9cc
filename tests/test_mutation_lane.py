"""Host side of the mutation lane: test selection from coverage contexts, the gate's
decisions, the before/after figures and the Stryker report against its published schema."""

from __future__ import annotations

import jsonschema

from agents_app.lanes.mutation.gate import MutationGate
from agents_app.lanes.mutation.lane import Coverage, importers_of, select_tests
from agents_app.lanes.mutation.operators import find_mutants
from agents_app.lanes.mutation.report import Matrix, stryker_report
from tests.conftest import stryker_schema

SOURCE = b"""\
RATE = 2


def price(n):
    if n > 10:
        return n * RATE
    return n


def helper():
    return 1
"""

REPO = "/scratch/repo"


def export(contexts: dict[str, list[int]], first_lines: dict[str, int] | None = None) -> dict:
    return {
        "files": {
            f"{REPO}/pkg/shop.py": {
                "contexts": {
                    name: {"lines": lines, "arcs": []} for name, lines in contexts.items()
                },
                "first_lines": first_lines or {},
            }
        }
    }


def test_each_mutant_gets_the_tests_that_ran_its_line():
    mutants = find_mutants("pkg/shop.py", SOURCE, {1, 5, 6, 11})
    cov = Coverage(
        [
            export({"": [1, 4, 10], "tests/test_a.py::test_big": [5, 6]}),
            export({"cand/test_c.py::test_small": [5, 7], "cand/test_c.py::test_helper": [11]}),
        ],
        REPO,
    )
    eligible = [
        "tests/test_a.py::test_big",
        "tests/test_b.py::test_rate",
        "cand/test_c.py::test_small",
        "cand/test_c.py::test_helper",
    ]
    importers = importers_of(
        {"pkg/shop.py": "pkg.shop"},
        {
            "tests/test_a.py": "from pkg.shop import price",
            "tests/test_b.py": "import pkg.shop\n",
            "cand/test_c.py": "import os\n",
        },
        eligible,
    )
    chosen = {(m.line, m.original, m.replacement): (m, tests) for m, tests in select_tests(
        mutants, cov, eligible, importers
    )}  # fmt: skip
    # line 5 ran in two tests; order follows `eligible` (existing tests first)
    _, tests = chosen[(5, ">", ">=")]
    assert tests == ["tests/test_a.py::test_big", "cand/test_c.py::test_small"]
    _, tests = chosen[(6, "n * RATE", "None")]
    assert tests == ["tests/test_a.py::test_big"]
    _, tests = chosen[(11, "1", "2")]
    assert tests == ["cand/test_c.py::test_helper"]
    # a module-level mutant: every test that ran any line of the file, and every test
    # whose file imports the module (test_rate reads RATE without running a line of it)
    m, tests = chosen[(1, "2", "3")]
    assert m.scope == "module"
    assert set(tests) == set(eligible)
    # an ineligible test (failed in the runs) is never chosen
    (_, tests), *_ = select_tests(mutants[:1], cov, ["tests/test_b.py::test_rate"], {})
    assert tests in ([], ["tests/test_b.py::test_rate"])


def test_a_function_line_that_runs_at_import_becomes_module_scope():
    source = b"def register(fn):\n    REGISTRY.append(fn)\n    return fn\n"
    mutants = find_mutants("pkg/shop.py", source)
    cov = Coverage([export({"": [1, 2, 3], "t.py::test_x": [2, 3]})], REPO)
    for m, tests in select_tests(mutants, cov, ["t.py::test_x"], {}):
        assert m.scope == "module" and m.qualname == "" and m.firstlineno == 0
        assert tests == ["t.py::test_x"]


def test_a_continuation_line_maps_to_its_statement():
    source = b"def f(a, b):\n    return (a +\n            b)\n"
    mutants = [m for m in find_mutants("pkg/shop.py", source) if m.original == "+"]
    cov = Coverage([export({"t.py::test_f": [2]}, first_lines={"3": 2})], REPO)
    ((m, tests),) = select_tests(mutants, cov, ["t.py::test_f"], {})
    assert tests == ["t.py::test_f"]


def matrix_data(results: dict[str, dict], mutants: list[str]) -> dict:
    return {
        "status": "done",
        "existing": ["tests/test_a.py::test_old"],
        "candidates": {
            "cand/test_c.py::test_strong": "tests/functional/test_c.py::test_strong",
            "cand/test_c.py::test_weak": "tests/functional/test_c.py::test_weak",
            "cand/test_c.py::test_dup": "tests/functional/test_c.py::test_dup",
        },
        "sources": {"pkg/shop.py": SOURCE.decode()},
        "mutants": [
            {
                "id": mid,
                "path": "pkg/shop.py",
                "mutator": "EqualityOperator",
                "start": SOURCE.index(b">"),
                "length": 1,
                "original": ">",
                "replacement": ">=",
                "line": 5,
                "column": 10,
                "end_line": 5,
                "end_column": 11,
                "scope": "function",
                "qualname": "price",
                "firstlineno": 4,
                "ignored": "",
                "tests": [],
            }
            for mid in mutants
        ],
        "results": results,
        "dry_run": {"tests": {}},
        "timing": {"dry_s": 0.5, "total_s": 2.0},
    }


OLD, STRONG, WEAK, DUP = (
    "tests/test_a.py::test_old",
    "cand/test_c.py::test_strong",
    "cand/test_c.py::test_weak",
    "cand/test_c.py::test_dup",
)
IDS = {
    STRONG: "tests/functional/test_c.py::test_strong",
    WEAK: "tests/functional/test_c.py::test_weak",
    DUP: "tests/functional/test_c.py::test_dup",
}
NODES = {v: k for k, v in IDS.items()}


def result(status, killed=(), covered=(), **extra):
    return {"status": status, "killedBy": list(killed), "coveredBy": list(covered), **extra}


def sample():
    return matrix_data(
        {
            "m1": result("Killed", [OLD, WEAK], [OLD, STRONG, WEAK]),  # the suite kills it
            "m2": result("Killed", [STRONG], [OLD, STRONG, WEAK, DUP]),  # only STRONG does
            "m3": result("Survived", [], [OLD, STRONG]),
            "m4": result("NoCoverage"),
            "m5": result("Timeout", [], [OLD, DUP], timedOutIn=DUP),
            "m6": result("CompileError", statusReason="SyntaxError"),
            "m7": result("Ignored", statusReason="pragma"),
        },
        ["m1", "m2", "m3", "m4", "m5", "m6", "m7"],
    )


def test_figures_before_and_after():
    matrix = Matrix(sample())
    assert sorted(matrix.valid) == ["m1", "m2", "m3", "m4", "m5"]
    before = matrix.figures([OLD])
    assert before == {"killed": 1, "survived": 3, "no_coverage": 1, "timeout": 0, "score": 20.0}
    after = matrix.figures([OLD, STRONG, DUP])
    assert after == {"killed": 2, "survived": 1, "no_coverage": 1, "timeout": 1, "score": 60.0}
    assert matrix.kills(STRONG) == {"m2"}
    assert matrix.kills(DUP) == {"m5"}  # hanging on a mutant detects it
    assert matrix.survivors([OLD, STRONG]) == ["m3", "m4", "m5"]


def test_the_gate():
    gate = MutationGate(sample(), NODES | {"x": "y"})
    assert gate.state == "on"
    assert gate.survivors == {"m2", "m3", "m4", "m5"}
    assert gate.check(IDS[STRONG]) is None
    assert gate.check(IDS[DUP]) is None
    verdict, why = gate.check(IDS[WEAK])
    assert verdict == "reject"
    assert why.startswith("trivial: kills none of the 4 changed-line mutant(s)")
    assert "it kills 1 the suite already kills" in why
    assert gate.elements(IDS[STRONG]) == {("M", "m2")}
    assert gate.baseline_elements() == {("M", "m1")}
    assert gate.killed_count(IDS[STRONG]) == 1 and gate.killed_count("x") is None


def test_where_the_suite_kills_everything_one_kill_is_enough():
    data = matrix_data(
        {
            "m1": result("Killed", [OLD, WEAK], [OLD, WEAK]),
            "m2": result("Killed", [OLD], [OLD, STRONG]),
        },
        ["m1", "m2"],
    )
    gate = MutationGate(data, NODES)
    assert not gate.survivors
    assert gate.check(IDS[WEAK]) is None
    verdict, why = gate.check(IDS[STRONG])
    assert (verdict, why) == ("reject", "trivial: kills no changed-line mutant")


def test_an_unknown_kill_matrix_flags_and_a_switched_off_lane_opens_the_gate():
    failed = MutationGate({"status": "failed", "error": "the sandbox failed: boom"}, IDS)
    verdict, why = failed.check(IDS[STRONG])
    assert verdict == "flag" and "the sandbox failed: boom" in why and "unknown" in why
    off = MutationGate(None, NODES)
    assert off.state == "off" and off.check(IDS[WEAK]) is None
    assert "did not run" in off.kill_reason(IDS[WEAK], set())
    empty = MutationGate(matrix_data({"m1": result("CompileError")}, ["m1"]), NODES)
    assert empty.state == "empty" and empty.check(IDS[WEAK]) is None


def test_a_candidate_that_failed_the_dry_run_is_flagged_not_called_trivial():
    data = sample()
    data["dry_run"] = {"tests": {WEAK: {"outcome": "failed", "duration": 0.1}}}
    verdict, why = MutationGate(data, NODES).check(IDS[WEAK])
    assert verdict == "flag" and "unmutated run" in why


def test_the_stryker_report_matches_the_published_schema():
    matrix = Matrix(sample())
    doc = stryker_report(matrix, {OLD, STRONG}, version="0.1.0", timing={"dry_s": 1, "total_s": 3})
    jsonschema.validate(doc, stryker_schema())
    assert doc["schemaVersion"] == "2"
    mutants = {m["id"]: m for m in doc["files"]["pkg/shop.py"]["mutants"]}
    assert mutants["m2"]["status"] == "Killed"
    assert mutants["m2"]["killedBy"] == [IDS[STRONG]]
    assert set(mutants["m1"]["coveredBy"]) == {OLD, IDS[STRONG]}
    assert mutants["m5"]["status"] == "Survived"  # DUP is not among the kept tests
    assert mutants["m4"]["status"] == "NoCoverage"
    assert mutants["m6"]["status"] == "CompileError"
    assert mutants["m7"]["status"] == "Ignored"
    assert doc["files"]["pkg/shop.py"]["source"] == SOURCE.decode()
    assert mutants["m2"]["location"] == {
        "start": {"line": 5, "column": 10},
        "end": {"line": 5, "column": 11},
    }
    test_ids = {t["id"] for f in doc["testFiles"].values() for t in f["tests"]}
    assert test_ids == {OLD, IDS[STRONG]}
    assert doc["performance"] == {"setup": 0, "initialRun": 1000, "mutation": 2000}


def test_the_schema_check_has_teeth():
    doc = stryker_report(Matrix(sample()), {OLD}, version="0.1.0")
    doc["files"]["pkg/shop.py"]["mutants"][0]["status"] = "Dead"
    try:
        jsonschema.validate(doc, stryker_schema())
    except jsonschema.ValidationError:
        return
    raise AssertionError("an unknown status passed the schema")


def test_the_survivor_snippet_is_a_small_diff():
    matrix = Matrix(sample())
    assert matrix.snippet("m3") == "-     if n > 10:\n+     if n >= 10:"
