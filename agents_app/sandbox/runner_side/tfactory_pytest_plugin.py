"""pytest plugin loaded with `-p tfactory_pytest_plugin` inside the sandbox.

- TFACTORY_ORDER: forward | reverse | shuffle:<seed> — reorders the collected tests, so
  three runs in three orders expose tests that depend on each other.
- TFACTORY_RESULTS: path of a JSON file with one record per test (outcome, phase,
  exception type and message, duration) and the collection errors.
- When coverage is measuring, each test runs in its own coverage context named by its
  node id, so the host can tell which test covered which changed line.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

_results: dict[str, dict] = {}
_collect_errors: list[dict] = []
_started = time.time()


def _coverage():
    try:
        import coverage
    except ImportError:
        return None
    return coverage.Coverage.current()


def pytest_collection_modifyitems(session, config, items):
    order = os.environ.get("TFACTORY_ORDER", "forward")
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(int(order.split(":", 1)[1])).shuffle(items)  # noqa: S311 - test order, not crypto


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append({"nodeid": report.nodeid, "error": _text(report.longrepr)[-4000:]})


def _progress(event: dict) -> None:
    """One line per test start and end, appended as it happens: when a test takes the
    whole process down (memory, pids, a segfault), the last start names the culprit."""
    path = os.environ.get("TFACTORY_PROGRESS")
    if not path:
        return
    line = (json.dumps(event) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _progress({"event": "start", "nodeid": item.nodeid})
    cov = _coverage()
    if cov is not None:
        cov.switch_context(item.nodeid)
    yield
    if cov is not None:
        cov.switch_context("")
    _progress({"event": "end", "nodeid": item.nodeid})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # pytest shortens the crash message ("assert 2 == 1"); keep the real exception type
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None:
        report.tfactory_exc = call.excinfo.typename
        report.tfactory_assertion = bool(
            call.excinfo.errisinstance(AssertionError)
            or (call.excinfo.typename == "Failed" and "DID NOT RAISE" in str(call.excinfo.value))
        )


def pytest_runtest_logreport(report):
    rec = _results.setdefault(
        report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0}
    )
    rec["duration"] = round(rec["duration"] + (report.duration or 0.0), 6)
    if report.skipped and rec["outcome"] == "passed":
        # an xfail-marked test that raised is reported as skipped with `wasxfail`
        rec["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        rec["phase"] = report.when
        rec["message"] = _text(report.longrepr)[-1000:]
    elif report.failed:
        if rec["outcome"] in ("failed", "error"):
            return  # keep the first failure (a teardown error after a failed call adds nothing)
        rec["outcome"] = "failed" if report.when == "call" else "error"
        rec["phase"] = report.when
        exc_type, message = _exception(report)
        rec["exc_type"] = getattr(report, "tfactory_exc", None) or exc_type
        rec["assertion"] = bool(getattr(report, "tfactory_assertion", False))
        rec["message"] = message
        if hasattr(report, "wasxfail"):
            rec["outcome"] = "xpass-strict"


def _exception(report) -> tuple[str, str]:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        message = crash.message or ""
        exc_type = message.split(":", 1)[0].strip() if ":" in message else message.strip()
        return exc_type[:200], message[:2000]
    text = _text(longrepr)
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return last.split(":", 1)[0].lstrip("E ").strip()[:200], last[:2000]


def _text(longrepr) -> str:
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip reports: (path, lineno, reason)
        return str(longrepr[-1])
    return str(longrepr)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("TFACTORY_RESULTS")
    if not path:
        return
    data = {
        "order": os.environ.get("TFACTORY_ORDER", "forward"),
        "exitstatus": int(exitstatus),
        "duration_s": round(time.time() - _started, 3),
        "tests": list(_results.values()),
        "collect_errors": _collect_errors,
        # False when coverage was asked for but someone else's collector took over
        "coverage_active": _coverage() is not None,
    }
    with open(path, "w") as fh:
        json.dump(data, fh)
