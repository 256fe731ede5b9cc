"""The SAST lane against a labelled corpus: per class, true- and false-positive rates of
Bandit alone, Semgrep with TFactory's rules alone, and the lane (both, merged: every
finding, and only those of medium or high confidence — a Bandit finding that our Semgrep
taint rules do not confirm is kept at low confidence).

The corpus (bench/sast/corpus/<class>/) holds small Python files: `vuln_NN.py` has one
weakness of its class, `safe_NN.py` is a look-alike without it (the fix, or the same API
used safely). A tool *detects* a file when it reports a finding of the file's class in
it (for weak-crypto, predictable randomness counts too). TPR = vulnerable files
detected / vulnerable files; FPR = safe files flagged / safe files. The tools run as the
lane runs them (agents_app/lanes/security/sast.py): Bandit from TFactory's environment with
the lane's skips, Semgrep from its tool environment with our rule pack.

    .venv/bin/python bench/sast/sast_bench.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")

import django  # noqa: E402

django.setup()

from agents_app.lanes.security.sast import run_bandit, run_semgrep, weigh_unconfirmed  # noqa: E402
from findings_app import dedup  # noqa: E402
from findings_app.fingerprint import SourceCache  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
ALSO = {"weak-crypto": {"weak-random"}}


def detected(findings, cls: str) -> set[str]:
    wanted = {cls} | ALSO.get(cls, set())
    return {f.file for f in findings if f.category in wanted}


def rates(found: set[str], files: list[str]) -> tuple[int, int, float]:
    hits = sum(1 for f in files if f in found)
    return hits, len(files), (100.0 * hits / len(files) if files else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="also write bench/results/sast.json")
    args = parser.parse_args()
    files = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.py"))
    by_class: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"vuln": [], "safe": []})
    for f in files:
        cls, name = f.split("/")
        by_class[cls][name.split("_")[0]].append(f)

    with tempfile.TemporaryDirectory() as home:
        timings = {}
        t = time.monotonic()
        bandit = run_bandit(CORPUS, files, Path(home), 600).findings
        timings["bandit"] = time.monotonic() - t
        t = time.monotonic()
        semgrep = run_semgrep(CORPUS, files, Path(home), 600).findings
        timings["semgrep"] = time.monotonic() - t
    cache = SourceCache(CORPUS)
    lane = dedup.merge_code(bandit + semgrep, cache)
    weigh_unconfirmed(lane, semgrep_ran=True)
    sure = [f for f in lane if f.confidence != "low"]
    tools = {"bandit": bandit, "semgrep": semgrep, "lane": lane, "lane, conf>=med": sure}

    rows = []
    totals = {name: {"tp": 0, "vuln": 0, "fp": 0, "safe": 0} for name in tools}
    for cls in sorted(by_class):
        vuln, safe = by_class[cls]["vuln"], by_class[cls]["safe"]
        row = {"class": cls, "vuln": len(vuln), "safe": len(safe)}
        for name, found in tools.items():
            got = detected(found, cls)
            tp, nv, tpr = rates(got, vuln)
            fp, ns, fpr = rates(got, safe)
            row[name] = {
                "tpr": round(tpr, 1),
                "fpr": round(fpr, 1),
                "missed": sorted(set(vuln) - got),
                "false": sorted(got & set(safe)),
            }
            totals[name]["tp"] += tp
            totals[name]["vuln"] += nv
            totals[name]["fp"] += fp
            totals[name]["safe"] += ns
        rows.append(row)

    head = f"{'class':20} {'files':>9}  " + "  ".join(f"{n:>15}" for n in tools)
    print(head)
    print(f"{'':20} {'vuln/safe':>9}  " + "  ".join(f"{'TPR   FPR':>15}" for _ in tools))
    for row in rows:
        cells = "  ".join(f"{row[n]['tpr']:6.1f}% {row[n]['fpr']:5.1f}%" for n in tools)
        print(f"{row['class']:20} {row['vuln']:>4}/{row['safe']:<4}  {cells}")
    overall = {
        n: {
            "tpr": round(100.0 * t["tp"] / t["vuln"], 1),
            "fpr": round(100.0 * t["fp"] / t["safe"], 1),
        }
        for n, t in totals.items()
    }
    nv = sum(r["vuln"] for r in rows)
    ns = sum(r["safe"] for r in rows)
    cells = "  ".join(f"{overall[n]['tpr']:6.1f}% {overall[n]['fpr']:5.1f}%" for n in tools)
    print(f"{'all':20} {nv:>4}/{ns:<4}  {cells}")
    print(
        f"time for {len(files)} files: bandit {timings['bandit']:.1f} s, "
        f"semgrep {timings['semgrep']:.1f} s"
    )
    for row in rows:
        for n in ("lane",):
            if row[n]["missed"] or row[n]["false"]:
                missed, false = row[n]["missed"], row[n]["false"]
                print(f"  {row['class']}: lane missed {missed}, flagged safe {false}")
    if args.json:
        out = ROOT / "bench" / "results" / "sast.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps({"classes": rows, "overall": overall, "timings_s": timings}, indent=2)
        )
        print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
