"""Export coverage data of the changed files as JSON, per context.

usage: python -m tfactory_covexport DATA_FILE OUT_JSON FILE [FILE ...]
Output: {"files": {path: {"statements": [...], "arcs_possible": [[a, b], ...],
         "branch_lines": [...], "contexts": {ctx: {"lines": [...], "arcs": [[a, b], ...]}}}}}
"""

from __future__ import annotations

import json
import re
import sys

import coverage


def export(data_file: str, files: list[str]) -> dict:
    cov = coverage.Coverage(data_file=data_file, branch=True)
    cov.load()
    data = cov.get_data()
    if not data.measured_files():
        # nothing ran (no existing tests): an empty branch-mode data set still lets
        # coverage parse the files for their statements and possible arcs
        data.add_arcs({})
    measured = set(data.measured_files())
    out: dict = {"files": {}, "contexts": sorted(data.measured_contexts())}
    for path in files:
        entry: dict = {"measured": path in measured}
        try:
            analysis = cov._analyze(path)
        except Exception as exc:  # not Python, or not parseable: the host reports it
            entry["error"] = f"{type(exc).__name__}: {exc}"
            out["files"][path] = entry
            continue
        entry["statements"] = sorted(analysis.statements)
        # a statement spanning several lines is measured on its first line only; map
        # every other line of it there, so a change on a continuation line counts
        try:
            reporter = cov._get_file_reporter(path)
            total = len(reporter.source().splitlines())
            entry["first_lines"] = {
                str(n): first
                for n in range(1, total + 1)
                for first in reporter.translate_lines([n])
                if first != n
            }
        except Exception as exc:  # the host falls back to the lines as they are
            entry["first_lines_error"] = f"{type(exc).__name__}: {exc}"
        entry["arcs_possible"] = sorted(list(a) for a in analysis.arc_possibilities)
        entry["branch_lines"] = sorted(n for n, c in analysis.exit_counts.items() if c > 1)
        contexts: dict = {}
        if path in measured:
            by_line = data.contexts_by_lineno(path)
            names = sorted({c for cs in by_line.values() for c in cs})
            for name in names:
                # query contexts are regular expressions (re.search): match exactly
                data.set_query_contexts([f"^{re.escape(name)}$"])
                contexts[name] = {
                    "lines": sorted(data.lines(path) or []),
                    "arcs": sorted(list(a) for a in (data.arcs(path) or [])),
                }
            data.set_query_contexts(None)
        entry["contexts"] = contexts
        out["files"][path] = entry
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    data_file, out_path, files = argv[0], argv[1], argv[2:]
    result = export(data_file, files)
    with open(out_path, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
