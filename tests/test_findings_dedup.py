"""Fingerprints that survive line shifts, and one finding per weakness however many tools
report it."""

from __future__ import annotations

import shutil

from findings_app import dedup
from findings_app.fingerprint import SourceCache
from findings_app.parsers import bandit, detect_secrets, semgrep
from findings_app.record import RawFinding
from tests.test_findings_parsers import DATA, TREE


def parsed(root):
    cache = SourceCache(root)
    found = []
    found += bandit.parse((DATA / "bandit.json").read_text(), root=root, cache=cache).findings
    found += semgrep.parse((DATA / "semgrep.json").read_text(), root=root, cache=cache).findings
    return found, cache


def shift(text: str, by: int, at: int) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: at - 1] + ["# a comment\n"] * by + lines[at - 1 :])


def shifted_json(tool_json: str, by: int, at: int) -> str:
    """The tool's report for the shifted file: the same results, lines moved by `by`."""
    import json

    data = json.loads(tool_json)
    for r in data["results"]:
        for key in ("line_number",):
            if key in r and r[key] >= at:
                r[key] += by
        if "line_range" in r:
            r["line_range"] = [n + by if n >= at else n for n in r["line_range"]]
        for key in ("start", "end"):
            if key in r and r[key]["line"] >= at:
                r[key]["line"] += by
    return json.dumps(data)


def test_bandit_and_semgrep_on_the_same_statement_are_one_finding_found_by_both():
    found, cache = parsed(TREE)
    merged = dedup.fingerprint(dedup.merge_code(found, cache), cache)
    by_place = {(f.file, f.line_start): f for f in merged}
    sql = by_place[("export.py", 27)]
    assert sql.tool_names == ["bandit", "semgrep"]
    assert sql.confidence == "high"  # two tools agree
    assert sql.tool == "semgrep" and sql.title == "SQL built by string formatting reaches a query"
    assert {t["rule_id"] for t in sql.tools} == {"B608", "sql-injection"}
    # three Semgrep results on the SQL line, one from Bandit: one finding
    assert sum(1 for f in merged if f.category == "sql-injection") == 1
    shell = [f for f in merged if f.category == "command-injection"]
    assert sorted((f.file, f.line_start) for f in shell) == [
        ("export.py", 34),
        ("settings_view.py", 24),
    ]
    assert all(f.tool_names == ["bandit", "semgrep"] for f in shell)
    # findings of different categories on one line stay apart
    assert len({f.fingerprint for f in merged}) == len(merged)


def test_fingerprints_survive_lines_added_above(tmp_path):
    found, cache = parsed(TREE)
    before = {
        (f.category, f.file): f.fingerprint
        for f in dedup.fingerprint(dedup.merge_code(found, cache), cache)
    }
    moved = tmp_path / "tree"
    shutil.copytree(TREE, moved)
    for name in ("export.py", "settings_view.py"):
        (moved / name).write_text(shift((TREE / name).read_text(), 7, 3))
    cache2 = SourceCache(moved)
    found2 = bandit.parse(
        shifted_json((DATA / "bandit.json").read_text(), 7, 3), root=moved, cache=cache2
    ).findings
    found2 += semgrep.parse(
        shifted_json((DATA / "semgrep.json").read_text(), 7, 3), root=moved, cache=cache2
    ).findings
    after = {
        (f.category, f.file): f.fingerprint
        for f in dedup.fingerprint(dedup.merge_code(found2, cache2), cache2)
    }
    assert after == before
    lines = {
        f.line_start for f in found2 if f.file == "export.py" and f.category == "sql-injection"
    }
    assert lines == {34}  # the line moved, the fingerprint did not


def test_the_same_statement_twice_in_a_function_gives_two_fingerprints(tmp_path):
    def finding(line):
        return RawFinding(lane="sast", tool="bandit", rule_id="B605", category="command-injection",
                          title="t", severity="high", confidence="high", file="m.py",
                          line_start=line, line_end=line)  # fmt: skip

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.py").write_text(
        "import os\n\n\ndef f(a, b):\n    os.system(a)\n    os.system(a)\n    os.system(b)\n"
    )
    out = dedup.fingerprint([finding(5), finding(6), finding(7)], SourceCache(tmp_path / "a"))
    assert len({f.fingerprint for f in out}) == 3
    # without the second `os.system(a)`, the first and `os.system(b)` keep theirs
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m.py").write_text(
        "import os\n\n\ndef f(a, b):\n    os.system(a)\n    os.system(b)\n"
    )
    again = dedup.fingerprint([finding(5), finding(6)], SourceCache(tmp_path / "b"))
    assert [f.fingerprint for f in again] == [out[0].fingerprint, out[2].fingerprint]
    # the same statement in another function is another finding
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "m.py").write_text("import os\n\n\ndef g(a, b):\n    os.system(a)\n")
    other = dedup.fingerprint([finding(5)], SourceCache(tmp_path / "c"))
    assert other[0].fingerprint != out[0].fingerprint


def test_a_hardcoded_token_reported_by_sast_and_secrets_is_one_secrets_finding():
    found, cache = parsed(TREE)
    sast = dedup.fingerprint(dedup.merge_code(found, cache), cache)
    secrets = detect_secrets.parse((DATA / "detect-secrets.json").read_text(), root=TREE).findings
    secrets = dedup.fingerprint(secrets, None)
    merged = dedup.merge_lanes({"sast": sast, "secrets": secrets})
    on_token = [f for f in merged if f.file == "export.py" and f.line_start == 12]
    assert len(on_token) == 1
    token = on_token[0]
    assert token.lane == "secrets" and token.tool_names == ["bandit", "detect-secrets"]
    assert token.fingerprint == next(s.fingerprint for s in secrets if s.line_start == 12)
    assert len(merged) == len(sast) + len(secrets) - 2  # both hard-coded secrets fold in
