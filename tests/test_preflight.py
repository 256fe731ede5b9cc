"""The pre-flight guard (PF rules), run for real in bubblewrap with the host's Python.

A small real project (src layout, a regular package with a submodule its __init__ does
not import, a namespace package, classes with methods, properties, __init__-assigned
attributes, dataclass fields, __slots__ and a __getattr__) and candidates against it,
all in ONE sandboxed process; then the failure paths (a crash, a time limit, a link or
a forged answer planted by the project's code), and the pipeline's entry point on the
bundled example with a real TaskRuntime.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from agents_app.guards import CLASSES, GuardFinding
from agents_app.guards.preflight import (
    RUNNER_SIDE,
    PreflightError,
    check_in_sandbox,
    check_many,
    declared_dependencies,
)
from agents_app.sandbox import Limits, Mount, get_sandbox
from agents_app.sandbox.bwrap import bwrap_problem

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}")

FILES = {
    "pyproject.toml": """\
        [project]
        name = "shop"
        version = "1.0"
        dependencies = ["python-zorblax>=1"]

        [project.optional-dependencies]
        test = ["pytest>=7"]
        """,
    "requirements-dev.txt": "Frobnitz_Lib==1.0  # a comment\n-r requirements-base.txt\n",
    "requirements-base.txt": "gadget.core>=2\n",
    "setup.cfg": """\
        [options]
        install_requires =
            widgetry>=0.1
        """,
    "src/shop/__init__.py": """\
        from shop.pricing import Invoice, apply_discount

        VERSION = "1.0"
        """,
    "src/shop/pricing.py": """\
        from dataclasses import dataclass, field


        def apply_discount(total, pct):
            return total - total * pct // 100


        class Base:
            def __init__(self):
                self.created = True

            def describe(self):
                return "base"


        class Invoice(Base):
            kind = "invoice"

            def __init__(self, total):
                super().__init__()
                self.total = total
                self._lines = []

            def add_line(self, amount):
                self._lines.append(amount)
                self.last_added = amount

            @property
            def net(self):
                return self.total

            @classmethod
            def empty(cls):
                return cls(0)

            @staticmethod
            def currency():
                return "EUR"


        @dataclass
        class Money:
            amount: int
            currency: str = "EUR"
            tags: list = field(default_factory=list)


        class Lazy:
            def __getattr__(self, name):
                return name


        class Slotted:
            __slots__ = ("a", "b")

            def __init__(self):
                self.a = 1


        class Annotated:
            note: str
        """,
    "src/shop/reports.py": """\
        def monthly():
            return []


        class Report:
            def __init__(self, title):
                self.title = title

            def render(self):
                return self.title
        """,
    "src/shop/sub/__init__.py": "",
    "src/shop/sub/deep.py": "def deep():\n    return 1\n",
    "src/shop/state.py": """\
        def init():
            global CACHE
            CACHE = {}
        """,
    "src/shop/plugins.py": """\
        _namespace = globals()


        def load(name):
            _namespace[name] = object()
        """,
    "src/shop/orm.py": """\
        import enum
        from typing import NamedTuple


        def registered(cls):
            return cls


        def relationship(target, backref=None):
            return None  # an ORM adds `backref` to `target` when its mappers are configured


        class Payment:
            invoice = relationship("Invoice", backref="payments")


        class Status(enum.Enum):
            OPEN = "open"
            PAID = "paid"


        @registered
        class Customer:
            def __init__(self, name):
                self.name = name


        class Point(NamedTuple):
            x: int
            y: int = 0
        """,
    "src/shop/broken.py": "raise RuntimeError('boom at import')\n",
    "src/shop/needs_dep.py": "import zorblax_engine  # not installed\n",
    "src/nsp/tools.py": """\
        def helper():
            return 1


        class Tool:
            def run(self):
                return 2
        """,
    "src/nsp/inner/more.py": "LIMIT = 3\n",
    "tests/helpers.py": "def make():\n    return 1\n",
}

CANDIDATES = {
    "valid": """\
        import os
        import pytest
        import shop.pricing
        import shop.reports as reports_alias
        from shop import reports, VERSION
        from shop.pricing import Invoice, Money, Slotted, Annotated, apply_discount
        from shop import pricing


        def test_module_level_names():
            assert apply_discount(100, 10) == 90
            assert reports_alias.monthly() == []
            assert reports.Report("x").render() == "x"
            assert shop.pricing.Invoice(1).add_line(2) is None
            assert shop.VERSION == VERSION
            assert os.path.join("a", "b")
            assert pytest.approx(1) == 1


        def test_instances():
            inv = Invoice(10)
            assert inv.total == 10 and inv._lines == [] and inv.created
            inv.add_line(3)
            assert inv.last_added == 3 and inv.net == 10 and inv.kind == "invoice"
            assert inv.describe() == "base" and inv.currency() == "EUR"
            assert Invoice.empty().total == 0
            assert pricing.Invoice(2).net == 2
            m = Money(1)
            assert m.amount == 1 and m.currency == "EUR" and m.tags == []
            s = Slotted()
            assert s.a == 1
            with pytest.raises(AttributeError):
                s.b
            a = Annotated()
            a.note = "set here"
            assert a.note == "set here"
        """,
    "valid_submodules": """\
        import shop.sub.deep
        import nsp.tools as tools_alias
        import nsp.inner.more
        from nsp import tools
        from nsp.inner import more
        from shop.sub import deep


        def test_submodules_and_namespace_packages():
            assert shop.sub.deep.deep() == 1
            assert tools_alias.helper() == tools.helper() == 1
            assert tools.Tool().run() == 2
            t = tools.Tool()
            assert t.run() == 2
            assert nsp.inner.more.LIMIT == more.LIMIT == 3
            assert deep.deep() == 1
        """,
    "valid_uncertain": """\
        from typing import TYPE_CHECKING

        import pytest
        from shop import plugins, state
        from shop.orm import Customer, Point
        from shop.pricing import Invoice, Lazy

        from helpers import make

        try:
            import not_installed_optional
        except ImportError:
            not_installed_optional = None

        if TYPE_CHECKING:
            from shop.nowhere import Thing


        def test_getattr_class():
            assert Lazy().anything == "anything"


        def test_expected_errors(pricing=None):
            inv = Invoice(1)
            with pytest.raises(AttributeError):
                inv.no_such_thing()
            assert not hasattr(inv, "maybe_later")
            inv.extra = 5
            assert inv.extra == 5


        def test_reassigned():
            x = Invoice(1)
            x = Lazy()
            assert x.whatever


        def test_shadowed(Invoice):
            assert Invoice.not_the_class


        def test_made_at_run_time():
            state.init()
            assert state.CACHE == {}
            plugins.load("csv_export")
            assert plugins.csv_export
            assert Invoice.payments and Invoice(1).payments
            assert Customer("a").nickname  # an unknown class decorator may add anything
            p = Point(1)
            assert (p.x, p.y) == (1, 0)
        """,
    "valid_conditional": """\
        import sys

        import pytest
        from shop import pricing

        if sys.version_info >= (3, 99):
            from shop.pricing import new_in_399

            NEW = pricing.Invoice.new_in_399
        else:
            from shop.pricing import Invoice


        @pytest.mark.skipif(sys.platform == "plan9", reason="only there")
        def test_elsewhere():
            from shop.plan9 import only_there

            pricing.only_on_plan9()


        @pytest.mark.xfail(reason="the API is not there yet")
        def test_expected_to_fail():
            pricing.apply_discount_v2()
        """,
    "bad_module": """\
        import pytest
        from shop.pricingg import apply_discount
        """,
    "bad_name": """\
        import pytest

        from shop.pricing import apply_discunt
        """,
    "bad_module_attribute": """\
        from shop import reports


        def test_it():
            assert reports.monthy() == []
        """,
    "bad_methods": """\
        from shop import pricing
        from shop.pricing import Invoice, Money


        def test_instance():
            inv = Invoice(3)
            inv.add_lines(2)


        def test_direct():
            assert Invoice(1).totl == 1


        def test_class_and_dataclass():
            assert pricing.Invoice.emptyy()
            m = Money(1)
            assert m.amont == 1
        """,
    "bad_enum_member": """\
        from shop.orm import Status


        def test_it():
            assert Status.OPEN.value == "open"
            assert Status.CLOSED
        """,
    "bad_chain": """\
        import shop.pricing


        def test_it():
            assert shop.pricing.Invoicee
        """,
    "dep_declared": "import zorblax\n",
    "dep_undeclared": "import qwertyuiop_lib\n",
    "typo_top": "from shopp.pricing import Invoice\n",
    "syntax": "def test_broken(:\n    pass\n",
    "project_broken": """\
        from shop import broken
        import shop.needs_dep
        """,
}

DAMAGE = """\
import os
import pathlib

