"""mutmut 3 on the changed lines of the bench/mutation case, with per-mutant results.

``run_mutmut(case, workdir)`` runs mutmut 3 (pinned, in its own cached venv) on a copy of
the case's feature commit, restricted to the lines the feature added or changed, and
returns what it did to each mutant. ``.venv/bin/python bench/mutation_mutmut.py
[workdir]`` prepares the case (bench/mutation_cases.py), runs it and prints a JSON summary.

How mutmut 3 decides what to mutate (read from mutmut 3.8.1's source,
``mutation/file_mutation.py`` and ``mutation/pragma_handling.py``):

- It parses each file with LibCST and mutates only code inside top-level functions and the
  methods of top-level classes; module-level statements, class attributes, nested classes,
  functions defined under an ``if`` and decorated functions (other than a lone
  ``@staticmethod``/``@classmethod``) are never mutated. Calls of ``len``/``isinstance``,
  type annotations, triple-quoted strings and non-trivial default arguments are skipped.
- A node is skipped when the line it *starts on* is in the "no mutate" set. That set is
  filled by ``# pragma: no mutate`` comments, but which line a comment marks depends on
  where LibCST hangs it: a comment ending a logical line marks the line the statement
  (or compound-statement header) *starts* on; a comment ending a line inside brackets
  marks that very line; ``# pragma: no mutate start`` / ``end`` on lines of their own mark
  the range between them (and must pair up inside one block). ``do_not_mutate_patterns``
  (regexes matched against each source line) skip expressions starting on matching lines,
  with all their children. ``only_mutate`` globs choose the files.

How the restriction to changed lines is done here, in a plain copy of the feature commit
(``git archive``, no ``.git``): ``only_mutate`` lists the package files the feature
changed, so unchanged files are copied into ``mutants/`` untouched; in each of those files
every logical line that *starts* on an unchanged line gets ``  # pragma: no mutate``
appended to its last line, and every unchanged line inside brackets gets one appended to
itself. Only comments are appended, so line numbers stay those of the original file. A
line cannot take a trailing comment when it ends inside a multi-line string or with a
backslash, and the last line of a multi-line statement can only mark its first line; so
the result is checked with mutmut's own code (its ``MutationVisitor``, run in its venv) on
the original and the marked file: the mutations mutmut would make on the marked file must
be exactly those it would make on the original file at changed lines. Lines that still
leak get an exact-line ``do_not_mutate_patterns`` entry, and the check is repeated; what
is left either way is reported in ``scope`` and each mutant carries ``in_scope``.

Gotchas found on the way:

- mutmut 3 caches everything in ``mutants/`` (results, stats, function hashes) and skips
  work that looks done, so each run starts from a fresh copy; otherwise a rerun would take
  seconds and report old results.
- ``paths_to_mutate`` and ``tests_dir`` still work but are deprecated (warnings); the
  current names are ``source_paths`` and ``pytest_add_cli_args_test_selection``.
- A mutant's name is ``<module>.<mangled function>__mutmut_<n>`` (``x_func`` for a
  function, ``xǁClassǁmethod`` for a method); it says nothing about lines. The line comes
  from ``mutmut show``'s diff, which compares the function's original copy with the mutant
  *as re-rendered by LibCST*: hunk line numbers count from the first line of the function
  node (its leading comments and decorators, stripped of blank lines), and a method comes
  out one indentation level shallower. We read the same diff in-process
  (``get_diff_for_mutant``) and anchor it at the ``def`` line found with ``ast``.
- The mutants are tested in ``mutants/`` with ``pytest --rootdir=.``; the project's
  pyproject.toml is copied there, so its pytest settings (here ``filterwarnings = error``)
  apply to mutmut's runs as well.
- With the default ``process_isolation = "fork"`` mutmut runs the suite in its own
  process (stats, then the clean run) and forks every mutant's run from there, so test
  modules are imported once and any state a test leaves behind is inherited. humanize's
  ``test_naturalsize`` negates its own parametrize list in place, so the clean run failed
  (``'-300 Bytes' == '300 Bytes'``) and mutmut aborted; had it gone on, every mutant
  would have been "killed" by that pollution. ``forkserver`` (each run in a child of a
  server that only *collected* the tests) fixes it, and is what this module configures.
- mutmut refuses a mutation anchored on a kept line when it would delete or replace code
  that starts on a no-mutate line (``_removes_ignored_code``): ``x = {...}`` -> ``x = None``
  with the dict's entries on unchanged lines, or dropping an argument written on an
  unchanged line. Such mutations are counted in ``scope["lost"]``: none on this case,
  about 1% of the changed-line mutations for random line sets over humanize's sources.
- Per mutant, mutmut runs only the tests its stats run saw reaching the mutated function
  (``pytest -x`` on them); a mutant in a function no test reaches is ``no tests`` without
  any run.

Returned by ``run_mutmut``::

    {"tool": "mutmut", "version": "3.8.1", "wall_s": float, "max_children": int,
     "mutants": [{"name", "file", "line", "original", "mutated", "status", "mutmut_status",
                  "exit_code", "in_scope", "line_text_checked", "duration_s", "diff"}, ...],
     "counts": {"total", "killed", "survived", "timeout", "no_tests", "suspicious",
                "skipped", "other", "in_scope", "out_of_scope"},
     "scope": {"files", "pragmas_added", "patterns", "expected_mutations", "leaked", "lost"},
     "log": path of mutmut's output}

``line`` is the 1-based line in the *original* feature source of the first line the mutant
changes, ``original`` that line's text, ``mutated`` the text of the line(s) that replace it
(re-indented to the original; ``""`` when the mutant only deletes lines).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tokenize
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.mutation_cases import Case, ensure_venv, prepare_case  # noqa: E402

MUTMUT_VERSION = "3.8.1"
# mutmut and the libraries that decide what it mutates and how it runs, pinned; the case's
# test requirements are added to the same venv because mutmut runs pytest in-process.
MUTMUT_REQUIREMENTS = (
    f"mutmut=={MUTMUT_VERSION}",
    "libcst==1.9.0",
    "click==8.5.1",
    "setproctitle==1.3.8",
    "textual==8.2.8",
    "rich==15.0.0",
)
PRAGMA = "  # pragma: no mutate"
RUN_TIMEOUT_S = 3600

# mutmut's status strings (mutmut/stats.py) -> the benchmark's statuses.
STATUS_MAP = {
    "killed": "killed",
    "survived": "survived",
    "timeout": "timeout",
    "no tests": "no_tests",
    "suspicious": "suspicious",
    "skipped": "skipped",
}
STATUSES = ("killed", "survived", "timeout", "no_tests", "suspicious", "skipped", "other")

# Runs inside mutmut's venv, with the prepared project as cwd (mutmut reads its config from
# there). `check` lists the mutations mutmut would make in given sources; `dump` reads the
# results of a finished run. It uses mutmut's internals, which is why the version is pinned.
_HELPER = r"""
import json
import sys
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider


