"""TFactory's mutation engine vs mutmut 3 on the changed lines of a real project.

The case (bench/mutation_cases.py): humanize 4.10.0 -> 4.11.0 from PyPI, as a git
repository with a base and a feature commit. In one run, on the same machine:

- mutmut 3, restricted to the changed lines (bench/mutation_mutmut.py), end to end;
- this engine, end to end as the pipeline runs it: the suite once under coverage with a
  context per test (which test runs which changed line), mutant generation on the changed
  lines, then the warm forking runner (runner_side/tfactory_mutrun.py) — with as many
  workers as mutmut has children, and again with one;
- the floor: the time of each mutant's covering tests (measured unmutated in the same run)
  summed over the mutants, plus one fork of a warm, collected pytest process per mutant
  (measured here too);
- per-mutant agreement on killed / not killed, for the mutants both tools make (matched
  by file, line and the mutated line's text).

Both tools run directly on the host with the case's venv (a real library's own tests,
not generated code), so neither pays for a sandbox. Results: stdout and
bench/results/mutation-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mutation_cases import Case, prepare_case  # noqa: E402
from mutation_mutmut import run_mutmut  # noqa: E402

RUNNER_SIDE = ROOT / "agents_app" / "runner_side"

FORK_PROBE = """
import os, sys, time
import pytest

class Probe:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        n = 200
        t = time.perf_counter()
        for _ in range(n):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        print("FORK_S", (time.perf_counter() - t) / n, file=sys.stderr)
        return True

pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[Probe()])
"""


def _env(case: Case, repo: Path, **extra: str) -> dict[str, str]:
    env = case.env(repo)
    env["PYTHONPATH"] = os.pathsep.join([env.get("PYTHONPATH", ""), str(RUNNER_SIDE)]).strip(
        os.pathsep
    )
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def fork_cost(case: Case, repo: Path) -> float:
    """Seconds per fork + exit + wait of a pytest process that has collected the suite."""
    proc = subprocess.run(
        [str(case.python), "-c", FORK_PROBE, *case.test_paths],
        cwd=repo,
        env=_env(case, repo),
        capture_output=True,
        text=True,
        timeout=300,
    )
    for line in proc.stderr.splitlines():
        if line.startswith("FORK_S"):
            return float(line.split()[1])
    raise RuntimeError(f"the fork probe failed: {proc.stderr[-2000:]}")


def run_ours(case: Case, workdir: Path, workers: int) -> dict[str, Any]:
    """The engine end to end, as the executor and the lane run it."""
    from agents_app.lanes.mutation.lane import (
        Coverage,
        build_job,
        generate,
        importers_of,
        select_tests,
    )

    repo = workdir / f"ours-{workers}" / "repo"
    shutil.copytree(case.repo, repo, ignore=shutil.ignore_patterns(".git"))
    out = repo.parent / "out"
    out.mkdir()
    started = time.perf_counter()
    # 1. the suite once under coverage, a context per test, on the changed files
    files = [str(repo / p) for p in sorted(case.changed_lines)]
    rc = out / "coveragerc"
    rc.write_text("[run]\nbranch = True\ninclude =\n" + "".join(f"    {f}\n" for f in files))
    env = _env(case, repo, TFACTORY_RESULTS=str(out / "results.json"))
    subprocess.run(
        [str(case.python), "-m", "coverage", "run", f"--rcfile={rc}",
         f"--data-file={out / 'coverage'}", "-m", "pytest", "-p", "tfactory_pytest_plugin",
         "-p", "no:cacheprovider", "-q", *case.test_paths],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    subprocess.run(
        [str(case.python), "-m", "tfactory_covexport", str(out / "coverage"),
         str(out / "coverage.json"), *files],
        cwd=repo, env=env, check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    coverage_s = time.perf_counter() - started
    export = json.loads((out / "coverage.json").read_text())
    results = json.loads((out / "results.json").read_text())
    eligible = [t["nodeid"] for t in results["tests"] if t["outcome"] == "passed"]
    # 2. the mutants of the changed lines and their covering tests
    t = time.perf_counter()
    mutants, sources, _ = generate(repo, case.changed_lines, limit=100_000)
    modules = {p: p.removeprefix("src/").removesuffix(".py").replace("/", ".") for p in sources}
    modules = {p: m.removesuffix(".__init__") for p, m in modules.items()}
    test_sources = {}
    for nodeid in eligible:
        f = nodeid.split("::", 1)[0]
        test_sources.setdefault(f, (repo / f).read_text())
    selected = select_tests(
        mutants,
        Coverage([export], str(repo)),
        eligible,
        importers_of(modules, test_sources, eligible),
    )
    data = [{**m.as_dict(), "tests": tests} for m, tests in selected]
    generate_s = time.perf_counter() - t
    # 3. the warm forking runner
    job = build_job(
        data,
        sources,
        test_paths=list(case.test_paths),
        pytest_args=[],
        workers=workers,
        budget_s=3600,
        dry_run_timeout_s=600,
        durations={t["nodeid"]: t["duration"] for t in results["tests"]},
    )
    (out / "job.json").write_text(json.dumps(job))
    (out / "mut").mkdir()
    t = time.perf_counter()
    proc = subprocess.run(
        [str(case.python), "-m", "tfactory_mutrun", str(out / "job.json"), str(out / "mut")],
        cwd=repo, env=_env(case, repo), capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"the runner failed: {proc.stderr[-3000:]}")
    runner_s = time.perf_counter() - t
    wall = time.perf_counter() - started
    raw = json.loads((out / "mut" / "results.json").read_text())
    counts: dict[str, int] = {}
    for r in raw["mutants"].values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {
        "workers": workers,
        "wall_s": round(wall, 3),
        "phases_s": {
            "coverage": round(coverage_s, 3),
            "generate": round(generate_s, 3),
            "runner": round(runner_s, 3),
            **raw.get("timing", {}),
        },
        "mutants": len(data),
        "counts": counts,
        "errors": raw.get("errors", []),
        "data": data,
        "sources": {p: s.decode() for p, s in sources.items()},
        "results": raw["mutants"],
        "dry_run": raw.get("dry_run", {}),
    }


def floor_s(ours: dict[str, Any], fork_s: float) -> dict[str, Any]:
    """Covering tests' run time summed over the mutants + one fork per mutant."""
    durations = {k: v["duration"] for k, v in ours["dry_run"].get("tests", {}).items()}
    tested = [
        m
        for m in ours["data"]
        if ours["results"][m["id"]]["status"] not in ("NoCoverage", "Ignored", "CompileError")
    ]
    tests_s = sum(
        durations.get(t, 0.0) for m in tested for t in ours["results"][m["id"]].get("coveredBy", [])
    )
    return {
        "mutants_tested": len(tested),
        "covering_tests_s": round(tests_s, 3),
        "fork_s_each": round(fork_s, 6),
        "floor_s": round(tests_s + fork_s * len(tested), 3),
    }