pathlib.Path({marker!r}).write_text("pwned")
os.system("touch " + {marker!r} + ".sh")


def test_never_runs():
    pathlib.Path({marker!r}).write_text("pwned")
"""


def make_project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def preflight(repo: Path, scratch: Path, sources: dict[str, str], roots=None, **kwargs):
    """One sandboxed pre-flight process, as a benchmark would run it."""
    sandbox = get_sandbox("bwrap", Limits(wall_s=120))
    session = sandbox.session(
        "preflight-test",
        mounts=[
            Mount(repo),
            Mount(scratch, writable=True),
            Mount(RUNNER_SIDE),
            Mount(Path(sys.prefix)),
        ],
    )

    def run(argv, *, workdir, timeout_s, env, mounts):
        return session.run(argv, workdir=workdir, timeout_s=timeout_s, env=env, extra_mounts=mounts)

    return check_in_sandbox(
        run,
        sys.executable,
        [repo / "src"] if roots is None else roots,
        sources,
        workdir=repo,
        scratch=scratch,
        declared_deps=declared_dependencies(repo),
        **kwargs,
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every candidate of CANDIDATES (and one that tries to do damage) in one process."""
    base = tmp_path_factory.mktemp("preflight")
    repo = make_project(base / "repo", FILES)
    scratch = base / "scratch"
    scratch.mkdir()
    marker = scratch / "pwned"
    sources = {k: textwrap.dedent(v) for k, v in CANDIDATES.items()}
    sources["damage"] = DAMAGE.format(marker=str(marker))
    # a root relative to the working directory (the checkout)
    findings = preflight(repo, scratch, sources, roots=[Path("src")])
    return findings, marker