def mutations(filename, code):
    from mutmut.mutation.file_mutation import MutationVisitor
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import get_ignored_lines

    # The same steps as mutmut.mutation.file_mutation.create_mutations, keeping the
    # metadata wrapper so that the position of each mutated node can be read.
    wrapper = MetadataWrapper(cst.parse_module(code))
    ignored = get_ignored_lines(filename, code, wrapper)
    visitor = MutationVisitor(mutation_operators, ignored, None)
    wrapper.visit(visitor)
    positions = wrapper.resolve(PositionProvider)
    out = []
    for m in visitor.mutations:
        # mutmut drops mutations outside top-level functions and methods
        # (group_by_top_level_node), so they are no mutants.
        if m.contained_by_top_level_function is None:
            continue
        pos = positions.get(m.original_node)
        out.append({
            "line": pos.start.line if pos else None,
            "col": pos.start.column if pos else None,
            "node": type(m.original_node).__name__,
            "mutated": wrapper.module.code_for_node(m.mutated_node),
        })
    return out


def check(spec):
    from mutmut.configuration import config

    # The original is the reference: what mutmut makes there with no restriction at all,
    # so the configured do_not_mutate_patterns must not apply to it.
    cfg = config()
    patterns = cfg.do_not_mutate_patterns
    out = {}
    for f, srcs in spec.items():
        cfg.do_not_mutate_patterns = []
        original = mutations(f, srcs["original"])
        cfg.do_not_mutate_patterns = patterns
        out[f] = {"original": original, "marked": mutations(f, srcs["marked"])}
    return out


