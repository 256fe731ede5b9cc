"""bench/realrepos: TFactory on real changes of real PyPI projects, the yardstick for
set-up and test quality.

Each target (targets.json) is two consecutive releases A -> B of a project, both sdists
from PyPI that ship their tests. The script builds a git repository per target:
  main                 release A;
  feature/<id>         release B without B's test changes (what TFactory is handed);
  maintainers/<id>     release B whole (its new tests are the maintainers' tests).
It then runs, per target:
  own        the project's own test command (targets.json) in a plain virtualenv on the
             feature tree: the collected / passed figures TFactory's baseline must equal;
  tfactory   `manage.py tfactory_run` on feature/<id> with the spec in specs/<id>.md;
  maintainers `manage.py tfactory_run` on maintainers/<id> against main: its *before*
             figures are what the maintainers' tests reach on the same changed lines,
             measured by the same engine.
Downloads, repositories and environments are cached under --cache (default
~/.cache/tfactory-realrepos); results go to stdout (one row per target) and to
bench/results/realrepos-<time>.json. It downloads and takes long: it is not run in CI.

    .venv/bin/python bench/realrepos/realrepos_bench.py [--only ID,ID] [--engine-budget S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from agents_app.sandbox.base import RUNNER_SIDE  # noqa: E402 - after the path set-up
from agents_app.spec.changes import is_test_path  # noqa: E402

# the project's JSON (the per-version endpoint is not served by every mirror)
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
# build leftovers an sdist may carry; never part of either release's source
LEFTOVERS = re.compile(r"(^|/)([^/]*\.egg-info|__pycache__|\.eggs|build|dist)(/|$)")
SUBDIR = "packages"  # the constructed monorepo's folder for a `subdirectory` target
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


# ---------------------------------------------------------------- building the targets


def sdist(name: str, version: str, cache: Path) -> Path:
    """The release's sdist, downloaded once (PyPI's JSON API names it)."""
    folder = cache / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    found = list(folder.glob(f"{_norm(name)}-{version}.tar.gz")) + list(
        folder.glob(f"{name}-{version}.tar.gz")
    )
    if found:
        return found[0]
    index = PYPI_JSON.format(name=name)
    with urllib.request.urlopen(index, timeout=60) as r:  # noqa: S310 - a fixed https URL
        meta = json.load(r)
    url = next(u for u in meta["releases"][version] if u["packagetype"] == "sdist")
    dest = folder / url["filename"]
    # a mirror may answer with URLs relative to the index's
    with urllib.request.urlopen(urljoin(index, url["url"]), timeout=300) as r:  # noqa: S310
        with open(dest, "wb") as fh:
            shutil.copyfileobj(r, fh)
    return dest


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def extract(archive: Path, dest: Path) -> Path:
    """The sdist's tree (its one top folder), without build leftovers."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tf:
        tf.extractall(tmp, filter="data")  # no links or paths out of tmp
        (inner,) = Path(tmp).iterdir()
        shutil.copytree(inner, dest)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest).as_posix()
        if LEFTOVERS.search(rel) and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return dest