def messages(findings: list[GuardFinding]) -> list[str]:
    return [f.message for f in findings]


pytestmark = needs_bwrap


def test_every_candidate_gets_an_answer_of_well_formed_findings(batch):
    findings, _ = batch
    assert set(findings) == {*CANDIDATES, "damage"}
    for found in findings.values():
        for f in found:
            assert f.guard == "preflight" and f.kind in CLASSES
            assert f.message.startswith(f.rule)


@pytest.mark.parametrize(
    "cid", ["valid", "valid_submodules", "valid_uncertain", "valid_conditional", "damage"]
)
def test_what_exists_or_is_uncertain_is_never_reported(batch, cid):
    findings, _ = batch
    assert findings[cid] == [], messages(findings[cid])


def test_a_candidate_is_parsed_never_executed(batch):
    _, marker = batch
    assert not marker.exists()
    assert not Path(f"{marker}.sh").exists()


def test_a_hallucinated_module_names_the_closest_real_one(batch):
    (f,) = batch[0]["bad_module"]
    assert (f.rule, f.kind, f.action, f.line) == ("PF002", "hallucinated-import", "reject", 2)
    assert f.message == (
        "PF002 no module named `shop.pricingg` (did you mean `shop.pricing`?) (line 2)"
    )


def test_a_hallucinated_name_names_the_closest_real_one(batch):
    (f,) = batch[0]["bad_name"]
    assert (f.rule, f.kind, f.action) == ("PF002", "hallucinated-import", "reject")
    assert f.message == (
        "PF002 `shop.pricing` has no `apply_discunt` (did you mean `apply_discount`?) (line 3)"
    )


def test_a_hallucinated_module_attribute(batch):
    (f,) = batch[0]["bad_module_attribute"]
    assert (f.rule, f.kind, f.action, f.line) == ("PF004", "hallucinated-attribute", "reject", 5)
    assert f.test == "test_it"
    assert f.message == (
        "PF004 `reports.monthy`: module `shop.reports` has no attribute `monthy` "
        "(did you mean `monthly`?) (line 5)"
    )


