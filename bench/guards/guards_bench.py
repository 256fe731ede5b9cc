"""The guards against a labelled corpus of generated tests: per-class precision and recall.

The corpus (bench/guards/corpus/<class>/<name>.py) holds candidate tests for the billable
example's feature branch, each labelled with the one defect class it has (or `good`) and
the criterion it was written for (`# label: <class>`, `# criterion: AC#N`). Every file
goes through the guards as the model generator runs them:

- the static ones (agents_app/guards.static_findings): syntax, flake lint, tautology, and
  spec fidelity against the named criterion's text from
  examples/billable/spec/001-discount-codes/spec.md;
- then, for what they let through, the pre-flight (agents_app/guards/preflight.py) in a
  real bwrap sandbox against the example repository's feature branch.
 A file is predicted to
have every class its findings name (`flag` findings included), and to be `good` when no
guard says anything. Results: stdout and, with --json, bench/results/guards-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from agents_app.guards import CLASSES, GuardFinding, static_findings  # noqa: E402
from agents_app.spec.criteria import parse_spec_criteria  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
SPEC = ROOT / "examples" / "billable" / "spec" / "001-discount-codes" / "spec.md"
LABELS = ("good", *CLASSES)
_HEADER = re.compile(r"^#\s*(label|criterion):\s*(\S+)\s*$", re.MULTILINE)
_HEADER_LINE = re.compile(r"^#\s*(?:label|criterion|hard):.*$", re.MULTILINE)


@dataclass
class Case:
    path: Path
    label: str
    criterion: str  # "AC#3"
    source: str
    findings: list[GuardFinding] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(CORPUS))

    @property
    def predicted(self) -> set[str]:
        kinds = {f.kind for f in self.findings}
        return kinds or {"good"}


def load_corpus(corpus: Path = CORPUS) -> list[Case]:
    cases = []
    for path in sorted(corpus.glob("*/*.py")):
        source = path.read_text(encoding="utf-8")
        header = dict((k, v) for k, v in _HEADER.findall(source[:500]))
        label = header.get("label", "")
        if label not in LABELS or label != path.parent.name:
            raise SystemExit(f"{path}: label {label!r} does not match its folder")
        # the guards see the test without the corpus header (blank lines keep line numbers)
        body = _HEADER_LINE.sub("", source)
        cases.append(Case(path, label, header.get("criterion", ""), body))
    return cases


def criteria_texts(spec: Path = SPEC) -> dict[str, str]:
    """ "AC#3" -> the criterion's text, as the planner reads it."""
    return {c.label: c.text for c in parse_spec_criteria(spec.read_text(encoding="utf-8"))}


# -- the guards ------------------------------------------------------------------


def run_static(cases: list[Case], texts: dict[str, str], timings: dict[str, float]) -> None:
    """Syntax, flake lint, tautology and spec fidelity, exactly as the generator runs them."""
    t = time.perf_counter()
    for case in cases:
        case.findings += static_findings(case.source, texts.get(case.criterion, ""))
    timings["static"] = time.perf_counter() - t


def run_preflight(cases: list[Case], timings: dict[str, float]) -> None:
    """The sandboxed pre-flight against the example's feature branch, for the whole corpus
    in one bwrap process with this Python (the example needs nothing but the stdlib)."""
    from agents_app.guards.preflight import RUNNER_SIDE, check_in_sandbox
    from agents_app.sandbox import Limits, Mount, get_sandbox

    with tempfile.TemporaryDirectory(prefix="guards-bench-") as tmp:
        tmp_path = Path(tmp)
        out = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "make_example_repo.py"),
             str(tmp_path / "repo"), "--aifactory-root", str(tmp_path / "aif"),
             "--project-id", "billable"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        example = json.loads(out.stdout)
        repo = Path(example["repo"])
        subprocess.run(["git", "-C", str(repo), "checkout", "-q", example["branch"]], check=True)
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        backend = get_sandbox("bwrap", Limits())
        session = backend.session(
            "bench-guards",
            mounts=[Mount(repo), Mount(scratch, writable=True), Mount(RUNNER_SIDE),
                    Mount(Path(sys.prefix)), Mount(Path(sys.base_prefix))],
        )  # fmt: skip

        def run(argv, *, workdir, timeout_s, env, mounts):
            return session.run(
                argv, workdir=workdir, timeout_s=timeout_s, env=env, extra_mounts=mounts
            )

        # a candidate the static guards reject never reaches the pre-flight (as in the
        # generator); the rest go through it together
        todo = {c.name: c for c in cases if not any(f.action == "reject" for f in c.findings)}
        t = time.perf_counter()
        found = check_in_sandbox(
            run, sys.executable, [repo / "src"], {k: c.source for k, c in todo.items()},
            workdir=repo, scratch=scratch,
        )  # fmt: skip
        timings["preflight"] = time.perf_counter() - t
        for name, findings in found.items():
            todo[name].findings += findings


# -- scoring -----------------------------------------------------------------------


def score(cases: list[Case]) -> list[dict]:
    rows = []
    for label in LABELS:
        files = sum(c.label == label for c in cases)
        tp = sum(c.label == label and label in c.predicted for c in cases)
        fp = sum(c.label != label and label in c.predicted for c in cases)
        fn = files - tp
        if not files and not fp:
            continue
        rows.append(
            {
                "class": label,
                "files": files,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / files if files else None,
            }
        )
    return rows


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.0%}"


def report(cases: list[Case], rows: list[dict], timings: dict[str, float]) -> str:
    out = [f"{'class':24} {'files':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'prec':>5} {'recall':>6}"]
    for r in rows:
        out.append(
            f"{r['class']:24} {r['files']:5} {r['tp']:4} {r['fp']:4} {r['fn']:4} "
            f"{_pct(r['precision']):>5} {_pct(r['recall']):>6}"
        )
    wrong = [c for c in cases if c.predicted != {c.label}]
    if wrong:
        out += ["", "not exactly as labelled:"]
        for c in wrong:
            out.append(f"  {c.name}: predicted {', '.join(sorted(c.predicted))}")
            for f in c.findings:
                out.append(f"      {f.guard} {f.action}: {f.message[:150]}")
    out += ["", "time: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items())]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also write bench/results/")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--static-only", action="store_true", help="skip the sandboxed pre-flight (no bwrap)"
    )
    args = parser.parse_args()

    cases = load_corpus(args.corpus)
    texts = criteria_texts()
    timings: dict[str, float] = {}
    run_static(cases, texts, timings)
    if not args.static_only:
        run_preflight(cases, timings)

    rows = score(cases)
    print(f"{len(cases)} files, guards: {', '.join(timings)}")
    print(report(cases, rows, timings))
    if args.json:
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        payload = {
            "guards": list(timings),
            "timings_s": timings,
            "classes": rows,
            "files": [
                {
                    "file": c.name,
                    "label": c.label,
                    "criterion": c.criterion,
                    "predicted": sorted(c.predicted),
                    "findings": [f.as_dict() for f in c.findings],
                }
                for c in cases
            ],
        }
        (results / f"guards-{stamp}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
