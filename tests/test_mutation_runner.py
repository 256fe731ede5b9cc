"""The runner-side kill matrix (tfactory_mutrun): every status word, warm and cold
mutants, nested closures, tests that fail unmutated, and a run inside bubblewrap.

These run the runner as the sandbox would (a subprocess with the project's Python,
cwd = the repository); the code under test is this file's own fixture project.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agents_app.env.runtime import RUNNER_SIDE
from agents_app.lanes.mutation.operators import find_mutants

CALC = """\
import functools
import os

LIMIT = 10


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args) + 0
    return wrapper


@logged
def clamp(x):
    if x > LIMIT:
        return LIMIT
    return x


def count(n):
    i = 0
    while i < n:
        i += 1
    return i


def double(x):
    return x * 2


def untested(x):
    return x - 1


def exiting(x):
    return x + 0
"""

TESTS = """\
from pkg.calc import LIMIT, clamp, count, double, exiting
import pkg.calc as calc


def test_clamp_high():
    assert clamp(50) == 10


def test_clamp_low():
    assert clamp(3) == 3


def test_count():
    assert count(3) == 3


def test_limit():
    assert LIMIT == 10


def test_weak_double():
    double(2)


def test_broken():
    assert double(2) == 5


def test_exiting():
    assert exiting(1) == 1