def test_hallucinated_methods_and_attributes_on_instances_and_classes(batch):
    found = {f.test: f for f in batch[0]["bad_methods"]}
    assert {f.rule for f in found.values()} == {"PF004"}
    assert len(batch[0]["bad_methods"]) == 4, messages(batch[0]["bad_methods"])
    assert found["test_instance"].message == (
        "PF004 `inv.add_lines`: `shop.pricing.Invoice` objects have no attribute `add_lines` "
        "(did you mean `add_line`?) (line 7)"
    )
    assert found["test_direct"].message.startswith(
        "PF004 `Invoice(...).totl`: `shop.pricing.Invoice` objects have no attribute `totl` "
        "(did you mean `total`?"
    )
    msgs = messages(batch[0]["bad_methods"])
    assert any(
        m.startswith("PF004 `pricing.Invoice.emptyy`: class `shop.pricing.Invoice` has no")
        and "`empty`" in m
        for m in msgs
    ), msgs
    assert any("`m.amont`" in m and "did you mean `amount`" in m for m in msgs), msgs


def test_a_chain_through_a_submodule(batch):
    (f,) = batch[0]["bad_chain"]
    assert f.rule == "PF004"
    assert f.message.startswith(
        "PF004 `shop.pricing.Invoicee`: module `shop.pricing` has no attribute `Invoicee` "
        "(did you mean `Invoice`?)"
    )


def test_a_hallucinated_enum_member(batch):
    (f,) = batch[0]["bad_enum_member"]
    assert f.message == (
        "PF004 `Status.CLOSED`: class `shop.orm.Status` has no attribute `CLOSED` (line 6)"
    )


def test_a_missing_declared_dependency(batch):
    (f,) = batch[0]["dep_declared"]
    assert (f.rule, f.kind, f.action) == ("PF003", "missing-dependency", "reject")
    assert f.message == (
        "PF003 declared dependency `python-zorblax` (module `zorblax`) is not installed in "
        "the project environment (line 1)"
    )


def test_a_missing_undeclared_dependency(batch):
    (f,) = batch[0]["dep_undeclared"]
    assert (f.rule, f.kind, f.action) == ("PF003", "missing-dependency", "reject")
    assert f.message == (
        "PF003 `qwertyuiop_lib` is not installed and the project does not declare it: use "
        "only the standard library, pytest and the project's dependencies (line 1)"
    )


def test_a_misspelt_project_package_is_a_hallucinated_import_not_a_dependency(batch):
    (f,) = batch[0]["typo_top"]
    assert (f.rule, f.kind) == ("PF002", "hallucinated-import")
    assert "no module named `shopp` (did you mean `shop`?)" in f.message


def test_a_syntax_error(batch):
    (f,) = batch[0]["syntax"]
    assert (f.rule, f.kind, f.action, f.line) == ("PF001", "syntax", "reject", 1)
    assert f.message.startswith("PF001 the test does not parse")


def test_a_project_module_that_fails_at_import_is_flagged_not_blamed_on_the_test(batch):
    broken, needs_dep = batch[0]["project_broken"]
    assert (broken.rule, broken.action, broken.line) == ("PF005", "flag", 1)
    assert "importing `shop.broken` raises RuntimeError: boom at import" in broken.message
    assert (needs_dep.rule, needs_dep.kind, needs_dep.action) == (
        "PF005",
        "missing-dependency",
        "flag",
    )
    assert "the project needs `zorblax_engine`" in needs_dep.message


def test_declared_dependencies_come_from_every_dependency_file(tmp_path):
    repo = make_project(tmp_path / "repo", FILES)
    assert set(declared_dependencies(repo)) >= {
        "python-zorblax",
        "pytest",
        "frobnitz-lib",
        "gadget-core",
        "widgetry",
    }


# -- failures of the check itself -------------------------------------------------------


def _with_module(tmp_path: Path, code: str) -> tuple[Path, Path]:
    files = dict(FILES)
    files["src/shop/evil.py"] = code
    repo = make_project(tmp_path / "repo", files)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return repo, scratch