def files_of(tree: Path) -> dict[str, bytes]:
    return {
        p.relative_to(tree).as_posix(): p.read_bytes()
        for p in tree.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def lay(repo: Path, files: dict[str, bytes], prefix: str) -> None:
    """Make the working tree hold exactly `files` (under `prefix`), .git kept."""
    for path in list(repo.iterdir()):
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for rel, data in files.items():
        dest = repo / prefix / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if prefix:  # a constructed monorepo: a root with no packaging of its own
        (repo / "README.md").write_text(f"# monorepo\n\nThe Python package is in {prefix}/.\n")
        (repo / "docs").mkdir(exist_ok=True)
        (repo / "docs" / "index.md").write_text("# Docs\n")


def build_repo(target: dict, cache: Path) -> Path:
    """The target's git repository (built once): main = A, feature/<id> = B without B's
    test changes, maintainers/<id> = B."""
    tid = target["id"]
    repo = cache / "repos" / tid
    if (repo / ".git").is_dir() and git(repo, "branch", "--list", f"maintainers/{tid}").strip():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    work = cache / "trees" / tid
    shutil.rmtree(work, ignore_errors=True)
    a = files_of(extract(sdist(target["project"], target["base"], cache), work / "a"))
    b = files_of(extract(sdist(target["project"], target["feature"], cache), work / "b"))
    prefix = f"{SUBDIR}/{target['project']}" if "subdirectory" in target["shapes"] else ""
    # B without its test changes: A's version of every test file B changed, none B added
    feature = dict(b)
    for rel in set(a) | set(b):
        if not is_test_path(rel) or a.get(rel) == b.get(rel):
            continue
        if rel in a:
            feature[rel] = a[rel]
        else:
            feature.pop(rel, None)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    lay(repo, a, prefix)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{target['project']} {target['base']}")
    git(repo, "tag", f"v{target['base']}")
    git(repo, "checkout", "-q", "-b", f"feature/{tid}")
    lay(repo, feature, prefix)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{target['project']} {target['feature']}, tests held back")
    git(repo, "checkout", "-q", "-b", f"maintainers/{tid}", "main")
    lay(repo, b, prefix)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{target['project']} {target['feature']}")
    git(repo, "checkout", "-q", "main")
    return repo


# ---------------------------------------------------------------- the project's own run


def own_run(target: dict, repo: Path, cache: Path) -> dict:
    """The project's own test command in a plain virtualenv on the feature tree."""
    tid = target["id"]
    tree = cache / "own" / tid
    shutil.rmtree(tree, ignore_errors=True)
    tree.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "prune")
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "-f", "--detach", str(tree),
         f"feature/{tid}"], check=True, capture_output=True,
    )  # fmt: skip
    venv = cache / "own-venvs" / tid
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    project_dir = tree / (
        f"{SUBDIR}/{target['project']}" if "subdirectory" in target["shapes"] else ""
    )
    env = {
        **os.environ,
        **{k: v for k, v in (target.get("install_env") or {}).items() if k.isupper()},
    }
    started = time.monotonic()
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(project_dir), *target["test_deps"]],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if pip.returncode != 0:
        return {"error": "pip: " + pip.stderr.strip().splitlines()[-1][:300]}
    command = re.sub(r"^cd \S+ && ", "", target["test_command"])
    argv = command.split()
    argv[0] = str(py)
    results = tree.parent / f"{tid}.results.json"
    if "pytest" in argv:
        # counted the way TFactory counts: one record per collected item (a unittest
        # subTest is part of its test, not a test of its own), by TFactory's own plugin
        argv += ["-p", "tfactory_pytest_plugin"]
        env["PYTHONPATH"] = str(RUNNER_SIDE)
        env["TFACTORY_RESULTS"] = str(results)
    run = subprocess.run(
        argv, cwd=project_dir, capture_output=True, text=True, env=env, timeout=1800
    )
    out = {"seconds": round(time.monotonic() - started, 1), "exit": run.returncode}
    if "pytest" in argv:
        out.update(_counted(results))
    else:  # unittest: "Ran N tests" and "OK (skipped=S)" / "FAILED (failures=F, errors=E)"
        text = run.stderr + run.stdout
        ran = re.search(r"Ran (\d+) tests?", text)
        n = int(ran.group(1)) if ran else 0
        counts = {k: int(v) for k, v in re.findall(r"(skipped|failures|errors)=(\d+)", text)}
        out.update(
            collected=n,
            failed=counts.get("failures", 0),
            errors=counts.get("errors", 0),
            skipped=counts.get("skipped", 0),
            passed=n - sum(counts.values()),
        )
    git(repo, "worktree", "remove", "--force", str(tree))
    return out


def _counted(path: Path) -> dict:
    try:
        tests = json.loads(path.read_text())["tests"]
    except (OSError, ValueError, KeyError) as exc:
        return {"error": f"no results: {exc}"}
    outcomes = [t.get("outcome") for t in tests]
    skipped = sum(o in ("skipped", "xfailed") for o in outcomes)
    return {
        "collected": len(tests),
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed"),
        "errors": len(tests) - outcomes.count("passed") - outcomes.count("failed") - skipped,
        "skipped": skipped,
    }


# ---------------------------------------------------------------- TFactory's runs


def tfactory(target: dict, repo: Path, branch: str, spec_id: str, home: Path, budget: int) -> dict:
    env = {
        **os.environ,
        "TFACTORY_HOME": str(home),
        # the tool and project environments outlive the bench's home
        "TFACTORY_CACHE_DIR": os.environ.get("TFACTORY_CACHE_DIR")
        or str(Path.home() / ".tfactory" / "cache"),
    }
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "tfactory_run", "--repo", str(repo),
         "--project", target["id"], "--spec", spec_id, "--branch", branch, "--base", "main",
         "--spec-file", str(HERE / "specs" / f"{target['id']}.md"), "--no-deliver",
         "--engine-budget", str(budget), "--json", "--quiet"],
        capture_output=True, text=True, env=env, timeout=7200,
    )  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        return {"error": (run.stderr.strip().splitlines() or ["no output"])[-1][:300],
                "seconds": seconds, "exit": run.returncode}  # fmt: skip
    return {"report": report, "seconds": seconds, "exit": run.returncode}