"""


@pytest.fixture
def project(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    return repo


ALL = [
    f"tests/test_calc.py::{n}"
    for n in (
        "test_clamp_high",
        "test_clamp_low",
        "test_count",
        "test_limit",
        "test_weak_double",
        "test_broken",
        "test_exiting",
    )
]


def job_for(repo: Path, mutants: list[dict], **extra) -> dict:
    source = (repo / "pkg" / "calc.py").read_bytes()
    return {
        "files": {"pkg/calc.py": {"sha256": hashlib.sha256(source).hexdigest()}},
        "test_paths": ["tests"],
        "workers": 2,
        "budget_s": 120,
        "timeout_factor": 2.0,
        "timeout_s": 1.0,
        "mutants": mutants,
        **extra,
    }


def as_job(m, tests=ALL, **changes) -> dict:
    d = {
        "id": m.id,
        "file": m.path,
        "start": m.start,
        "length": m.length,
        "replacement": m.replacement,
        "scope": m.scope,
        "qualname": m.qualname,
        "firstlineno": m.firstlineno,
        "ignored": m.ignored,
        "tests": list(tests),
    }
    d.update(changes)
    return d


def run_runner(repo: Path, job: dict, tmp_path: Path) -> dict:
    ctl = tmp_path / "job.json"
    ctl.write_text(json.dumps(job))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{repo}:{RUNNER_SIDE}",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tfactory_mutrun", str(ctl), str(out)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def find(repo: Path, original: str, replacement: str, line: int | None = None):
    source = (repo / "pkg" / "calc.py").read_bytes()
    hits = [
        m
        for m in find_mutants("pkg/calc.py", source)
        if m.original == original
        and m.replacement == replacement
        and (line is None or m.line == line)
    ]
    assert len(hits) == 1, hits
    return hits[0]


def test_every_status_word(project, tmp_path):
    src = (project / "pkg" / "calc.py").read_text()
    boundary = find(project, ">", "<=")  # clamp: killed by both clamp tests
    weak = find(project, "*", "/")  # only the weak test runs double(): survives
    hang = find(project, "+=", "-=")  # count() never ends: Timeout
    untested = find(project, "-", "+")
    ignored = find(project, "0", "1", line=src.splitlines().index("    i = 0") + 1)
    # a mutant that does not compile, and one that takes the test process down
    start = src.index("x + 0")
    exiting = find(project, "x + 0", "None")
    broken = {**as_job(exiting), "id": "compile", "start": start, "length": 5, "replacement": "x +"}
    dying = {**broken, "id": "dies", "replacement": "__import__('os')._exit(7)"}
    job = job_for(
        project,
        [
            as_job(boundary),
            as_job(weak, tests=[ALL[4], ALL[5]]),
            as_job(hang, tests=[ALL[2]]),
            as_job(untested, tests=[]),
            as_job(ignored, ignored="the line says `# pragma: no mutate`"),
            broken | {"tests": [ALL[6]]},
            dying | {"tests": [ALL[6]]},
        ],
    )
    res = run_runner(project, job, tmp_path)["mutants"]
    assert res[boundary.id]["status"] == "Killed"
    assert set(res[boundary.id]["killedBy"]) == {ALL[0], ALL[1]}
    assert res[boundary.id]["statusReason"].startswith("AssertionError: assert ")
    assert res[weak.id]["status"] == "Survived"
    # a test that fails unmutated (test_broken) is not used against any mutant
    assert res[weak.id]["coveredBy"] == [ALL[4]]
    assert res[hang.id]["status"] == "Timeout"
    assert res[hang.id]["timedOutIn"] == ALL[2]
    assert res[untested.id]["status"] == "NoCoverage"
    assert res[ignored.id]["status"] == "Ignored"
    assert res["compile"]["status"] == "CompileError"
    assert "SyntaxError" in res["compile"]["statusReason"]
    assert res["dies"]["status"] == "RuntimeError"
    assert "exit:7" in res["dies"]["statusReason"]


def test_module_scope_and_nested_closures(project, tmp_path):
    limit = find(project, "10", "11")  # LIMIT, read via `from pkg.calc import LIMIT` too
    wrapper = find(project, "0", "1", line=10)  # inside the decorator's live wrapper
    # no longer uses the closure's cell: its code cannot be swapped in, a fresh import can
    cells = find(project, "fn(*args) + 0", "None")
    decorator = find(project, "wrapper", "None")  # runs at import: needs a fresh import
    decorator = as_job(decorator, scope="module", qualname="", firstlineno=0)
    job = job_for(
        project,
        [as_job(limit), as_job(wrapper, tests=ALL[:2]), as_job(cells, tests=ALL[:2]), decorator],
    )
    out = run_runner(project, job, tmp_path)
    res = out["mutants"]
    assert limit.scope == "module"
    assert res[limit.id]["status"] == "Killed"
    assert {ALL[0], ALL[3]} <= set(res[limit.id]["killedBy"])
    assert res[wrapper.id]["status"] == "Killed"
    assert wrapper.id not in out["cold"]  # patched in the warm process
    assert res[cells.id]["status"] == "Killed"
    assert cells.id in out["cold"]
    assert res[decorator["id"]]["status"] == "Killed"
    assert decorator["id"] in out["cold"]


def test_a_mutant_that_breaks_the_import_is_killed(project, tmp_path):
    m = find(project, "10", "11")
    job = job_for(project, [as_job(m, replacement="undefined_name", id="boom")])
    res = run_runner(project, job, tmp_path)["mutants"]["boom"]
    assert res["status"] == "Killed"
    assert "NameError" in res["statusReason"] or "undefined_name" in res["statusReason"]


def test_a_changed_source_file_is_refused(project, tmp_path):
    m = find(project, ">", "<=")
    job = job_for(project, [as_job(m)])
    (project / "pkg" / "calc.py").write_text(CALC + "\n# edited\n")
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "out").mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfactory_mutrun",
            str(tmp_path / "job.json"),
            str(tmp_path / "out"),
        ],
        cwd=project,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{project}:{RUNNER_SIDE}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "not the file the mutants were made from" in proc.stderr


def test_the_budget_leaves_the_rest_ignored(project, tmp_path):
    hang = find(project, "+=", "-=")
    others = [as_job(find(project, ">", "<=")), as_job(find(project, ">", ">="))]
    job = job_for(project, [as_job(hang, tests=[ALL[2]]), *others], workers=1, budget_s=0.5)
    job["timeout_s"] = 5.0
    res = run_runner(project, job, tmp_path)["mutants"]
    statuses = sorted(r["status"] for r in res.values())
    assert "Ignored" in statuses
    assert any(
        "budget" in r.get("statusReason", "") for r in res.values() if r["status"] == "Ignored"
    )


def test_a_budget_spent_before_the_dry_run_leaves_mutants_ignored_not_uncovered(project, tmp_path):
    # nothing is known about the tests: "no test covers it" would be a false statement
    mutants = [as_job(find(project, ">", "<=")), as_job(find(project, "10", "11"))]
    res = run_runner(project, job_for(project, mutants, budget_s=0.0), tmp_path)["mutants"]
    assert {r["status"] for r in res.values()} == {"Ignored"}, res
    assert all("budget" in r["statusReason"] for r in res.values())


@pytest.mark.skipif(not Path("/usr/bin/bwrap").exists(), reason="needs bubblewrap")
def test_inside_bubblewrap(project, tmp_path):
    from agents_app.sandbox import Limits, Mount
    from agents_app.sandbox.bwrap import BwrapSandbox

    m = find(project, ">", "<=")
    job = job_for(project, [as_job(m)])
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "job.json").write_text(json.dumps(job))
    out = tmp_path / "out"
    out.mkdir()
    venv = Path(sys.prefix)
    sandbox = BwrapSandbox(Limits(memory_mb=2048, file_mb=64, pids=256))
    res = sandbox.run(
        [sys.executable, "-m", "tfactory_mutrun", str(ctl / "job.json"), str(out)],
        workdir=project,
        env={"PYTHONPATH": f"{project}:{RUNNER_SIDE}", "HOME": str(tmp_path)},
        timeout_s=120,
        mounts=[
            Mount(project, writable=True),
            Mount(out, writable=True),
            Mount(ctl),
            Mount(RUNNER_SIDE),
            Mount(venv),
            Mount(Path(textwrap.dedent(sys.base_prefix))),
        ],
    )
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads((out / "results.json").read_text())
    assert result["mutants"][m.id]["status"] == "Killed"


def test_a_suite_that_cannot_start_leaves_every_mutant_a_runtime_error(project, tmp_path):
    (project / "tests" / "conftest.py").write_text("raise RuntimeError('broken conftest')\n")
    m = find(project, ">", "<=")
    limit = find(project, "10", "11")
    out = run_runner(project, job_for(project, [as_job(m), as_job(limit)]), tmp_path)
    assert {r["status"] for r in out["mutants"].values()} == {"RuntimeError"}
    assert any("pytest stopped before running any test" in e for e in out["errors"])
    assert "not run" in out["mutants"][m.id]["statusReason"]


def test_with_known_durations_the_dry_run_overlaps_and_still_filters(project, tmp_path):
    weak = find(project, "*", "/")
    boundary = find(project, ">", "<=")
    durations = dict.fromkeys(ALL, 0.01)
    job = job_for(
        project, [as_job(weak, tests=[ALL[4], ALL[5]]), as_job(boundary)], durations=durations
    )
    out = run_runner(project, job, tmp_path)
    res = out["mutants"]
    # test_broken failed against the mutant too, but it fails unmutated: not a kill
    assert res[weak.id]["status"] == "Survived", res[weak.id]
    assert res[weak.id]["killedBy"] == [] and res[weak.id]["coveredBy"] == [ALL[4]]
    assert res[boundary.id]["status"] == "Killed"
    assert ALL[5] not in out["dry_run"]["green"] and ALL[4] in out["dry_run"]["green"]


def test_a_process_left_behind_by_a_test_neither_hangs_the_mutant_nor_survives(project, tmp_path):
    marker = tmp_path / "grandchild.pid"
    (project / "tests" / "test_spawn.py").write_text(
        textwrap.dedent(
            f"""
            import os, time
            from pkg.calc import double

            def test_spawns():
                if os.fork() == 0:  # holds the runner's pipe open, then lingers
                    open({str(marker)!r}, "w").write(str(os.getpid()))
                    time.sleep(60)
                    os._exit(0)
                assert double(2) == 4
            """
        )
    )
    m = find(project, "*", "/")
    job = job_for(project, [as_job(m, tests=["tests/test_spawn.py::test_spawns"])])
    job["timeout_s"] = 20.0  # a wait for the end of the pipe would show as a Timeout
    started = time.monotonic()
    res = run_runner(project, job, tmp_path)["mutants"][m.id]
    assert res["status"] == "Killed", res
    assert time.monotonic() - started < 15
    pid = int(marker.read_text())
    for _ in range(50):  # killed with the child's process group
        if (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        ):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the test's process {pid} outlived its mutant")