def test_a_link_planted_as_the_answer_is_not_followed(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"c": []}')
    repo, scratch = _with_module(
        tmp_path,
        f"""\
        import os, sys
        os.symlink({str(secret)!r}, sys.argv[2])
        os._exit(0)
        """,
    )
    with pytest.raises(PreflightError, match="could not be read.*symlink"):
        preflight(repo, scratch, {"c": "import shop.evil\n"})


def test_a_forged_answer_is_refused(tmp_path):
    repo, scratch = _with_module(
        tmp_path,
        """\
        import os, sys
        with open(sys.argv[2], "w") as fh:
            fh.write('{"c": [{"rule": "PF999", "kind": "syntax", "action": "reject",'
                     ' "message": "PF999 x", "line": 1}]}')
        os._exit(0)
        """,
    )
    with pytest.raises(PreflightError, match="malformed: unknown rule 'PF999'"):
        preflight(repo, scratch, {"c": "import shop.evil\n"})


def test_a_crash_is_an_error_not_a_finding(tmp_path):
    repo, scratch = _with_module(tmp_path, "import os\nos._exit(3)\n")
    with pytest.raises(PreflightError, match=r"wrote no results \(exit 3"):
        preflight(repo, scratch, {"c": "from shop import evil\n"})


def test_the_time_limit_is_an_error(tmp_path):
    repo, scratch = _with_module(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(PreflightError, match="time limit"):
        preflight(repo, scratch, {"c": "import shop.evil\n"}, timeout_s=2)


# -- the pipeline's entry point -------------------------------------------------------------

EXAMPLE_CANDIDATES = {
    "wrong_module": "from billable.discount import find_discount\n",
    "wrong_name": "import pytest\n\nfrom billable.discounts import apply_code\n",
    "wrong_attr": """\
        from billable import discounts


        def test_it():
            discounts.apply("SPRING", 100)
        """,
    "wrong_method": """\
        from billable.invoice import Invoice


        def test_it():
            Invoice.add_discount
        """,
}


@pytest.mark.django_db(transaction=True)
def test_check_many_on_the_example_with_a_task_runtime(example):
    from agents_app.env.project import ProjectEnv
    from agents_app.env.runtime import TaskRuntime, copy_tree, ensure_worktree, task_scratch
    from tests.conftest import start_example_task

    task = start_example_task(example, sandbox="bwrap")
    sandbox = get_sandbox("bwrap", Limits(wall_s=120))
    worktree = ensure_worktree(task)
    venv = Path(sys.prefix)
    rt = TaskRuntime(
        task=task,
        sandbox=sandbox,
        worktree=worktree,
        scratch=task_scratch(task, sandbox),
        project_env=ProjectEnv(
            path=venv, python=Path(sys.executable), site_packages=venv, key="host", reused=True
        ),
    )
    repo = rt.scratch / "repo"
    copy_tree(worktree, repo)
    sources = {k: textwrap.dedent(v) for k, v in EXAMPLE_CANDIDATES.items()}
    # the example's own tests use the project correctly: no finding for any of them
    own_tests = sorted((repo / "tests").glob("test_*.py"))
    assert own_tests
    sources.update({p.name: p.read_text() for p in own_tests})
    findings = check_many(rt, repo, sources, declared_deps=declared_dependencies(repo))
    for p in own_tests:
        assert findings[p.name] == [], messages(findings[p.name])
    assert messages(findings["wrong_module"]) == [
        "PF002 no module named `billable.discount` (did you mean `billable.discounts`?) (line 1)"
    ]
    (f,) = findings["wrong_name"]
    assert f.message.startswith("PF002 `billable.discounts` has no `apply_code`")
    assert f.message.endswith("(line 3)")
    (f,) = findings["wrong_attr"]
    assert f.message.startswith(
        "PF004 `discounts.apply`: module `billable.discounts` has no attribute `apply`"
    )
    (f,) = findings["wrong_method"]
    assert f.message.startswith(
        "PF004 `Invoice.add_discount`: class `billable.invoice.Invoice` has no attribute "
        "`add_discount`"
    )
