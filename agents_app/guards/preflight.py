"""Pre-flight guard: every import, attribute and method a generated test uses, resolved
against the real project before the test runs (PF rules).

Importing the project runs its code, so the resolving happens in the sandbox, with the
project's own Python, by ``runner_side/tfactory_preflight.py``: one process for all the
candidates of a batch. The candidates themselves are only parsed there, never executed.
The host writes the job into a control folder (read-only in the sandbox) and reads the
answer from a fresh output folder through ``safe_fs``; the answer is data from an
untrusted process, validated here: anything malformed is a ``PreflightError``, never a
finding.

Rules (see the runner-side module for the details):

  PF001 syntax                  reject  the test does not parse
  PF002 hallucinated-import     reject  a module or an imported name that does not exist
  PF003 missing-dependency      reject  a top-level module that is not installed (declared
                                        or not)
  PF004 hallucinated-attribute  reject  an attribute or method an imported module or class,
                                        or an instance the test makes, does not have
  PF005 missing-dependency /    flag    the project itself fails at import (a dependency
        syntax / hallucinated-import    missing from its environment, a syntax error, any
                                        other exception): not the test's fault

No Django imports at module level: a benchmark can use ``check_in_sandbox`` with a plain
sandbox backend.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents_app.guards.finding import CLASSES, GuardFinding
from agents_app.sandbox import Mount
from agents_app.sandbox.base import RUNNER_SIDE
from agents_app.spec.analysis import analyse_project
from tasks_app.core import safe_fs
from tasks_app.core.redaction import redact

if TYPE_CHECKING:
    from agents_app.env.runtime import TaskRuntime

GUARD = "preflight"
MODULE = "tfactory_preflight"
RULES = {
    "PF001": "the test does not parse",
    "PF002": "imports a module or name that does not exist",
    "PF003": "imports a module that is not installed",
    "PF004": "uses an attribute or method that does not exist",
    "PF005": "the project fails at import",
}
_RULE_RE = re.compile(r"^PF\d{3}$")
MAX_OUTPUT = 20_000_000
MAX_MESSAGE = 2000
MAX_FINDINGS = 200  # per candidate


class PreflightError(RuntimeError):
    """The pre-flight check itself failed (crash, time limit, unreadable answer)."""


def declared_dependencies(repo: Path) -> list[str]:
    """Normalised distribution names the project declares (pyproject dependencies and
    optional dependencies, dependency groups, requirements*.txt, setup.cfg
    install_requires/extras, Pipfile, tox deps), as the project analysis finds them:
    read through safe_fs, nothing executed."""
    return list(analyse_project(Path(repo)).get("declared_dependencies") or [])


def check_many(
    rt: TaskRuntime,
    repo: Path,
    sources: dict[str, str],
    *,
    declared_deps: Iterable[str] = (),
    timeout_s: float = 120,
) -> dict[str, list[GuardFinding]]:
    """Pre-flight findings per candidate id, in the task's sandbox session.

    ``repo`` is the checkout the tests will run in, inside the session's mounts: the
    scratch copy of the worktree, or the worktree itself (it is mounted read-only for this
    run either way, and is the working directory, as for pytest). The import roots are
    ``rt.roots_in(repo)``, the interpreter is the project environment's; all candidates
    go through one sandboxed process. Raises PreflightError when the check could not
    produce an answer (crash, time limit, cancellation, unreadable or malformed output).
    """
    if not sources:
        return {}
    ctl = rt.ctl_dir("preflight")
    out = rt.out_dir("preflight")
    roots = rt.roots_in(repo)
    return _check(
        rt.run,
        rt.project_env.python,
        roots,
        sources,
        ctl=ctl,
        out=out,
        workdir=repo,
        env=rt.env(pythonpath=roots),
        mounts=[Mount(repo)],
        declared_deps=declared_deps,
        timeout_s=timeout_s,
    )


def check_in_sandbox(
    session_run: Callable[..., Any],
    python: Path | str,
    roots: Sequence[Path],
    sources: dict[str, str],
    *,
    workdir: Path,
    scratch: Path,
    declared_deps: Iterable[str] = (),
    timeout_s: float = 120,
    env: dict[str, str] | None = None,
    runner_side: Path = RUNNER_SIDE,
) -> dict[str, list[GuardFinding]]:
    """Pre-flight findings per candidate id, from one sandboxed process.

    ``session_run(argv, *, workdir, timeout_s, env, mounts)`` runs a command in the
    sandbox (``TaskRuntime.run``, or a sandbox session's ``run`` with the same keywords:
    pass ``session.run``; its ``extra_mounts`` are given by the wrapper below). The job
    goes into a fresh folder under ``scratch`` (``in/``, mounted read-only, and ``out/``,
    writable); the session must already see ``python``'s environment, ``roots``,
    ``workdir`` and ``runner_side``. ``env`` defaults to PYTHONPATH = roots +
    runner_side, HOME in the output folder.

    From a benchmark, with a plain backend and the host's Python::

        from agents_app.sandbox import Limits, Mount, get_sandbox
        from agents_app.guards.preflight import RUNNER_SIDE, check_in_sandbox

        backend = get_sandbox("bwrap", Limits(wall_s=120))
        session = backend.session(
            "bench-preflight",
            mounts=[Mount(repo), Mount(scratch, writable=True), Mount(RUNNER_SIDE),
                    Mount(Path(sys.prefix))],
        )
        def run(argv, *, workdir, timeout_s, env, mounts):
            return session.run(argv, workdir=workdir, timeout_s=timeout_s, env=env,
                               extra_mounts=mounts)
        findings = check_in_sandbox(run, sys.executable, [repo / "src"], sources,
                                    workdir=repo, scratch=scratch)

    Raises PreflightError when the check could not produce an answer.
    """
    if not sources:
        return {}
    base = Path(scratch) / f"preflight-{uuid.uuid4().hex[:12]}"
    base.mkdir(parents=True)
    ctl, out = base / "in", base / "out"
    ctl.mkdir()
    out.mkdir()
    roots = [Path(r) for r in roots]
    if env is None:
        env = {
            "HOME": str(out),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": ":".join(str(p) for p in [*roots, runner_side]),
        }
    return _check(
        session_run,
        python,
        roots,
        sources,
        ctl=ctl,
        out=out,
        workdir=Path(workdir),
        env=env,
        mounts=[],
        declared_deps=declared_deps,
        timeout_s=timeout_s,
    )


def _check(
    session_run: Callable[..., Any],
    python: Path | str,
    roots: Sequence[Path],
    sources: dict[str, str],
    *,
    ctl: Path,
    out: Path,
    workdir: Path,
    env: dict[str, str],
    mounts: list[Mount],
    declared_deps: Iterable[str],
    timeout_s: float,
) -> dict[str, list[GuardFinding]]:
    job = {
        "candidates": {str(k): str(v) for k, v in sources.items()},
        "project_roots": [str(r) for r in roots],
        "declared_deps": sorted({str(d) for d in declared_deps}),
    }
    safe_fs.write_text(ctl, "in.json", json.dumps(job))
    res = session_run(
        [str(python), "-m", MODULE, str(ctl / "in.json"), str(out / "out.json")],
        workdir=workdir,
        timeout_s=timeout_s,
        env=env,
        mounts=[*mounts, Mount(ctl), Mount(out, writable=True)],
    )
    if getattr(res, "cancelled", False):
        raise PreflightError("the pre-flight check was cancelled")
    if res.timed_out:
        raise PreflightError(f"the pre-flight check hit its time limit ({timeout_s:g} s)")
    try:
        text = safe_fs.read_text(out, "out.json", limit=MAX_OUTPUT)
    except FileNotFoundError:
        raise PreflightError(
            f"the pre-flight check wrote no results (exit {res.returncode}, "
            f"{res.limit_hit or 'no limit hit'}): {_tail(res)}"
        ) from None
    except OSError as exc:
        raise PreflightError(f"the pre-flight results could not be read: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PreflightError(f"the pre-flight results are not JSON: {exc}") from exc
    return parse_results(data, sources)


def parse_results(data: Any, sources: dict[str, str]) -> dict[str, list[GuardFinding]]:
    """The runner's answer as GuardFindings; PreflightError if it is not well formed."""
    if not isinstance(data, dict):
        raise PreflightError("the pre-flight results are not a JSON object")
    result: dict[str, list[GuardFinding]] = {}
    for cid in sources:
        entries = data.get(str(cid))
        if not isinstance(entries, list):
            raise PreflightError(f"the pre-flight results have no list for candidate {cid!r}")
        findings = []
        for entry in entries[:MAX_FINDINGS]:
            findings.append(_finding(cid, entry))
        result[cid] = findings
    return result