def dump():
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import (
        get_diff_for_mutant, read_functions_from_index, read_mutants_module,
        read_original_function, read_mutant_function,
    )
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    out = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, exit_code in data.exit_code_by_key.items():
            functions = read_functions_from_index(name, path)
            if functions is None:
                module = read_mutants_module(path)
                functions = (
                    read_original_function(module, name),
                    read_mutant_function(module, name),
                )
            orig_code = cst.Module([functions[0]]).code.strip().split("\n")
            def_index = next(
                i for i, line in enumerate(orig_code)
                if line.startswith(("def ", "async def "))
            )
            out.append({
                "name": name,
                "path": str(path),
                "exit_code": exit_code,
                "status": status_by_exit_code[exit_code],
                "duration_s": data.durations_by_key.get(name),
                "diff": get_diff_for_mutant(name, path=path),
                "def_index": def_index,
            })
    return out


if __name__ == "__main__":
    if sys.argv[1] == "check":
        spec = json.loads(Path(sys.argv[2]).read_text())
        print(json.dumps(check(spec)))
    else:
        print(json.dumps(dump()))
"""


class MutmutError(RuntimeError):
    """mutmut could not be set up or run."""


def ensure_mutmut_python(case: Case) -> Path:
    """The python of the cached venv holding mutmut and the case's test requirements."""
    return ensure_venv("mutmut", [*MUTMUT_REQUIREMENTS, *case.test_requirements])


# --- restricting mutmut to the changed lines --------------------------------------------