def figures(result: dict) -> dict:
    """The row's figures from a report.json."""
    r = result.get("report") or {}
    cov = r.get("coverage") or {}
    mut = r.get("mutation") or {}
    base = r.get("baseline") or {}
    setup = r.get("setup") or {}
    return {
        "exit": result.get("exit"),
        "error": result.get("error") or r.get("error"),
        "setup_ok": bool(r) and setup.get("status") != "failed",
        "setup_problem": setup.get("sentence"),
        "baseline": base.get("status"),
        "collected": base.get("collected"),
        "passed": base.get("passed"),
        "first_error": (base.get("first_error") or "")[-300:] or None,
        "suite_seconds": base.get("duration_s"),
        "suite_reused": base.get("reused"),
        "changed_lines": cov.get("changed_lines"),
        "cov_before": (cov.get("before") or {}).get("line_pct"),
        "cov_after": (cov.get("after") or {}).get("line_pct"),
        "mut_before": (mut.get("before") or {}).get("score"),
        "mut_after": (mut.get("after") or {}).get("score"),
        "mutants": mut.get("tested"),
        "accepted": sum(1 for t in r.get("tests") or [] if t.get("verdict") == "accept"),
        "seconds": result.get("seconds"),
    }


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def row(tid: str, own: dict, ours: dict, maint: dict) -> str:
    same = (own.get("collected"), own.get("passed")) == (ours["collected"], ours["passed"])
    return (
        f"| {tid} | {'ok' if ours['setup_ok'] else 'FAILED'} | "
        f"{own.get('collected', '?')}/{own.get('passed', '?')} | "
        f"{ours['collected']}/{ours['passed']} {'=' if same else '≠'} | {ours['baseline']} | "
        f"{ours['changed_lines']} | {pct(ours['cov_before'])} → {pct(ours['cov_after'])} | "
        f"{pct(ours['mut_before'])} → {pct(ours['mut_after'])} | {ours['accepted']} | "
        f"{ours['seconds']:.0f} s | {pct(maint['cov_before'])} / {pct(maint['mut_before'])} |"
    )


HEADER = (
    "| target | set-up | own run collected/passed | TFactory collected/passed | baseline | "
    "changed lines | coverage before → after | mutation before → after | accepted | time | "
    "maintainers' tests: coverage / mutation |\n|" + "---|" * 11
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated target ids")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "tfactory-realrepos"))
    parser.add_argument("--engine-budget", type=int, default=60)
    parser.add_argument("--skip-maintainers", action="store_true")
    parser.add_argument(
        "--own-only", action="store_true", help="only the projects' own runs (a quick check)"
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="hand each feature branch over a second time: the existing suite's run on the "
        "same commit is reused (the row's last column: suite seconds first -> again)",
    )
    args = parser.parse_args()
    targets = json.loads((HERE / "targets.json").read_text())
    if args.only:
        wanted = set(args.only.split(","))
        targets = [t for t in targets if t["id"] in wanted]
    cache = Path(args.cache)
    home = Path(tempfile.mkdtemp(prefix="tfactory-realrepos-home-"))
    results = []
    print(HEADER, flush=True)
    for target in targets:
        tid = target["id"]
        try:
            repo = build_repo(target, cache)
        except Exception as exc:  # noqa: BLE001 - a target that cannot be built is a row
            print(f"| {tid} | could not build the target: {exc} |", flush=True)
            results.append({"id": tid, "error": str(exc)})
            continue
        own = own_run(target, repo, cache)
        if args.own_only:
            print(f"| {tid} | own run: {own} |", flush=True)
            results.append({"id": tid, "own": own})
            continue
        ours = figures(tfactory(target, repo, f"feature/{tid}", tid, home, args.engine_budget))
        maint = (
            {"cov_before": None, "mut_before": None}
            if args.skip_maintainers
            else figures(tfactory(target, repo, f"maintainers/{tid}", f"{tid}-m", home, 5))
        )
        again = (
            figures(tfactory(target, repo, f"feature/{tid}", f"{tid}-again", home, 5))
            if args.again
            else None
        )
        results.append(
            {"id": tid, "own": own, "tfactory": ours, "maintainers": maint, "again": again}
        )
        line = row(tid, own, ours, maint)
        if again is not None:
            line += (
                f" suite {ours['suite_seconds'] or 0:.1f} s -> "
                f"{'reused' if again['suite_reused'] else 'ran again'} "
                f"(task {ours['seconds']:.0f} s -> {again['seconds']:.0f} s at a 5 s budget) |"
            )
        print(line, flush=True)
    out = ROOT / "bench" / "results" / f"realrepos-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