def _finding(cid: str, entry: Any) -> GuardFinding:
    def bad(why: str) -> PreflightError:
        return PreflightError(f"the pre-flight results for candidate {cid!r} are malformed: {why}")

    if not isinstance(entry, dict):
        raise bad("a finding is not an object")
    rule, kind, action = entry.get("rule"), entry.get("kind"), entry.get("action")
    message, line, test = entry.get("message"), entry.get("line"), entry.get("test", "")
    if not isinstance(rule, str) or not _RULE_RE.match(rule) or rule not in RULES:
        raise bad(f"unknown rule {rule!r}")
    if kind not in CLASSES:
        raise bad(f"unknown kind {kind!r}")
    if action not in ("reject", "flag"):
        raise bad(f"unknown action {action!r}")
    if not isinstance(message, str) or not message.startswith(rule):
        raise bad("a message does not start with its rule")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool) or line < 0):
        raise bad(f"invalid line {line!r}")
    if not isinstance(test, str):
        test = ""
    return GuardFinding(
        guard=GUARD,
        rule=rule,
        kind=kind,
        action=action,
        message=message[:MAX_MESSAGE],
        line=line,
        test=test[:200],
    )


def _tail(res: Any) -> str:
    text = "\n".join(((res.stderr or "") + (res.stdout or "")).strip().splitlines()[-15:])
    return redact(text)[-3000:] or "no output"