def _norm(text: str) -> str:
    return " ".join(text.split())


def agreement(ours: dict[str, Any], mutmut: dict[str, Any]) -> dict[str, Any]:
    """Killed or not, for the mutants both tools make (same file, line, mutated text)."""
    mine: dict[tuple, str] = {}
    for m in ours["data"]:
        if m["end_line"] != m["line"] or "\n" in m["replacement"]:
            continue
        src = ours["sources"][m["path"]].encode()
        mutated = src[: m["start"]] + m["replacement"].encode() + src[m["start"] + m["length"] :]
        line = mutated.decode().splitlines()[m["line"] - 1]
        status = ours["results"][m["id"]]["status"]
        mine[(m["path"], m["line"], _norm(line))] = status
    pairs, agree, differ = 0, 0, []
    for mm in mutmut["mutants"]:
        if not mm.get("in_scope", True):
            continue
        key = (mm["file"], mm["line"], _norm(mm["mutated"]))
        if key not in mine:
            continue
        pairs += 1
        ours_killed = mine[key] in ("Killed", "Timeout")
        theirs_killed = mm["status"] in ("killed", "timeout")
        if ours_killed == theirs_killed:
            agree += 1
        else:
            differ.append({"file": key[0], "line": key[1], "mutated": key[2],
                           "ours": mine[key], "mutmut": mm["status"]})  # fmt: skip
    return {
        "matched": pairs,
        "agree": agree,
        "agreement_pct": round(100.0 * agree / pairs, 1) if pairs else None,
        "ours_only": len(mine) - pairs,
        "mutmut_only": sum(1 for mm in mutmut["mutants"] if mm.get("in_scope", True)) - pairs,
        "disagreements": differ,
    }


def compare(case: Case, work: Path, workers: int) -> dict[str, Any]:
    """Both tools on one case, the floor and the agreement."""
    mutmut = run_mutmut(case, work / "mutmut", max_children=workers)
    print(f"  mutmut: {mutmut['wall_s']:.2f}s, {mutmut['counts']}", file=sys.stderr)
    ours = run_ours(case, work, workers)
    print(f"  ours ({workers} workers): {ours['wall_s']:.2f}s, {ours['counts']}", file=sys.stderr)
    ours_1 = run_ours(case, work / "one", 1) if workers != 1 else ours
    print(f"  ours (1 worker): {ours_1['wall_s']:.2f}s", file=sys.stderr)
    floor = floor_s(ours_1, fork_cost(case, case.repo))

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    return {
        "changed_lines": case.changed_line_count,
        "mutmut": {k: mutmut[k] for k in ("version", "wall_s", "counts", "max_children")},
        "ours": {k: ours[k] for k in ("workers", "wall_s", "phases_s", "mutants", "counts")},
        "ours_1_worker": {k: ours_1[k] for k in ("wall_s", "phases_s", "mutants", "counts")},
        "floor": floor,
        "ratios": {
            "ours_vs_mutmut": ratio(ours["wall_s"], mutmut["wall_s"]),
            "ours_runner_vs_floor": ratio(ours["phases_s"]["runner"], floor["floor_s"]),
            "ours_1_worker_runner_vs_floor": ratio(ours_1["phases_s"]["runner"], floor["floor_s"]),
        },
        "agreement": agreement(ours, mutmut),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
    import django

    django.setup()
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tfactory-bench-mutation-") as tmp:
        work = Path(tmp)
        case = prepare_case(work / "case")
        summary["case"] = case.name
        # the release's diff as it is, and the same files mutated in full: more mutants,
        # so the one-off costs (interpreter, collection) weigh less against the floor
        whole = replace(
            case,
            changed_lines={
                p: set(range(1, len((case.repo / p).read_text().splitlines()) + 1))
                for p in case.changed_lines
            },
        )
        for name, variant in (("changed_lines", case), ("changed_files_in_full", whole)):
            print(f"{name}: {variant.changed_line_count} lines", file=sys.stderr)
            summary[name] = compare(variant, work / name, args.workers)
    text = json.dumps(summary, indent=2)
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (results / f"mutation-{stamp}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
