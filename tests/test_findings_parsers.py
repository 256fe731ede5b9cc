"""Each tool's parser on real output of that tool (tests/data/findings: Bandit, Semgrep
with our rules and detect-secrets, run over tests/data/findings/tree), and OSV records
from the PyPA snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from findings_app.parsers import ParseError, bandit, detect_secrets, osv, semgrep
from findings_app.secrets import find_secrets, scrub, scrub_line
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "findings"
TREE = DATA / "tree"
SNAPSHOT = ROOT.parent / "shared" / "data" / "osv-pypi" / "vulns"
TOKEN = "ghp_Q7wX2mK9pL4vN8rT3yB6cZ1dF5gH0jS2aE4u"


def by_line(findings):
    return {(f.file, f.line_start): f for f in findings}


def test_bandit_report_is_normalised_with_categories_cwes_and_source_snippets():
    result = bandit.parse((DATA / "bandit.json").read_text(), root=TREE, version="1.9.4")
    found = by_line(result.findings)
    sql = found[("export.py", 27)]
    assert (sql.rule_id, sql.category, sql.cwe, sql.severity) == (
        "B608",
        "sql-injection",
        [89],
        "medium",
    )
    assert "WHERE customer = '%s'" in sql.snippet and sql.tool_version == "1.9.4"
    assert found[("export.py", 34)].category == "command-injection"
    assert found[("export.py", 40)].category == "deserialization"
    assert found[("settings_view.py", 16)].category == "insecure-tls"
    assert found[("settings_view.py", 20)].category == "weak-crypto"
    # a check without a category of ours keeps its own, so it never merges with another tool
    assert found[("export.py", 5)].category == "rule:bandit:B404"
    assert result.errors == []


def test_bandit_never_repeats_a_hardcoded_password_in_its_text():
    result = bandit.parse((DATA / "bandit.json").read_text(), root=TREE)
    secrets = [f for f in result.findings if f.category == "hardcoded-secret"]
    assert {f.line_start for f in secrets} == {12, 25}
    for f in secrets:
        text = json.dumps(f.to_json())
        assert TOKEN not in text and "hunter2-but-longer" not in text


def test_semgrep_output_takes_ids_categories_and_confidence_from_our_rules():
    result = semgrep.parse((DATA / "semgrep.json").read_text(), root=TREE)
    assert result.version == "1.187.0"
    rules = {(f.rule_id, f.line_start) for f in result.findings}
    assert ("sql-injection", 27) in rules and ("unsafe-yaml-load", 40) in rules
    redirect = next(f for f in result.findings if f.rule_id == "open-redirect")
    assert (redirect.category, redirect.cwe, redirect.confidence) == (
        "open-redirect",
        [601],
        "medium",
    )
    assert redirect.title == "Redirect to a URL from the request"
    sql = next(f for f in result.findings if f.rule_id == "sql-injection")
    assert (sql.severity, sql.confidence, sql.file) == ("high", "high", "export.py")


def test_detect_secrets_results_are_one_finding_per_secret_with_the_value_redacted():
    result = detect_secrets.parse((DATA / "detect-secrets.json").read_text(), root=TREE)
    found = by_line(result.findings)
    token = found[("export.py", 12)]
    # "GitHub Token" and "Base64 High Entropy String" on one value: one secret
    assert token.extra["types"] == ["Base64 High Entropy String", "GitHub Token"]
    assert token.title == "GitHub Token in the code" and token.confidence == "high"
    assert TOKEN not in json.dumps(token.to_json())
    assert token.snippet == 'REPORTING_TOKEN = "********"'
    keyword = found[("settings_view.py", 25)]
    assert keyword.snippet == '    password = "********"' and keyword.confidence == "medium"
    # the stored identity is a keyed hash: not the value, not its plain SHA-1
    assert len(token.extra["secret"]) == 32
    assert token.extra["secret"] not in (DATA / "detect-secrets.json").read_text()


@pytest.mark.parametrize(
    "parser, text",
    [
        (bandit.parse, "not json"),
        (bandit.parse, '{"results": {}}'),
        (bandit.parse, '{"results": [{"test_id": "B608"}]}'),
        (semgrep.parse, '["a list"]'),
        (semgrep.parse, '{"results": [{"path": "x.py"}]}'),
        (detect_secrets.parse, '{"results": []}'),
        (detect_secrets.parse, '{"results": {"x.py": [{"type": "t"}]}}'),
    ],
)
def test_malformed_tool_output_is_a_parse_error_naming_the_tool(parser, text):
    with pytest.raises(ParseError) as info:
        parser(text, root=TREE)
    assert any(name in str(info.value) for name in ("bandit", "semgrep", "detect-secrets"))


def _record(package: str, name: str) -> dict:
    import yaml

    return yaml.safe_load((SNAPSHOT / package / name).read_text())


def test_osv_ranges_versions_and_fixes_from_the_pypa_snapshot():
    adv = osv.parse_record(_record("pyyaml", "PYSEC-2021-142.yaml"))
    assert adv.affects("PyYAML", "5.3.1") and adv.affects("pyyaml", "5.1")
    assert not adv.affects("PyYAML", "5.4") and not adv.affects("PyYAML", "6.0.1")
    assert adv.fixed_versions("pyyaml") == ["5.4"]
    assert "CVE-2020-14343" in adv.aliases
    # a range admits affected releases, or not
    assert adv.admitted("pyyaml", ">=5.0") and adv.admitted("pyyaml", ">=5.4") == []


def test_osv_range_semantics(tmp_path):
    record = {
        "id": "TEST-1",
        "aliases": ["CVE-2099-1"],
        "severity": [
            {"type": "CVSS_V3", "score": "CVS" + "S:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ],
        "affected": [
            {
                "package": {"name": "Some_Pkg", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.4.2"}]},
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "2.0"}, {"last_affected": "2.1"}],
                    },
                    {"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "abc"}]},
                ],
            }
        ],
    }
    adv = osv.parse_record(record)
    cases = {"0.9": False, "1.0": True, "1.4.1": True, "1.4.2": False, "2.0.5": True,
             "2.1": True, "2.1.1": False, "not a version": False}  # fmt: skip
    assert {v: adv.affects("some-pkg", v) for v in cases} == cases
    assert (adv.score, adv.severity) == (9.8, "critical")
    assert osv.parse_record({**record, "withdrawn": "2024-01-01T00:00:00Z"}) is None
    with pytest.raises(ValueError):
        osv.parse_record({"affected": []})


def test_equivalent_advisories_group_by_their_aliases():
    a = osv.parse_record({"id": "PYSEC-1", "aliases": ["CVE-1"], "affected": [
        {"package": {"name": "x", "ecosystem": "PyPI"}, "versions": ["1.0"]}]})  # fmt: skip
    b = osv.parse_record({"id": "GHSA-1", "aliases": ["CVE-1"], "affected": [
        {"package": {"name": "x", "ecosystem": "PyPI"}, "versions": ["1.0"]}]})  # fmt: skip
    c = osv.parse_record({"id": "PYSEC-2", "affected": [
        {"package": {"name": "x", "ecosystem": "PyPI"}, "versions": ["1.0"]}]})  # fmt: skip
    groups = osv.group_advisories([a, b, c])
    assert sorted(len(g) for g in groups) == [1, 2]
    assert osv.canonical_id({"PYSEC-1", "GHSA-1", "CVE-1"}) == "CVE-1"


@pytest.mark.parametrize(
    "line, hidden, visible",
    [
        (f'token = "{TOKEN}"', TOKEN, "token = "),
        ('aws_key = "AKIAIOSFODNN7EXAMPLE"', "IOSFODNN7EXAMPLE", "aws_key"),
        ("url = 'postgres://app:s3cr3t-pw@db.internal/app'", "s3cr3t-pw", "postgres://app:"),
        (
            'API_KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"',
            "abcdefghijklmnop",
            "API_KEY",
        ),
        ("password: 'correct horse battery'", None, "password"),
        (
            'session_secret = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"',
            "9f8e7d6c5b4a3928",
            "session_secret",
        ),
    ],
)
def test_scrub_masks_the_value_and_keeps_the_rest(line, hidden, visible):
    out = scrub(line)
    assert "********" in out and visible in out
    if hidden:
        assert hidden not in out


def test_scrub_leaves_ordinary_code_alone():
    for line in (
        "requests.get(url, verify=False)",
        "def normalize_code(code: str) -> str:",
        'PASSWORD_FIELD = "password"',
        'path = "src/billable/discounts_and_more.py"',
        "token = os.environ['GITHUB_TOKEN']",
    ):
        assert scrub(line) == line, line


def test_own_rules_find_token_formats_and_keep_their_marker_visible():
    line = f'headers = {{"Authorization": "Bearer {TOKEN}"}}'
    [match] = find_secrets(line)
    assert match.rule.id == "github-token" and match.value(line) == TOKEN
    assert scrub_line(line).count("ghp_") == 1 and TOKEN not in scrub_line(line)


def test_the_sample_tree_is_what_the_samples_were_made_from():
    # the parsers read snippets from the tree: its lines must still be where the tools saw them
    export = (TREE / "export.py").read_text().splitlines()
    assert "REPORTING_TOKEN" in export[11] and "yaml.load(text)" in export[39]
    assert (
        Path(TREE / "settings_view.py").read_text().splitlines()[24].strip().startswith("password")
    )