def add_no_mutate_pragmas(source: str, keep: set[int]) -> tuple[str, int]:
    """Append ``# pragma: no mutate`` so that mutmut skips every line not in ``keep``.

    Returns the new source (same number of lines) and how many comments were added.
    The rules follow mutmut's PragmaVisitor (see the module docstring): a comment at the
    end of a logical line marks the line it starts on, so it goes there when the start
    line is not kept; a comment at the end of a line inside brackets marks that line, so
    it goes on every such line that is not kept. Lines that cannot take a comment (inside
    a multi-line string, after a backslash) are left alone; the scope check catches any
    mutation that slips through them.
    """
    lines = source.splitlines(keepends=True)
    add: set[int] = set()
    start: int | None = None
    # tokens that are layout, not code: they never start a logical line
    layout = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT}
    layout |= {tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in layout and start is None:
            start = tok.start[0]
        elif tok.type == tokenize.NL and start is not None:
            # a line break inside brackets, within the logical line that began at `start`
            line = tok.start[0]
            if line not in keep:
                add.add(line)
        elif tok.type == tokenize.NEWLINE and start is not None:
            if start not in keep:
                add.add(tok.start[0])
            start = None
    for line in add:
        text = lines[line - 1]
        body = text.rstrip("\r\n")
        lines[line - 1] = body + PRAGMA + text[len(body) :]
    return "".join(lines), len(add)


def _strip_pragma(text: str) -> str:
    return text.replace(PRAGMA, "")


def _mutation_key(m: dict[str, Any]) -> tuple:
    # Mutated code of a multi-line node carries the comments inside it, ours included.
    return (m["line"], m["col"], m["node"], _strip_pragma(m["mutated"]))


def _helper(python: Path, project: Path, *args: str) -> Any:
    helper = project.parent / "mutmut_helper.py"
    helper.write_text(_HELPER)
    result = subprocess.run(
        [str(python), str(helper), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=_clean_env(python),
        check=False,
    )
    if result.returncode != 0:
        raise MutmutError(f"mutmut helper {args[0]} failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout)


def _check_scope(
    python: Path, project: Path, originals: dict[str, str], changed: dict[str, set[int]]
) -> dict[str, Any]:
    """Compare what mutmut would mutate in the marked files with the changed-line target."""
    spec = {
        f: {"original": src, "marked": (project / f).read_text()} for f, src in originals.items()
    }
    spec_file = project.parent / "mutmut_scope.json"
    spec_file.write_text(json.dumps(spec))
    found = _helper(python, project, "check", str(spec_file))
    expected_n = 0
    leaked: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    for f, by_kind in found.items():
        want = {_mutation_key(m): m for m in by_kind["original"] if m["line"] in changed.get(f, ())}
        got = {_mutation_key(m): m for m in by_kind["marked"]}
        expected_n += len(want)
        leaked += [{"file": f, **got[k]} for k in got.keys() - want.keys()]
        lost += [{"file": f, **want[k]} for k in want.keys() - got.keys()]
    return {"expected_mutations": expected_n, "leaked": leaked, "lost": lost}


def _write_config(project: Path, case: Case, files: list[str], patterns: list[str]) -> None:
    """Add a [tool.mutmut] table to the copy's pyproject.toml (mutmut reads it first)."""
    import tomllib

    pyproject = project / "pyproject.toml"
    base = pyproject.read_text() if pyproject.exists() else ""
    marker = "\n# --- bench/mutation_mutmut.py ---\n"
    base = base.split(marker)[0]
    if "tool" in tomllib.loads(base) and "mutmut" in tomllib.loads(base)["tool"]:
        raise MutmutError("the project already configures mutmut; refusing to merge configs")
    table = {
        "source_paths": case.source_paths,
        "only_mutate": files,
        "do_not_mutate_patterns": patterns,
        "pytest_add_cli_args_test_selection": case.test_paths,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        # The copy is no git checkout, and each run starts from scratch anyway.
        "use_git_change_detection": False,
        # With the default "fork", mutmut runs the suite in its main process (stats, clean
        # run) and forks each mutant's test run from there, so the test modules are
        # imported once and whatever a test leaves behind is inherited. humanize's
        # test_naturalsize negates its own parametrize list in place (test_args[0] *= -1):
        # the second run in one interpreter fails ("-300 Bytes"), mutmut aborts on the
        # clean run, and every mutant would be "killed" by it. "forkserver" runs each of
        # those in a child of a server that has only *collected* the tests.
        "process_isolation": "forkserver",
    }
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())
    text = base.rstrip("\n") + "\n" + marker + "[tool.mutmut]\n" + body + "\n"
    tomllib.loads(text)  # fail here, not inside mutmut, if the result is not valid TOML
    pyproject.write_text(text)


def _line_pattern(text: str) -> str:
    return "^" + re.escape(text.rstrip()) + r"\s*$"


def prepare_project(case: Case, python: Path, dest: Path) -> dict[str, Any]:
    """Copy the feature commit to ``dest`` and restrict mutmut to the changed lines there.

    Returns the scope report of ``restrict_to_changed_lines``.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(case.repo), "archive", "--format=tar", case.branch],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return restrict_to_changed_lines(case, python, dest)


def restrict_to_changed_lines(case: Case, python: Path, project: Path) -> dict[str, Any]:
    """Mark the unchanged lines of ``project`` (a copy of the feature side) and configure mutmut.

    Returns ``{"files", "pragmas_added", "patterns", "expected_mutations", "leaked",
    "lost"}``: ``expected_mutations`` is how many mutations mutmut makes on the changed
    lines of the unmarked files; ``leaked`` lists mutations it would still make off them
    and ``lost`` those on them it no longer makes (each with file, line, col, node and
    mutated code). ``lost`` is mostly by mutmut's design: it refuses a mutation that deletes
    code on a no-mutate line, e.g. ``x = {...}`` -> ``x = None`` when the dict's entries sit
    on unchanged lines, or dropping an argument written on an unchanged line.
    """
    files = sorted(case.changed_lines)
    originals: dict[str, str] = {}
    pragmas = 0
    for rel in files:
        path = project / rel
        originals[rel] = path.read_text()
        marked, n = add_no_mutate_pragmas(originals[rel], case.changed_lines[rel])
        ast.parse(marked, filename=rel)  # appended comments must never break the file
        path.write_text(marked)
        pragmas += n

    patterns: list[str] = []
    _write_config(project, case, files, patterns)
    scope = _check_scope(python, project, originals, case.changed_lines)
    if scope["leaked"]:
        # Fallback: an exact-line regex for each leaking line, unless the same text is
        # also a changed line somewhere (the pattern would then suppress that one too).
        changed_texts = {
            originals[f].splitlines()[n - 1].rstrip()
            for f in files
            for n in case.changed_lines[f]
            if n <= len(originals[f].splitlines())
        }
        for leak in scope["leaked"]:
            if leak["line"] is None:
                continue
            text = (project / leak["file"]).read_text().splitlines()[leak["line"] - 1]
            if _strip_pragma(text).rstrip() in changed_texts:
                continue
            pattern = _line_pattern(text)
            if pattern not in patterns:
                patterns.append(pattern)
        if patterns:
            _write_config(project, case, files, patterns)
            scope = _check_scope(python, project, originals, case.changed_lines)
    return {"files": files, "pragmas_added": pragmas, "patterns": patterns, **scope}


# --- running mutmut and reading its results ---------------------------------------------


def _clean_env(python: Path) -> dict[str, str]:
    env = dict(os.environ)
    # mutmut puts mutants/src first on sys.path and removes ./src; an inherited
    # PYTHONPATH or venv would only get in the way.
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(var, None)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _function_lines(source: str) -> dict[tuple[str | None, str], int]:
    """(class or None, name) -> line of its ``def``, for what mutmut can mutate."""
    result: dict[tuple[str | None, str], int] = {}
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            result.setdefault((None, node.name), node.lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    result.setdefault((node.name, item.name), item.lineno)
    return result


def _function_of(name: str) -> tuple[str | None, str]:
    """Class and function of a mutant name such as ``pkg.mod.xǁCǁm__mutmut_3``."""
    mangled = name.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        _, cls, func = mangled.split("ǁ", 2)
        return cls, func
    return None, mangled.removeprefix("x_")


def _parse_diff(diff: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Removed lines (1-based index in the diff's 'from' text, text) and added lines."""
    removed: list[tuple[int, str]] = []
    added: list[str] = []
    index = 0
    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")):
            continue
        if line.startswith("@@"):
            index = int(re.match(r"@@ -(\d+)", line).group(1))
            continue
        if line.startswith("-"):
            removed.append((index, line[1:]))
            index += 1
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            index += 1
    return removed, added


def _indent(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _map_mutant(
    entry: dict[str, Any],
    case: Case,
    sources: dict[str, list[str]],
    defs: dict[str, dict[tuple[str | None, str], int]],
) -> dict[str, Any]:
    # mutmut's path is relative to the project root, like the case's.
    file = entry["path"]
    lines = sources[file]
    if file not in defs:
        defs[file] = _function_lines("\n".join(lines))
    def_line = defs[file].get(_function_of(entry["name"]))
    removed, added = _parse_diff(entry["diff"])
    line = original = mutated = None
    text_matches = False
    if def_line is not None and removed:
        first_index, first_text = removed[0]
        line = def_line + (first_index - 1 - entry["def_index"])
        original = lines[line - 1] if 0 < line <= len(lines) else None
        if original is not None:
            text_matches = _strip_pragma(first_text).strip() == original.strip()
            # the diff shows methods one level shallower; put the original indent back
            shift = _indent(original)[: max(0, len(_indent(original)) - len(_indent(first_text)))]
            mutated = "\n".join(shift + _strip_pragma(a) for a in added)
    status = STATUS_MAP.get(entry["status"], "other")
    return {
        "name": entry["name"],
        "file": file,
        "line": line,
        "original": original,
        "mutated": mutated,
        "status": status,
        "mutmut_status": entry["status"],
        "exit_code": entry["exit_code"],
        "in_scope": line is not None and line in case.changed_lines.get(file, ()),
        "line_text_checked": text_matches,
        "duration_s": entry["duration_s"],
        "diff": entry["diff"],
    }


def run_mutmut(case: Case, workdir: Path, max_children: int | None = None) -> dict[str, Any]:
    """Run mutmut 3 on ``case``'s changed lines; see the module docstring for the result."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = ensure_mutmut_python(case)
    project = workdir / "mutmut-project"
    scope = prepare_project(case, python, project)
    children = max_children or os.cpu_count() or 2

    log = workdir / "mutmut-run.log"
    started = time.perf_counter()
    with log.open("w") as out:
        # its own session, so that a timeout can end mutmut's fork server and workers too
        proc = subprocess.Popen(
            [str(python.parent / "mutmut"), "run", "--max-children", str(children)],
            cwd=project,
            env=_clean_env(python),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise MutmutError(f"mutmut run took over {RUN_TIMEOUT_S} s; log {log}") from None
    wall_s = time.perf_counter() - started
    if returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise MutmutError(f"mutmut run exited {returncode}; log {log}:\n{tail}")

    # Lines are mapped against the feature commit itself, not the marked copy mutmut saw.
    sources = {
        f: subprocess.run(
            ["git", "-C", str(case.repo), "show", f"{case.branch}:{f}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        for f in case.changed_lines
    }
    defs: dict[str, dict[tuple[str | None, str], int]] = {}
    mutants = [_map_mutant(e, case, sources, defs) for e in _helper(python, project, "dump")]
    mutants.sort(key=lambda m: (m["file"], m["line"] or 0, m["name"]))
    counts = {s: 0 for s in STATUSES}
    for m in mutants:
        counts[m["status"]] += 1
    counts["total"] = len(mutants)
    counts["in_scope"] = sum(m["in_scope"] for m in mutants)
    counts["out_of_scope"] = len(mutants) - counts["in_scope"]
    return {
        "tool": "mutmut",
        "version": MUTMUT_VERSION,
        "wall_s": round(wall_s, 3),
        "max_children": children,
        "mutants": mutants,
        "counts": counts,
        "scope": scope,
        "log": str(log),
    }


def main() -> int:
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="mmut-"))
    case = prepare_case(workdir)
    result = run_mutmut(case, workdir)
    summary = {
        "case": case.name,
        "changed_lines": case.changed_line_count,
        "tool": result["tool"],
        "version": result["version"],
        "wall_s": result["wall_s"],
        "max_children": result["max_children"],
        "counts": result["counts"],
        "scope": {
            "files": result["scope"]["files"],
            "pragmas_added": result["scope"]["pragmas_added"],
            "patterns": result["scope"]["patterns"],
            "expected_mutations": result["scope"]["expected_mutations"],
            "leaked": len(result["scope"]["leaked"]),
            "lost": len(result["scope"]["lost"]),
        },
        "mutants": [
            {k: m[k] for k in ("name", "file", "line", "status", "original", "mutated")}
            for m in result["mutants"]
        ],
        "log": result["log"],
    }
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
