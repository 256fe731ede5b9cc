"""Runs the covering tests against each mutant, inside the sandbox: the kill matrix.

usage: python -m tfactory_mutrun JOB_JSON OUT_DIR

The job (written by the host, agents_app/lanes/mutation/lane.py) names the source files with
their sha256, the tests, pytest's arguments, and the mutants: a byte-span patch each, the
tests that cover it, its scope and, for a function-scope mutant, the qualified name and
first line of the outermost function around it.

How it stays fast: one warm process collects the tests once. For each function-scope
mutant it forks; the child compiles the mutated file, swaps the code of the live
function objects (every reference to them sees the mutant, however it was imported),
runs only the covering tests and reports each result down a pipe. Module-scope mutants
(module and class bodies, decorators, default values), and any whose function cannot be
swapped, get a child forked from the pristine process before collection, whose import
system serves the mutated source. A dry run first measures each test unmutated; a test
that fails there kills nothing. Each mutant's time limit is derived from its tests'
measured durations. Up to `workers` children run at once.

Output: OUT_DIR/results.json {"mutants": {id: {...}}, "dry_run": {...}, ...} and
OUT_DIR/progress.jsonl (a line per finished mutant). Standard library and pytest only.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import select
import signal
import sys
import time
import traceback
import types

import pytest

# in a child: where its reports go (in the warm process: its pipe to the main one)
_child_fd: int | None = None
_results_cache: dict[str, dict] = {}
# the pytest arguments every run uses: no output capture (each child's output goes to
# /dev/null), no plugins that reorder, parallelise or measure
# or stop early (--maxfail=0 undoes a project's -x: the matrix wants every test's result);
# no tracebacks (--tb=no halves the time of a killed mutant: its failures are only
# counted, the first one's crash message is kept)
BASE_ARGS = ["-s", "-q", "--no-header", "--tb=no", "--maxfail=0", "-p", "no:cacheprovider",
             "-p", "no:cov", "-p", "no:xdist", "-p", "no:randomly"]  # fmt: skip
_live_children: set[int] = set()  # process groups to kill if this process is stopped
_DONE = b'{"t": "done"}\n'  # a child's last message


# -- messages from a child -----------------------------------------------------------


def _send(msg: dict) -> None:
    if _child_fd is None:
        return
    data = (json.dumps(msg) + "\n").encode()
    while data:
        n = os.write(_child_fd, data)
        data = data[n:]


class _Reporter:
    """Registered in every child's pytest: streams a record per test as it ends."""

    def pytest_runtest_logstart(self, nodeid, location):
        _results_cache[nodeid] = {"nodeid": nodeid, "outcome": "passed", "duration": 0.0}
        _send({"t": "start", "nodeid": nodeid})

    def pytest_collectreport(self, report):
        if report.failed:
            text = str(report.longrepr or "").strip().splitlines()
            last = (text[-1] if text else "")[:500]
            _send({"t": "collect_error", "nodeid": report.nodeid, "message": last})

    def pytest_runtest_logreport(self, report):
        rec = _results_cache.setdefault(
            report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0}
        )
        rec["duration"] += report.duration or 0.0
        if report.failed and rec["outcome"] not in ("failed", "error"):
            rec["outcome"] = "failed" if report.when == "call" else "error"
            rec["message"] = _message(report)
        elif report.skipped and rec["outcome"] == "passed":
            rec["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        if report.when == "teardown":
            _send({"t": "test", **rec})


def _message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message[:500]
    if isinstance(report.longrepr, str):  # _cheap_failures(): the exception, first line first
        lines = report.longrepr.strip().splitlines()
        return (lines[0] if lines else "")[:500]
    text = str(report.longrepr or "").strip().splitlines()
    return (text[-1] if text else "")[:500]


# -- the pool: forked children, their pipes and deadlines ------------------------------


class Pool:
    """Runs child functions in forked processes, `workers` at once, each with a deadline."""

    def __init__(self, workers: int, deadline: float):
        self.workers = max(1, workers)
        self.deadline = deadline

    def run(self, jobs, child, done):
        """jobs: (key, timeout_s) pairs; child(key) runs in the forked process and
        reports with _send; done(key, messages, how) gets "exit:<code>", "signal:<n>",
        "timeout" or "budget" (never started: the overall deadline passed)."""
        pending = list(jobs)
        running: dict[int, dict] = {}  # read fd -> state
        while pending or running:
            while pending and len(running) < self.workers:
                key, timeout_s = pending.pop(0)
                if time.monotonic() >= self.deadline:
                    done(key, [], "budget")
                    continue
                r, w = os.pipe()
                try:
                    pid = os.fork()
                except OSError as exc:  # out of processes: wait for a child to end
                    os.close(r)
                    os.close(w)
                    if running:
                        pending.insert(0, (key, timeout_s))
                        break
                    done(key, [{"t": "internal", "error": f"could not fork: {exc}"}], "exit:-1")
                    continue
                if pid == 0:  # the child
                    os.close(r)
                    _run_child(child, key, w)
                os.close(w)
                _live_children.add(pid)
                running[r] = {
                    "pid": pid,
                    "key": key,
                    "buf": b"",
                    "until": min(time.monotonic() + timeout_s, self.deadline + 5),
                }
            if not running:
                break
            wait = max(0.0, min(s["until"] for s in running.values()) - time.monotonic())
            ready, _, _ = select.select(list(running), [], [], wait)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    running[fd]["buf"] += chunk
                    # a process the test forked may hold the pipe open after the child
                    # said it is done: do not wait for the end of the pipe then
                    if not running[fd]["buf"].endswith(_DONE):
                        continue
                state = running.pop(fd)
                os.close(fd)
                _, status = os.waitpid(state["pid"], 0)
                _live_children.discard(state["pid"])
                _kill_group(state["pid"])  # whatever the tests left running
                how = (
                    f"signal:{os.WTERMSIG(status)}"
                    if os.WIFSIGNALED(status)
                    else f"exit:{os.WEXITSTATUS(status)}"
                )
                done(state["key"], _decode(state["buf"]), how)
            now = time.monotonic()
            for fd in [fd for fd, s in running.items() if now >= s["until"]]:
                state = running.pop(fd)
                _kill(state["pid"])
                _live_children.discard(state["pid"])
                os.set_blocking(fd, False)  # a survivor may still hold the pipe open
                try:  # what it said before it was stopped
                    while chunk := os.read(fd, 65536):
                        state["buf"] += chunk
                except OSError:
                    pass
                os.close(fd)
                done(state["key"], _decode(state["buf"]), "timeout")


def _run_child(child, key, w: int) -> None:
    global _child_fd
    code = 0
    _live_children.clear()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _child_fd is not None:
        # the pipe the parent reports through is not this child's: a process a test
        # leaves behind would otherwise hold the grandparent's read open
        os.close(_child_fd)
    try:
        os.setpgid(0, 0)  # its own process group: a timeout kills whatever it started
        _child_fd = w
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        child(key)
        _send({"t": "done"})
    except BaseException:  # noqa: BLE001 - whatever happens, the parent must hear of it
        try:
            _send({"t": "internal", "error": traceback.format_exc()[-2000:]})
        except Exception:  # noqa: S110 - the pipe is gone; the exit code says enough
            pass
        code = 3
    finally:
        os._exit(code)


def _stop(signum, frame) -> None:
    """Stopped from outside (the sandbox's time limit): take the children along."""
    for pid in list(_live_children):
        _kill(pid)
    os._exit(128 + signum)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _decode(buf: bytes) -> list[dict]:
    out = []
    for line in buf.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            out.append(msg)
    return out


# -- the verdict on one mutant from what its child said ------------------------------


def verdict(mutant: dict, messages: list[dict], how: str, timeout_s: float) -> dict:
    tests = [m for m in messages if m.get("t") == "test"]
    started = [m["nodeid"] for m in messages if m.get("t") == "start"]
    ended = {m["nodeid"] for m in tests}
    failed = [m for m in tests if m.get("outcome") in ("failed", "error")]
    res = {
        "coveredBy": list(mutant["tests"]),
        "killedBy": [m["nodeid"] for m in failed],
        "testsCompleted": len(tests),
        "duration": round(sum(m.get("duration", 0.0) for m in tests) * 1000, 3),
        "tests": {m["nodeid"]: m.get("outcome") for m in tests},
    }
    kinds = {m.get("t") for m in messages}
    if "compile_error" in kinds:
        msg = next(m for m in messages if m.get("t") == "compile_error")
        return {**res, "status": "CompileError", "statusReason": msg.get("message", "")}
    if "internal" in kinds:
        msg = next(m for m in messages if m.get("t") == "internal")
        return {**res, "status": "RuntimeError", "statusReason": msg.get("error", "")[-500:]}
    if how == "budget":
        return {**res, "status": "Ignored", "statusReason": "the lane's time budget ran out"}
    if how == "timeout":
        running = [n for n in started if n not in ended]
        res["timedOutIn"] = running[-1] if running else None
        where = f" in {running[-1]}" if running else ""
        if failed:  # a test failed before another hung: the mutant is killed either way
            return {**res, "status": "Killed", "statusReason": failed[0].get("message", "")}
        reason = f"no result after {timeout_s:.1f}s{where}"
        return {**res, "status": "Timeout", "statusReason": reason}
    if failed:
        return {**res, "status": "Killed", "statusReason": failed[0].get("message", "")}
    if "done" in kinds and len(ended) < len(mutant["tests"]):
        # selected tests that never ran: their file could not even be imported
        errors = [m for m in messages if m.get("t") == "collect_error"]
        lost = [t for t in mutant["tests"] if t not in ended]
        reason = errors[0].get("message", "") if errors else "the tests did not run"
        return {**res, "killedBy": lost, "status": "Killed",
                "statusReason": f"could not be collected under this mutant: {reason}"}  # fmt: skip
    if "done" not in kinds:
        running = [n for n in started if n not in ended]
        where = f" while {running[-1]} ran" if running else ""
        res["crashedIn"] = running[-1] if running else None
        return {
            **res,
            "status": "RuntimeError",
            "statusReason": f"the test process died ({how}){where}",
        }
    return {**res, "status": "Survived"}


# -- mutating ---------------------------------------------------------------------


def _patched(source: bytes, mutant: dict) -> bytes:
    start, length = mutant["start"], mutant["length"]
    return source[:start] + mutant["replacement"].encode() + source[start + length :]


def _find_code(code: types.CodeType, qualname: str, firstlineno: int):
    stack = [code]
    while stack:
        c = stack.pop()
        if c.co_qualname == qualname and c.co_firstlineno == firstlineno:
            return c
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return None


def _code_tree(code: types.CodeType):
    yield code
    for k in code.co_consts:
        if isinstance(k, types.CodeType):
            yield from _code_tree(k)


class _MutatedSource(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one file's mutated source to whatever imports it (a module-scope mutant)."""

    def __init__(self, path: str, code: types.CodeType):
        self.path = path
        self.code = code

    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not spec.origin or os.path.realpath(spec.origin) != self.path:
            return None
        spec.loader = self
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)  # noqa: S102 - the mutant, inside the sandbox


# -- the run ------------------------------------------------------------------------


class Runner:
    def __init__(self, job: dict, out: str):
        self.job = job
        self.out = out
        self.root = os.getcwd()
        self.sources: dict[str, bytes] = {}
        self.results: dict[str, dict] = {}
        self.deadline = time.monotonic() + float(job.get("budget_s", 600))
        self.workers = int(job.get("workers") or 1)
        self.factor = float(job.get("timeout_factor", 2.0))
        self.const = float(job.get("timeout_s", 1.0))
        self.mutants = {m["id"]: m for m in job["mutants"]}
        self.dry: dict = {}
        # seconds per test: the host's measurements until the dry run has its own
        self.durations: dict[str, float] = dict(job.get("durations") or {})
        self.errors: list[str] = []

    def abspath(self, rel: str) -> str:
        return os.path.realpath(os.path.join(self.root, rel))

    def compiled(self, mutant: dict, path: str) -> types.CodeType | None:
        """The mutated file's code; None (and a CompileError said) when it does not compile."""
        try:
            return compile(_patched(self.sources[mutant["file"]], mutant), path, "exec")
        except (SyntaxError, ValueError) as exc:
            _send({"t": "compile_error", "message": f"{type(exc).__name__}: {exc}"})
            return None

    def load_sources(self) -> None:
        for rel, info in self.job["files"].items():
            with open(self.abspath(rel), "rb") as fh:
                data = fh.read()
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise SystemExit(f"{rel} is not the file the mutants were made from")
            self.sources[rel] = data

    def record(self, mutant_id: str, result: dict) -> None:
        self.results[mutant_id] = result
        with open(os.path.join(self.out, "progress.jsonl"), "a") as fh:
            fh.write(json.dumps({"id": mutant_id, "status": result["status"]}) + "\n")

    def timeout_for(self, tests: list[str], extra: float = 0.0) -> float:
        net = sum(self.durations.get(t, 0.0) for t in tests)
        return self.factor * (net + extra) + self.const

    def selected(self, mutant: dict) -> list[str]:
        green = self.dry.get("green")
        return [t for t in mutant["tests"] if green is None or t in green]

    def unselected(self, mutant: dict) -> dict:
        """The result of a mutant none of whose tests passed unmutated: NoCoverage, or
        Ignored when the dry run never measured some of them (the budget ran out first),
        since nobody knows whether those would have run and caught it."""
        measured = set(self.dry.get("tests", {})) | set(self.dry.get("not_collected", []))
        if any(t not in measured for t in mutant["tests"]):
            return {
                "status": "Ignored",
                "statusReason": "the lane's time budget ran out before its tests were measured",
                "coveredBy": [],
                "killedBy": [],
                "testsCompleted": 0,
            }
        return _no_coverage(mutant)

    # the warm process: collect once, dry run, function-scope mutants --------------

    def warm(self) -> dict:
        """Runs in a forked process; returns what the pristine process needs next."""
        state: dict = {"results": {}, "cold": []}  # "dry" once the tests ran
        runner = self

        class Warm:
            @pytest.hookimpl(tryfirst=True)
            def pytest_runtestloop(self, session):
                runner.warm_loop(session, state)
                return True

            def pytest_collection_finish(self, session):
                state["collect_s"] = time.monotonic() - started

        started = time.monotonic()
        args = [*BASE_ARGS, *self.job.get("pytest_args", []), *self.job["test_paths"]]
        code = pytest.main(args, plugins=[Warm()])
        if "dry" not in state:
            self.errors.append(f"pytest stopped before running any test (exit code {int(code)})")
        return state

    def warm_loop(self, session, state: dict) -> None:
        items = {item.nodeid: item for item in session.items}
        wanted = list(dict.fromkeys(t for m in self.mutants.values() for t in m["tests"]))
        missing = [t for t in wanted if t not in items]
        # the dry run: every wanted test, unmutated, in one child. When the host already
        # measured the tests (the executor's runs), it runs beside the first mutants and
        # its verdict is applied afterwards; otherwise it runs first.
        dry_limit = float(self.job.get("dry_run_timeout_s", 600))
        t0 = time.monotonic()

        def dry_child(_key):
            _run_items([items[t] for t in wanted if t in items])

        def dry_done(_key, messages, how):
            state["dry_how"] = how
            state["dry_s"] = round(time.monotonic() - t0, 3)
            self._dry_results(state, messages, missing)

        overlap = bool(self.durations)
        if not overlap:
            Pool(1, self.deadline).run([("dry", dry_limit)], dry_child, dry_done)

        index = self._live_functions()
        jobs, skip = [], []
        for mid, m in self.mutants.items():
            if m["scope"] != "function":
                continue
            if not self.selected(m):
                skip.append(mid)
                continue
            jobs.append((mid, self.timeout_for(self.selected(m))))
        limits = dict(jobs)

        def child(mid):
            if mid == "dry":
                return dry_child(mid)
            m = self.mutants[mid]
            path = self.abspath(m["file"])
            code = self.compiled(m, path)
            if code is None:
                return
            outer = _find_code(code, m["qualname"], m["firstlineno"])
            if outer is None or not index.get((path, m["qualname"], m["firstlineno"])):
                _send({"t": "cold", "why": "no live function to patch"})
                return
            # the outermost function, and the live closures already made from the
            # functions nested in it (a decorator's wrapper, say)
            try:
                for new in _code_tree(outer):
                    for fn in index.get((path, new.co_qualname, new.co_firstlineno), []):
                        fn.__code__ = new
            except ValueError as exc:  # e.g. the mutant changed a closure's cells
                _send({"t": "cold", "why": str(exc)})
                return
            _run_items([items[t] for t in self.selected(m)])

        def done(mid, messages, how):
            if mid == "dry":
                return dry_done(mid, messages, how)
            if any(msg.get("t") == "cold" for msg in messages):
                state["cold"].append(mid)
                return
            m = self.mutants[mid]
            res = verdict({**m, "tests": self.selected(m)}, messages, how, limits[mid])
            state["results"][mid] = res
            self.record(mid, res)

        if overlap:
            jobs.insert(0, ("dry", dry_limit))
        # what exists now is never collected in the children: no copy-on-write of it
        gc.freeze()
        Pool(self.workers, self.deadline).run(jobs, child, done)
        if "dry" not in state:  # the budget ran out before the dry run could start
            self._dry_results(state, [], missing)
        if overlap:  # a test that fails unmutated kills nothing
            for mid, res in state["results"].items():
                state["results"][mid] = _only(res, self.dry["green"])
        state["no_coverage"] = skip
        state["dry"]["green"] = sorted(self.dry["green"])

    def _dry_results(self, state: dict, messages: list[dict], missing: list[str]) -> None:
        tests = {m["nodeid"]: m for m in messages if m.get("t") == "test"}
        self.dry = state["dry"] = {
            "how": state.get("dry_how"),
            "tests": {
                n: {"outcome": t["outcome"], "duration": t["duration"]} for n, t in tests.items()
            },
            "green": {n for n, t in tests.items() if t["outcome"] == "passed"},
            "not_collected": missing,
            "collect_s": state.get("collect_s", 0.0),
        }
        self.durations = {n: t["duration"] for n, t in tests.items()} or self.durations
        if state.get("dry_how") != "exit:0":
            self.errors.append(f"the dry run did not finish ({state.get('dry_how')})")

    def _live_functions(self) -> dict:
        """(file, qualname, first line) -> the function objects alive after collection."""
        files = {self.abspath(m["file"]) for m in self.mutants.values()}
        real: dict[str, str] = {}
        index: dict[tuple, list] = {}
        for obj in gc.get_objects():
            if type(obj) is not types.FunctionType:
                continue
            code = obj.__code__
            name = code.co_filename
            if name not in real:
                real[name] = os.path.realpath(name) if os.path.isabs(name) else name
            if real[name] in files:
                key = (real[name], code.co_qualname, code.co_firstlineno)
                index.setdefault(key, []).append(obj)
        return index

    # the pristine process: module-scope mutants -------------------------------------

    def cold(self, mutant_ids: list[str]) -> None:
        jobs = []
        collect_s = float(self.dry.get("collect_s", 0.0))
        for mid in mutant_ids:
            sel = self.selected(self.mutants[mid])
            if not sel:
                self.record(mid, self.unselected(self.mutants[mid]))
                continue
            jobs.append((mid, self.timeout_for(sel, extra=collect_s) + 1.0))
        limits = dict(jobs)
        gc.freeze()

        def child(mid):
            m = self.mutants[mid]
            path = self.abspath(m["file"])
            code = self.compiled(m, path)
            if code is None:
                return
            for name, module in list(sys.modules.items()):
                if getattr(module, "__file__", None) and os.path.realpath(module.__file__) == path:
                    del sys.modules[name]
            sys.meta_path.insert(0, _MutatedSource(path, code))
            _cheap_failures()
            sel = self.selected(m)
            files = list(dict.fromkeys(t.split("::", 1)[0] for t in sel))
            pytest.main(
                [*BASE_ARGS, *self.job.get("pytest_args", []), *files],
                plugins=[_Only(set(sel)), _Reporter()],
            )

        def done(mid, messages, how):
            m = self.mutants[mid]
            self.record(mid, verdict({**m, "tests": self.selected(m)}, messages, how, limits[mid]))

        Pool(self.workers, self.deadline).run(jobs, child, done)


class _Only:
    """Keeps only the selected tests of a cold child's collection."""

    def __init__(self, nodeids: set[str]):
        self.nodeids = nodeids

    def pytest_collection_modifyitems(self, session, config, items):
        keep = [i for i in items if i.nodeid in self.nodeids]
        drop = [i for i in items if i.nodeid not in self.nodeids]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _cheap_failures() -> None:
    """In a child, a failure's report is only counted and its first line kept: skip
    pytest's traceback formatting (about a millisecond per failing test, most of a killed
    mutant's overhead). Python-function items only; other items keep their own."""
    from _pytest.python import Function

    def repr_failure(self, excinfo):
        return excinfo.exconly()[:2000]

    Function.repr_failure = repr_failure


def _run_items(items: list) -> None:
    """Runs collected items in this (forked) process as pytest's own loop would."""
    _cheap_failures()
    if not items:
        return
    config = items[0].config
    config.pluginmanager.register(_Reporter(), "tfactory-mutrun-reporter")
    for i, item in enumerate(items):
        nxt = items[i + 1] if i + 1 < len(items) else None
        item.ihook.pytest_runtest_protocol(item=item, nextitem=nxt)


def _only(res: dict, green: set[str]) -> dict:
    """A result with the tests that failed unmutated taken out of it."""
    res = dict(res)
    res["killedBy"] = [t for t in res.get("killedBy", []) if t in green]
    res["coveredBy"] = [t for t in res.get("coveredBy", []) if t in green]
    if res.get("status") == "Killed" and not res["killedBy"]:
        res["status"] = "Survived" if res["coveredBy"] else "NoCoverage"
        res["statusReason"] = "only tests that fail unmutated failed"
    elif res.get("status") == "Survived" and not res["coveredBy"]:
        res["status"] = "NoCoverage"
    return res


def _no_coverage(mutant: dict) -> dict:
    return {
        "status": "NoCoverage",
        "coveredBy": [],
        "killedBy": [],
        "testsCompleted": 0,
        "statusReason": "no test that passes unmutated runs this line",
    }


def main(argv: list[str]) -> int:
    global _child_fd
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as fh:
        job = json.load(fh)
    out = argv[1]
    sys.dont_write_bytecode = True
    signal.signal(signal.SIGTERM, _stop)
    runner = Runner(job, out)
    runner.load_sources()
    started = time.monotonic()
    for mid, m in runner.mutants.items():
        if m.get("ignored"):
            runner.record(mid, {"status": "Ignored", "statusReason": m["ignored"],
                                "coveredBy": [], "killedBy": [], "testsCompleted": 0})  # fmt: skip
    live = {mid: m for mid, m in runner.mutants.items() if mid not in runner.results}
    runner.mutants = live

    # the warm phase runs in a forked process, so this one stays pristine for the cold one
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        _live_children.clear()
        _child_fd = w
        try:
            state = runner.warm()
            state["errors"] = runner.errors
            data = json.dumps(state).encode()
        except BaseException:  # noqa: BLE001
            data = json.dumps({"fatal": traceback.format_exc()[-3000:]}).encode()
            code = 3
        try:
            while data:
                data = data[os.write(w, data) :]
        finally:
            os._exit(code)
    os.close(w)
    _live_children.add(pid)
    chunks = []
    while chunk := os.read(r, 1 << 20):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    try:
        state = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        state = {}
    _live_children.discard(pid)
    if "fatal" in state:
        runner.errors.append(state["fatal"])
    elif not state:
        runner.errors.append(f"the warm process died (wait status {status})")
    warm_s = time.monotonic() - started
    runner.errors.extend(state.get("errors", []))
    runner.results.update(state.get("results", {}))
    runner.dry = state.get("dry", {})
    if "green" in runner.dry:
        runner.dry["green"] = set(runner.dry["green"])
    measured = {n: t["duration"] for n, t in runner.dry.get("tests", {}).items()}
    runner.durations = measured or runner.durations
    for mid in state.get("no_coverage", []):
        runner.record(mid, runner.unselected(runner.mutants[mid]))
    cold = [mid for mid, m in live.items() if m["scope"] != "function"] + state.get("cold", [])
    if "dry" in state:
        runner.cold(cold)
    for mid in live:
        if mid not in runner.results:
            runner.results[mid] = {
                "status": "RuntimeError",
                "statusReason": "not run: " + (runner.errors[0][-300:] if runner.errors else "?"),
                "coveredBy": [],
                "killedBy": [],
                "testsCompleted": 0,
            }
    dry = dict(runner.dry)
    if "green" in dry:
        dry["green"] = sorted(dry["green"])
    result = {
        "mutants": runner.results,
        "dry_run": dry,
        "cold": cold,
        "errors": runner.errors,
        "timing": {
            "dry_s": state.get("dry_s"),
            "warm_s": round(warm_s, 3),
            "total_s": round(time.monotonic() - started, 3),
        },
    }
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
