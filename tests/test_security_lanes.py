"""The security lanes end to end, with real git repositories and the real tools (Bandit,
Semgrep from its tool environment, detect-secrets, the OSV snapshot, a local server that
speaks the OSV API): the planted branch of the example reports each problem once, the
clean branch nothing; findings are compared across tasks, triage holds, the dependency
lane says what it could not check, and no secret value is kept anywhere."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command

from agents_app.pipeline import runner
from agents_app.stages.report import render_pr_comment
from findings_app.models import Finding, Triage
from tasks_app import services
from tasks_app.models import Task, TaskEvent
from tests.conftest import ROOT, git, make_example, sarif_schema

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = "ghp_Q7wX2mK9pL4vN8rT3yB6cZ1dF5gH0jS2aE4u"
SNAPSHOT = ROOT.parent / "shared" / "data" / "osv-pypi"
SECURITY_ONLY = {"functional": False, "mutation": False, "deliver": False}


@pytest.fixture
def planted(tmp_path, settings) -> dict:
    info = make_example(tmp_path / "repo", Path(settings.TFACTORY_AIFACTORY_ROOT), planted=True)
    services.create_project("billable", info["repo"])
    return info


def run_task(
    spec_id: str, branch: str, options: dict | None = None, spec_text: str | None = None
) -> tuple[Task, dict]:
    payload = {"project_id": "billable", "spec_id": spec_id, "branch": branch, "base_ref": "main",
               "options": {**SECURITY_ONLY, **(options or {})}}  # fmt: skip
    if spec_text:
        payload["spec_text"] = spec_text
    task = services.start_task(payload, enqueue=False)
    task = runner.run_to_end(task.pk)
    assert task.status == Task.Status.DONE, task.error
    return task, json.loads((Path(task.workspace) / "report.json").read_text())


def run_planted(planted: dict, options: dict | None = None) -> tuple[Task, dict]:
    p = planted["planted"]
    return run_task(p["spec_id"], p["branch"], options)


def commit(repo: Path, branch: str, path: str, text: str, message: str) -> None:
    git(repo, "checkout", "-q", branch)
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    git(repo, "checkout", "-q", "main")


EXPECTED = {
    ("hardcoded-secret", "src/billable/export.py"),
    ("sql-injection", "src/billable/export.py"),
    ("command-injection", "src/billable/export.py"),
    ("deserialization", "src/billable/export.py"),
    ("vulnerable-dependency", "requirements.txt"),
}


def test_tfactory_run_reports_each_planted_problem_once_ranked_everywhere(planted, capsys):
    p = planted["planted"]
    call_command(
        "tfactory_run", "--project", "billable", "--spec", p["spec_id"], "--branch", p["branch"],
        "--base", "main", "--lanes", "sast,deps,secrets", "--no-deliver",
    )  # fmt: skip
    out, _ = capsys.readouterr()
    task = Task.objects.get()
    ws = Path(task.workspace)
    report = json.loads((ws / "report.json").read_text())
    findings = report["findings"]
    assert {(f["category"], f["file"]) for f in findings} == EXPECTED
    assert len(findings) == 5, [f["title"] for f in findings]
    # ranked: severity first, then confidence; ranks are 1..n in that order
    order = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
    assert [f["rank"] for f in findings] == [1, 2, 3, 4, 5]
    assert [order[f["severity"]] for f in findings] == sorted(
        (order[f["severity"]] for f in findings), reverse=True
    )
    by_cat = {f["category"]: f for f in findings}
    assert by_cat["sql-injection"]["tools"] and {
        t["tool"] for t in by_cat["sql-injection"]["tools"]
    } == {"bandit", "semgrep"}
    assert {t["tool"] for t in by_cat["hardcoded-secret"]["tools"]} >= {
        "detect-secrets",
        "tfactory-secrets",
    }
    dep = by_cat["vulnerable-dependency"]
    assert (dep["component"], dep["version"], dep["fixed_versions"]) == ("PyYAML", "5.3.1", ["5.4"])
    assert "CVE-2020-14343" in [dep["rule_id"], *dep["aliases"]] and dep["line"] == 2
    assert all(f["introduced"] is True and f["comparison"] == "new" for f in findings)
    assert report["findings_summary"]["open"] == 5
    for lane in ("sast", "deps", "secrets"):
        assert report["lanes"][lane]["status"] == "done", report["lanes"][lane]
    assert "findings: 5 open" in out and "findings.sarif" in out

    md = (ws / "report.md").read_text()
    table = md[md.index("## Findings") :]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 5
    assert "PyYAML 5.3.1" in md and "fixed in 5.4" in md

    sarif = json.loads((ws / "findings" / "findings.sarif").read_text())
    jsonschema.validate(sarif, sarif_schema())
    run = sarif["runs"][0]
    results = run["results"]
    assert len(results) == 5
    assert {r["partialFingerprints"]["tfactory/v1"] for r in results} == {
        f["fingerprint"] for f in findings
    }
    for r in results:
        rule = run["tool"]["driver"]["rules"][r["ruleIndex"]]
        assert rule["id"] == r["ruleId"]
        assert float(rule["properties"]["security-severity"]) > 0
        assert any(t.startswith("external/cwe/cwe-") for t in rule["properties"]["tags"])
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] in {"src/billable/export.py", "requirements.txt"}
        assert loc["region"]["startLine"] >= 1


def test_the_clean_branch_has_no_findings(planted):
    task, report = run_task(planted["spec_id"], planted["branch"])
    assert report["findings"] == [] and report["findings_fixed"] == []
    assert {report["lanes"][lane]["status"] for lane in ("sast", "deps", "secrets")} == {"done"}
    sarif = json.loads((Path(task.workspace) / "findings" / "findings.sarif").read_text())
    jsonschema.validate(sarif, sarif_schema())
    assert sarif["runs"][0]["results"] == []
    assert "- Findings: none" in (Path(task.workspace) / "report.md").read_text()


FIXED_SQL = """        rows = conn.execute(
            "SELECT number FROM invoices WHERE customer = ?", (customer,)
        ).fetchall()"""


def test_later_tasks_say_what_is_new_unchanged_and_fixed(planted):
    first, report1 = run_planted(planted)
    repo = Path(planted["repo"])
    p = planted["planted"]
    source = (ROOT / "examples/billable/planted/files/src/billable/export.py").read_text()
    bad = """        rows = conn.execute(
            "SELECT number FROM invoices WHERE customer = '%s'" % customer
        ).fetchall()"""
    assert bad in source
    fixed = source.replace(bad, FIXED_SQL)
    # the fix, plus lines above everything else (the other findings move, not change)
    fixed = fixed.replace('"""Invoice export:', '"""Invoice export (v2).\n\nInvoice export:', 1)
    fixed += "\n\ndef evaluate(expression: str):\n    return eval(expression)\n"
    commit(repo, p["branch"], "src/billable/export.py", fixed, "parameterised query; eval")

    second, report2 = run_planted(planted)
    by_cat = {f["category"]: f for f in report2["findings"]}
    assert "sql-injection" not in by_cat
    assert by_cat["code-injection"]["comparison"] == "new"
    for cat in (
        "hardcoded-secret",
        "command-injection",
        "deserialization",
        "vulnerable-dependency",
    ):
        assert by_cat[cat]["comparison"] == "unchanged", cat
        earlier = Finding.objects.get(task=first, fingerprint=by_cat[cat]["fingerprint"])
        assert by_cat[cat]["duplicate_of"] == earlier.pk
    fixed_rows = report2["findings_fixed"]
    assert [f["category"] for f in fixed_rows] == ["sql-injection"]
    assert fixed_rows[0]["task_id"] == first.pk
    s = report2["findings_summary"]
    assert (s["new"], s["unchanged"], s["fixed"], s["compared_with"]) == (1, 4, 1, first.pk)
    md = (Path(second.workspace) / "report.md").read_text()
    assert f"### Fixed since task {first.pk}" in md


def test_triage_decisions_hold_for_later_tasks(planted, admin_client):
    first, report = run_planted(planted)
    yaml_finding = next(f for f in report["findings"] if f["category"] == "deserialization")
    with pytest.raises(services.HandoverError, match="note"):
        services.triage_finding(yaml_finding["id"], "false_positive", "")
    with pytest.raises(services.HandoverError, match="state"):
        services.triage_finding(yaml_finding["id"], "ignored", "why")
    services.triage_finding(
        yaml_finding["id"], "false_positive", "settings are our own files", decided_by="alice"
    )
    assert Triage.objects.get().decided_by == "alice"
    # the finished task's report is rewritten: the finding is triaged and ranked last
    report1 = json.loads((Path(first.workspace) / "report.json").read_text())
    assert report1["findings"][-1]["fingerprint"] == yaml_finding["fingerprint"]
    assert report1["findings"][-1]["triage"] == {
        "state": "false_positive",
        "note": "settings are our own files",
    }
    assert report1["findings_summary"]["open"] == 4

    # a new handover of the branch: same finding, still a false positive
    second, report2 = run_planted(planted)
    again = next(f for f in report2["findings"] if f["fingerprint"] == yaml_finding["fingerprint"])
    assert again["triage"]["state"] == "false_positive" and again["id"] != yaml_finding["id"]
    assert report2["findings_summary"]["suppressed"] == 1
    sarif = json.loads((Path(second.workspace) / "findings" / "findings.sarif").read_text())
    jsonschema.validate(sarif, sarif_schema())
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 1 and suppressed[0]["suppressions"][0]["status"] == "accepted"
    comment = render_pr_comment(report2, "<!-- tfactory -->")
    assert "Unsafe YAML load" not in comment and "4 open" in comment
    assert "### Triaged" in (Path(second.workspace) / "report.md").read_text()

    # opened again from the portal
    response = admin_client.post(f"/findings/{again['id']}/triage/", {"state": "open", "note": ""})
    assert response.status_code == 302
    assert Finding.objects.get(pk=again["id"]).triage_state == "open"
    assert not Triage.objects.exists()


DEPS_SPEC = "# Deps\n\n## Acceptance Criteria\n\n### AC#1\nThe app prints hello.\n"


def _deps_repo(tmp_path: Path, requirements: str) -> dict:
    repo = tmp_path / "deps-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("print('hello')\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature/deps")
    (repo / "requirements.txt").write_text(requirements)
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "deps")
    git(repo, "checkout", "-q", "main")
    services.create_project("billable", str(repo))
    return {"repo": repo}


def test_a_dependency_that_cannot_be_checked_degrades_the_lane_and_says_why(tmp_path):
    _deps_repo(
        tmp_path,
        "PyYAML>=5.0\nrequests==2.30.0\nmylib @ git+https://example.com/mylib.git\nruff>=0.4\n",
    )
    task, report = run_task(
        "001-deps", "feature/deps", {"sast": False, "secrets": False}, DEPS_SPEC
    )
    lane = report["lanes"]["deps"]
    assert lane["status"] == "degraded"
    unchecked = {u["name"]: u["why"] for u in lane["unchecked"]}
    assert set(unchecked) == {"PyYAML", "mylib"}
    assert "admits releases affected by" in unchecked["PyYAML"] and "PYSEC-" in unchecked["PyYAML"]
    assert "URL" in unchecked["mylib"]
    assert "could not be checked" in lane["summary"] and "PyYAML" in lane["summary"]
    md = (Path(task.workspace) / "report.md").read_text()
    assert "### Dependencies not checked" in md and "`PyYAML`" in md
    # requests 2.30.0 was checked: PYSEC-2023-74 affects it (fixed in 2.31.0)
    [dep] = report["findings"]
    assert (dep["component"], dep["fixed_versions"]) == ("requests", ["2.31.0"])
    assert "advisories up to 2024-10-10" in lane["summary"]


def test_without_any_advisory_source_nothing_is_called_clean(tmp_path, settings):
    settings.TFACTORY_OSV_DB = ""
    _deps_repo(tmp_path, "requests==2.31.0\n")
    task, report = run_task(
        "001-deps", "feature/deps", {"sast": False, "secrets": False}, DEPS_SPEC
    )
    lane = report["lanes"]["deps"]
    assert lane["status"] == "degraded"
    assert "none of 1 dependencies could be checked" in lane["summary"]
    assert "TFACTORY_OSV_DB" in lane["unchecked"][0]["why"]
    assert report["findings"] == []
    assert "vulnerable" not in lane["summary"]


class OsvApi(ThreadingHTTPServer):
    """A server speaking the OSV v1 API (querybatch, vulns/{id}) from the snapshot's
    records of a few packages; it notes every request."""

    def __init__(self, packages: list[str]):
        self.records = {}
        for package in packages:
            for path in (SNAPSHOT / "vulns" / package).glob("*.yaml"):
                record = yaml.safe_load(path.read_text())
                self.records[record["id"]] = record
        self.requests: list[tuple[str, object]] = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.server.requests.append((self.path, body))
            if self.path != "/v1/querybatch":
                return self._send(404, {"code": 5, "message": "Not Found"})
            results = []
            for q in body["queries"]:
                name = q["package"]["name"].lower()
                hits = [
                    {"id": r["id"], "modified": r["modified"]}
                    for r in self.server.records.values()
                    for a in r["affected"]
                    if a["package"]["name"].lower() == name
                    and ("version" not in q or q["version"] in a.get("versions", []))
                ]
                results.append({"vulns": hits} if hits else {})
            self._send(200, {"results": results})

        def do_GET(self) -> None:
            self.server.requests.append((self.path, None))
            m = re.fullmatch(r"/v1/vulns/(.+)", self.path)
            record = self.server.records.get(m.group(1)) if m else None
            if record is None:
                return self._send(404, {"code": 5, "message": "Bug not found."})
            self._send(200, record)


@pytest.fixture
def osv_api():
    server = OsvApi(["pyyaml", "requests"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_osv_api_is_asked_when_it_answers(planted, osv_api, settings):
    settings.TFACTORY_OSV_API_URL = osv_api.url
    task, report = run_planted(planted, {"sast": False, "secrets": False})
    dep = next(f for f in report["findings"] if f["lane"] == "deps")
    assert (dep["component"], dep["version"], dep["fixed_versions"]) == ("PyYAML", "5.3.1", ["5.4"])
    assert dep["tool_version"] == "api"
    assert report["lanes"]["deps"]["source"] == {"source": "api", "url": osv_api.url}
    queries = [body for path, body in osv_api.requests if path == "/v1/querybatch"]
    asked = [q for body in queries for q in body["queries"]]
    assert {"package": {"name": "pyyaml", "ecosystem": "PyPI"}, "version": "5.3.1"} in asked
    assert any(path.startswith("/v1/vulns/PYSEC-2021-142") for path, _ in osv_api.requests)


def test_an_unreachable_osv_api_falls_back_to_the_offline_database(planted, osv_api, settings):
    settings.TFACTORY_OSV_API_URL = osv_api.url
    osv_api.shutdown()
    osv_api.server_close()
    task, report = run_planted(planted, {"sast": False, "secrets": False})
    lane = report["lanes"]["deps"]
    assert lane["status"] == "done" and lane["source"]["source"] == "offline"
    assert any("could not be reached" in n for n in lane["notes"])
    assert [f["component"] for f in report["findings"]] == ["PyYAML"]


def test_no_secret_value_is_kept_anywhere(planted, tf_home):
    p = planted["planted"]
    repo = Path(planted["repo"])
    # a second secret, added by one commit and removed by the next: still in the history
    aws = "AKIA" + "Z7QW4RT6YU8IO2PL"
    commit(repo, p["branch"], "deploy.cfg", f"[aws]\naccess_key = {aws}\n", "deploy settings")
    commit(repo, p["branch"], "deploy.cfg", "[aws]\naccess_key = from-the-environment\n", "no key")
    task, report = run_planted(planted)
    secrets = [f for f in report["findings"] if f["lane"] == "secrets"]
    history = next(f for f in secrets if f["file"] == "deploy.cfg")
    assert history["introduced"] is True and history["commit"] and history["line"] == 2
    assert "history" in history["description"]
    assert len(secrets) == 2

    # nowhere on disk (the task's folder, logs, scratch) but in copies of the repository
    # itself (the worktree, the diff under test), and not in the database
    copies = {Path(task.workspace) / "context" / "diff.patch"}
    for path in Path(tf_home).rglob("*"):
        if path.is_file() and "worktrees" not in path.parts and path not in copies:
            data = path.read_bytes()
            assert TOKEN.encode() not in data and aws.encode() not in data, path
    rows = [
        json.dumps([getattr(f, field.name) for field in Finding._meta.fields], default=str)
        for f in Finding.objects.all()
    ]
    rows += [json.dumps([e.message, e.data]) for e in TaskEvent.objects.all()]
    rows += [json.dumps([t.error, t.lanes, t.options], default=str) for t in Task.objects.all()]
    for row in rows:
        assert TOKEN not in row and aws not in row and TOKEN[4:] not in row
    sarif = (Path(task.workspace) / "findings" / "findings.sarif").read_text()
    assert "********" in sarif


def test_a_crashing_tool_degrades_its_lane_and_the_others_still_run(planted, settings, tmp_path):
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bad.yaml").write_text("rules:\n  - id: x\n    pattern: [unclosed\n")
    settings.TFACTORY_SEMGREP_RULES = str(broken)
    task, report = run_planted(planted)
    sast = report["lanes"]["sast"]
    assert sast["status"] == "degraded" and "semgrep exited with" in sast["summary"]
    # Bandit's findings still count, and so do the other lanes'
    cats = {f["category"] for f in report["findings"]}
    assert {"sql-injection", "command-injection", "deserialization"} <= cats
    assert {f["tools"][0]["tool"] for f in report["findings"] if f["lane"] == "sast"} == {"bandit"}
    assert report["lanes"]["deps"]["status"] == "done"
    assert report["lanes"]["secrets"]["status"] == "done"


def test_each_security_lane_reruns_alone(planted):
    task, report = run_planted(planted)
    before = {lane: report["lanes"][lane]["started_at"] for lane in ("sast", "deps", "secrets")}
    ids = {f["fingerprint"]: f["id"] for f in report["findings"]}
    rerun = services.rerun_lane(task.pk, "secrets", enqueue=False)
    assert rerun.lanes["secrets"] == {"status": "pending"}
    task = runner.run_to_end(task.pk)
    assert task.status == Task.Status.DONE, task.error
    report2 = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report2["lanes"]["secrets"]["started_at"] != before["secrets"]
    assert report2["lanes"]["sast"]["started_at"] == before["sast"]
    assert report2["lanes"]["deps"]["started_at"] == before["deps"]
    # the same findings, under the same ids
    assert {f["fingerprint"]: f["id"] for f in report2["findings"]} == ids
    assert TaskEvent.objects.filter(task=task, message__startswith="lane sast").count() == 2


def test_our_semgrep_rules_pass_their_own_tests(tmp_path):
    from agents_app.env.tools import ensure_tool_env
    from agents_app.lanes.security.sast import RULES, SEMGREP_ENV

    env = ensure_tool_env("semgrep")
    proc = subprocess.run(
        [str(env.python.parent / "semgrep"), "--test", str(RULES), "--metrics=off",
         "--disable-version-check"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **SEMGREP_ENV,
                                             "HOME": str(tmp_path)},
        timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    m = re.search(r"(\d+)/(\d+): ✓ All tests passed", out)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 18, out[-2000:]


def test_the_api_lists_filters_shows_and_triages_findings(planted):
    from django.test import Client

    from tests.test_api import assert_error, make_token, post

    api = Client(headers={"Authorization": f"Bearer {make_token('ci', '--create-user')}"})
    task, report = run_planted(planted)
    listed = api.get(f"/api/tasks/{task.pk}/findings/")
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert listed.json()["count"] == 5 and [f["rank"] for f in results] == [1, 2, 3, 4, 5]
    assert results == report["findings"]
    deps = api.get(f"/api/tasks/{task.pk}/findings/?lane=deps").json()["results"]
    assert [f["component"] for f in deps] == ["PyYAML"]
    assert_error(api.get(f"/api/tasks/{task.pk}/findings/?lane=dast"), 400, "lane")
    assert_error(api.get(f"/api/tasks/{task.pk}/findings/?severity=huge"), 400, "severity")
    assert_error(api.get(f"/api/tasks/{task.pk}/findings/?colour=red"), 400, "colour")
    assert_error(api.get("/api/tasks/999999/findings/"), 404, "task_id")

    one = results[1]
    assert api.get(f"/api/findings/{one['id']}/").json() == one
    assert_error(api.get("/api/findings/999999/"), 404, "finding_id")
    url = f"/api/findings/{one['id']}/triage/"
    assert Client().post(url, "{}", content_type="application/json").status_code == 401
    assert_error(post(api, url, {"state": "wontfix", "note": "x"}), 400, "state")
    assert_error(post(api, url, {"state": "risk_accepted"}), 400, "note")
    assert_error(post(api, url, {"state": "risk_accepted", "note": 5}), 400, "note")
    assert_error(post(api, url, {"state": "risk_accepted", "note": "x", "by": "me"}), 400, "by")
    assert_error(post(api, url, ["risk_accepted"]), 400)
    assert Finding.objects.get(pk=one["id"]).triage_state == "open"  # nothing changed
    done = post(api, url, {"state": "risk_accepted", "note": "internal tool, no user input"})
    assert done.status_code == 200, done.content
    assert done.json()["triage"] == {
        "state": "risk_accepted",
        "note": "internal tool, no user input",
    }
    assert Triage.objects.get().decided_by == "ci"
    event = TaskEvent.objects.filter(task=task, message__contains="triaged").get()
    assert "risk_accepted by ci" in event.message

    sarif = api.get(f"/api/tasks/{task.pk}/report/?format=sarif")
    assert sarif.status_code == 200 and sarif["Content-Type"] == "application/sarif+json"
    jsonschema.validate(sarif.json(), sarif_schema())
    assert sum(1 for r in sarif.json()["runs"][0]["results"] if r.get("suppressions")) == 1


def test_the_task_page_shows_each_security_lane_with_its_findings(planted, admin_client):
    task, report = run_planted(planted)
    html = admin_client.get(f"/tasks/{task.pk}/").content.decode()
    assert "<h2>Findings</h2>" in html and '5 <span class="of">open</span>' in html
    for lane in ("sast", "deps", "secrets"):
        assert f"?lane={lane}" in html
    sast = admin_client.get(f"/tasks/{task.pk}/?lane=sast").content.decode()
    rows = re.findall(r'<tr class="finding" data-finding-id="(\d+)"', sast)
    assert len(rows) == 3
    assert "SQL built by string formatting reaches a query" in sast
    secrets = admin_client.get(f"/tasks/{task.pk}/?lane=secrets").content.decode()
    assert "REPORTING_TOKEN = &quot;********&quot;" in secrets and TOKEN not in secrets
    deps = admin_client.get(f"/tasks/{task.pk}/?lane=deps").content.decode()
    assert "fixed in 5.4" in deps and "PyYAML 5.3.1" in deps
    # a triage from the page: a note is required, and the decision shows
    fid = rows[0]
    response = admin_client.post(f"/findings/{fid}/triage/", {"state": "risk_accepted", "note": ""})
    assert response.status_code == 302 and response.url.endswith("?lane=sast#lanes")
    assert Finding.objects.get(pk=fid).triage_state == "open"
    admin_client.post(f"/findings/{fid}/triage/", {"state": "risk_accepted", "note": "batch job"})
    page = admin_client.get(f"/tasks/{task.pk}/?lane=sast").content.decode()
    assert f'<tr class="finding suppressed" data-finding-id="{fid}"' in page
    assert "batch job" in page
    assert admin_client.post("/findings/999999/triage/", {"state": "open"}).status_code == 404
