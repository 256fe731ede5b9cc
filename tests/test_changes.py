"""Diff → changed lines → changed symbols (agents_app.spec.changes), on real git repositories."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from agents_app.spec.changes import (
    ChangedFile,
    DiffError,
    changed_lines,
    changed_symbols,
    is_test_path,
    module_name,
)

GIT = [
    "git",
    "-c", "user.name=TFactory Tests",
    "-c", "user.email=tests@example.com",
    "-c", "commit.gpgsign=false",
    "-c", "init.defaultBranch=main",
    "-c", "core.autocrlf=false",
]  # fmt: skip


def git(repo: Path, *args: str) -> str:
    res = subprocess.run([*GIT, *args], cwd=repo, capture_output=True, check=True)
    return res.stdout.decode("utf-8", "surrogateescape")


def write(repo: Path, files: dict[str, str | bytes | None]) -> None:
    for rel, content in files.items():
        path = repo / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode())


def make_repo(
    tmp_path: Path, base: dict[str, str | bytes | None], feature: dict[str, str | bytes | None],
    renames: dict[str, str] | None = None,
) -> tuple[Path, str]:  # fmt: skip
    """A repo with ``main`` = base and ``feature`` = base + changes; returns (repo, diff)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, base)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    for old, new in (renames or {}).items():
        git(repo, "mv", old, new)
    write(repo, feature)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    diff = git(repo, "diff", "--no-color", "--no-ext-diff", "-M", "main..feature")
    return repo, diff


CART_BASE = '''"""Shopping cart."""

TAX_RATE = 0.2


def helper(x):
    y = x * 2
    y += 1
    return y


def unused():
    a = 1
    return a


class Cart:
    """A cart."""

    currency = "EUR"

    def __init__(self):
        self.items = []

    def total(self):
        subtotal = sum(self.items)
        return subtotal

    def clear(self):
        def reset():
            return []

        self.items = reset()

    class Line:
        def price(self):
            return 1


def keep():
    return 2
'''

CART_FEATURE = '''"""Shopping cart."""

TAX_RATE = 0.25


def helper(x):
    y = x * 2
    return y


class Cart:
    """A cart."""

    currency = "USD"

    def __init__(self):
        self.items = []

    def total(self):
        subtotal = sum(self.items)
        return round(subtotal * (1 + TAX_RATE), 2)

    def clear(self):
        def reset():
            return list()

        self.items = reset()

    class Line:
        def price(self):
            return 2


def keep():
    return 2


@staticmethod
async def discount(
    total: float,
    pct: int = 10,
) -> float:
    """Apply a percentage discount."""
    return total * (100 - pct) / 100
'''


@pytest.fixture
def cart_repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(
        tmp_path,
        {"shop/__init__.py": "", "shop/cart.py": CART_BASE,
         "tests/test_cart.py": "def test_x():\n    pass\n"},
        {"shop/cart.py": CART_FEATURE, "tests/test_cart.py": "def test_x():\n    assert True\n",
         "conftest.py": "import pytest\n"},
    )  # fmt: skip


def symbols_by_name(repo: Path, diff: str, roots: list[str] | None = None):
    files = changed_lines(diff)
    syms, warnings = changed_symbols(repo, files, roots or ["."])
    return {s.qualname: s for s in syms}, files, warnings


# -- changed lines --------------------------------------------------------------------


def test_changed_lines_of_a_modified_file(cart_repo):
    _, diff = cart_repo
    files = changed_lines(diff)
    cart = files["shop/cart.py"]
    assert cart.status == "modified" and not cart.binary and cart.old_path is None
    lines = CART_FEATURE.splitlines()
    assert lines[2] == "TAX_RATE = 0.25" and 3 in cart.added
    assert lines[20] == "        return round(subtotal * (1 + TAX_RATE), 2)" and 21 in cart.added
    assert all(n <= len(lines) for n in cart.added)
    # "y += 1" removed from helper: recorded just above, at "y = x * 2" (line 7)
    assert 7 in cart.deleted_at
    assert files["tests/test_cart.py"].status == "modified"
    assert files["conftest.py"].status == "added" and files["conftest.py"].added == {1}


def test_empty_diff():
    assert changed_lines("") == {}
    assert changed_lines("\n\n") == {}


def test_added_deleted_renamed_binary_and_mode_only_files(tmp_path):
    _, diff = make_repo(
        tmp_path,
        {"old_name.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n",
         "gone.py": "x = 1\n", "logo.png": b"\x89PNG\x00\x01\x02", "run.sh": "echo hi\n"},
        {"new_name.py": "def f():\n    return 1\n\n\ndef g():\n    return 3\n",
         "gone.py": None, "logo.png": b"\x89PNG\x00\x09\x09", "fresh.py": "a = 1\nb = 2\n"},
        renames={"old_name.py": "new_name.py"},
    )  # fmt: skip
    files = changed_lines(diff)
    assert files["new_name.py"].status == "renamed"
    assert files["new_name.py"].old_path == "old_name.py"
    assert files["new_name.py"].added == {6}
    assert files["gone.py"].status == "deleted" and files["gone.py"].added == frozenset()
    assert files["logo.png"].binary and files["logo.png"].added == frozenset()
    assert files["fresh.py"].status == "added" and files["fresh.py"].added == {1, 2}
    assert "old_name.py" not in files


def test_pure_rename_without_hunks(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, {"a.py": "x = 1\n" * 5})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "mv", "a.py", "b.py")
    git(repo, "commit", "-q", "-m", "rename")
    files = changed_lines(git(repo, "diff", "-M", "HEAD~1..HEAD"))
    assert files == {"b.py": ChangedFile(path="b.py", status="renamed", old_path="a.py")}


def test_no_newline_at_end_of_file_and_crlf(tmp_path):
    _, diff = make_repo(
        tmp_path,
        {"a.py": "x = 1\ny = 2", "w.py": "a = 1\r\nb = 2\r\nc = 3\r\n"},
        {"a.py": "x = 1\ny = 3\nz = 4", "w.py": "a = 1\r\nb = 20\r\nc = 3\r\n"},
    )
    assert "\\ No newline at end of file" in diff
    files = changed_lines(diff)
    assert files["a.py"].added == {2, 3}
    assert files["w.py"].added == {2}
    # the same diff saved with CRLF line endings
    assert changed_lines(diff.replace("\n", "\r\n"))["a.py"].added == {2, 3}


def test_quoted_unicode_paths(tmp_path):
    _, diff = make_repo(tmp_path, {"ok.py": "x = 1\n"}, {"café/ü.py": "x = 1\n"})
    assert '"b/caf\\303\\251/\\303\\274.py"' in diff
    assert set(changed_lines(diff)) == {"café/ü.py"}


def test_replacement_is_not_a_pure_deletion(tmp_path):
    _, diff = make_repo(
        tmp_path, {"a.py": "a = 1\nb = 2\nc = 3\n"}, {"a.py": "a = 1\nB = 2\nc = 3\n"}
    )
    f = changed_lines(diff)["a.py"]
    assert f.added == {2} and f.deleted_at == frozenset()


def test_deletion_at_the_top_of_a_file(tmp_path):
    _, diff = make_repo(tmp_path, {"a.py": "import os\nx = 1\n"}, {"a.py": "x = 1\n"})
    f = changed_lines(diff)["a.py"]
    assert f.added == frozenset() and f.deleted_at == {1}


def test_unparseable_diffs_raise_diff_error():
    with pytest.raises(DiffError, match="diff: could not parse"):
        changed_lines("--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n-a\n")


# -- changed symbols ------------------------------------------------------------------


def test_symbols_of_a_changed_module(cart_repo):
    repo, diff = cart_repo
    syms, _, warnings = symbols_by_name(repo, diff)
    assert warnings == []
    assert sorted(syms) == [
        "<module>", "Cart", "Cart.Line.price", "Cart.clear", "Cart.total", "discount", "helper",
    ]  # fmt: skip
    assert all(s.path == "shop/cart.py" and s.module == "shop.cart" for s in syms.values())


def test_every_added_line_belongs_to_exactly_one_symbol(cart_repo):
    repo, diff = cart_repo
    files = changed_lines(diff)
    syms, _ = changed_symbols(repo, files, ["."])
    attributed = [n for s in syms for n in s.changed_lines]
    assert sorted(attributed) == sorted(files["shop/cart.py"].added)


def test_new_function(cart_repo):
    repo, diff = cart_repo
    syms, _, _ = symbols_by_name(repo, diff)
    new = syms["discount"]
    assert new.kind == "function" and new.is_async
    assert new.decorators == ("staticmethod",)
    assert (
        new.signature == "async def discount(\n    total: float,\n    pct: int = 10,\n) -> float:"
    )
    assert new.docstring == "Apply a percentage discount."
    assert new.lineno == 38 and new.end_lineno == 44  # span starts at the decorator
    assert new.changed_lines == tuple(range(38, 45))
    assert new.target == "shop/cart.py::discount"


def test_changed_method_and_nested_function(cart_repo):
    repo, diff = cart_repo
    syms, _, _ = symbols_by_name(repo, diff)
    total = syms["Cart.total"]
    assert total.kind == "method" and total.changed_lines == (21,)
    assert total.signature == "def total(self):"
    assert total.target == "shop/cart.py::Cart.total"
    # the change inside the nested reset() counts toward clear()
    assert syms["Cart.clear"].changed_lines == (25,)
    assert syms["Cart.Line.price"].kind == "method"


def test_class_level_attribute_change(cart_repo):
    repo, diff = cart_repo
    syms, _, _ = symbols_by_name(repo, diff)
    cart = syms["Cart"]
    assert cart.kind == "class" and cart.changed_lines == (14,)
    assert cart.signature == "class Cart:" and cart.docstring == "A cart."


def test_module_level_constant_and_whole_function_deletion(cart_repo):
    repo, diff = cart_repo
    syms, _, _ = symbols_by_name(repo, diff)
    module = syms["<module>"]
    assert module.kind == "module" and module.qualname == "<module>"
    assert module.changed_lines[0] == 3  # TAX_RATE = 0.25
    assert module.target == "shop/cart.py::<module>"
    assert module.docstring == "Shopping cart."
    # unused() was deleted between helper() and Cart: only the module is touched
    assert module.deleted_at == (10,)
    assert "keep" not in syms
    assert syms["Cart.Line.price"].deleted_at == ()


def test_pure_deletion_inside_a_function(cart_repo):
    repo, diff = cart_repo
    syms, _, _ = symbols_by_name(repo, diff)
    helper = syms["helper"]
    assert helper.changed_lines == () and helper.deleted_at == (7,)


def test_deleting_the_last_statement_of_a_method(tmp_path):
    base = (
        "class A:\n    def f(self):\n        a = 1\n        return a\n\n"
        "    def g(self):\n        pass\n"
    )
    feature = "class A:\n    def f(self):\n        a = 1\n\n    def g(self):\n        pass\n"
    repo, diff = make_repo(tmp_path, {"m.py": base}, {"m.py": feature})
    syms, _, _ = symbols_by_name(repo, diff)
    assert list(syms) == ["A.f"] and syms["A.f"].deleted_at == (3,)


def test_deleting_a_method_touches_its_class(tmp_path):
    base = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    feature = "class A:\n    def f(self):\n        return 1\n"
    repo, diff = make_repo(tmp_path, {"m.py": base}, {"m.py": feature})
    syms, _, _ = symbols_by_name(repo, diff)
    assert list(syms) == ["A"] and syms["A"].deleted_at == (3,)


def test_defs_inside_module_level_blocks(tmp_path):
    base = "try:\n    import json\nexcept ImportError:\n    json = None\n"
    feature = (
        "try:\n    import json\nexcept ImportError:\n    json = None\n\n"
        "if json is not None:\n    def dump(x):\n        return json.dumps(x)\n"
    )
    repo, diff = make_repo(tmp_path, {"m.py": base}, {"m.py": feature})
    syms, _, _ = symbols_by_name(repo, diff)
    assert syms["dump"].kind == "function" and syms["dump"].changed_lines == (7, 8)
    assert syms["<module>"].changed_lines == (5, 6)  # the blank line and the if


def test_renamed_file_symbols_use_the_new_path(tmp_path):
    repo, diff = make_repo(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/old.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n",
        },
        {"pkg/new.py": "def f():\n    return 1\n\n\ndef g():\n    return 3\n"},
        renames={"pkg/old.py": "pkg/new.py"},
    )
    syms, files, _ = symbols_by_name(repo, diff)
    assert files["pkg/new.py"].status == "renamed"
    assert list(syms) == ["g"] and syms["g"].path == "pkg/new.py" and syms["g"].module == "pkg.new"


def test_src_layout_module_names(tmp_path):
    repo, diff = make_repo(
        tmp_path,
        {"src/shop/__init__.py": "", "src/shop/core/rules.py": "def rule():\n    return 1\n"},
        {"src/shop/core/rules.py": "def rule():\n    return 2\n",
         "src/shop/__init__.py": "VERSION = '2'\n"},
    )  # fmt: skip
    syms, _, _ = symbols_by_name(repo, diff, ["src"])
    assert syms["rule"].module == "shop.core.rules"  # namespace package shop.core: no __init__
    assert syms["<module>"].module == "shop"
    assert syms["rule"].target == "src/shop/core/rules.py::rule"


def test_syntax_errors_become_warnings(tmp_path):
    repo, diff = make_repo(
        tmp_path,
        {"ok.py": "x = 1\n", "bad.py": "def f():\n    return 1\n"},
        {"ok.py": "x = 2\n", "bad.py": "def f():\n    return (1\n\ndef g():\n    pass\n"},
    )
    syms, _, warnings = symbols_by_name(repo, diff)
    assert list(syms) == ["<module>"] and syms["<module>"].path == "ok.py"
    assert len(warnings) == 1
    assert warnings[0].startswith("bad.py: line 2: syntax error:")
    assert "not mapped" in warnings[0]


def test_missing_files_become_warnings(tmp_path):
    files = {"nowhere.py": ChangedFile(path="nowhere.py", status="modified", added=frozenset({1}))}
    syms, warnings = changed_symbols(tmp_path, files, ["."])
    assert syms == [] and warnings[0].startswith("nowhere.py: cannot read the changed file")


def test_test_files_non_python_and_deleted_files_are_not_targets(tmp_path):
    repo, diff = make_repo(
        tmp_path,
        {"app.py": "x = 1\n", "README.md": "hi\n", "gone.py": "y = 1\n"},
        {"tests/test_app.py": "def test_a():\n    assert True\n", "conftest.py": "X = 1\n",
         "app_test.py": "def test_b():\n    pass\n", "pkg/test/helpers.py": "H = 1\n",
         "README.md": "hello\n", "gone.py": None, "test_top.py": "def test_c():\n    pass\n"},
    )  # fmt: skip
    syms, files, warnings = symbols_by_name(repo, diff)
    assert syms == {} and warnings == []
    assert {p for p in files if is_test_path(p)} == {
        "tests/test_app.py", "conftest.py", "app_test.py", "pkg/test/helpers.py", "test_top.py",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_x.py", True),
        ("tests/helpers.py", True),
        ("src/pkg/tests/data/x.json", True),
        ("pkg/test/util.py", True),
        ("test_x.py", True),
        ("pkg/x_test.py", True),
        ("conftest.py", True),
        ("pkg/conftest.py", True),
        ("pkg/testing.py", False),
        ("pkg/contest.py", False),
        ("pkg/latest_x.py", False),
        ("testsuite/x.py", False),
    ],
)
def test_is_test_path(path, expected):
    assert is_test_path(path) is expected


@pytest.mark.parametrize(
    ("path", "roots", "expected"),
    [
        ("src/pkg/mod.py", ["src"], "pkg.mod"),
        ("src/pkg/__init__.py", ["src"], "pkg"),
        ("pkg/__init__.py", ["."], "pkg"),
        ("pkg/sub/mod.py", ["."], "pkg.sub.mod"),
        ("mod.py", ["."], "mod"),
        ("src/pkg/mod.py", [".", "src"], "pkg.mod"),  # the deepest root wins
        ("src/pkg/mod.py", ["src/"], "pkg.mod"),
        ("scripts/run.py", ["src"], None),  # outside every root
        ("my-pkg/mod.py", ["."], None),  # not an identifier
        ("pkg/class.py", ["."], None),  # a keyword
        ("pkg/data.json", ["."], None),
        ("src/__init__.py", ["src"], None),
        ("lib/a/b.py", ["lib", "src"], "a.b"),
        ("pkg/mod.py", [], "pkg.mod"),
    ],
)
def test_module_name(path, roots, expected):
    assert module_name(path, roots) == expected


def test_symbols_are_json_friendly(cart_repo):
    import json

    repo, diff = cart_repo
    files = changed_lines(diff)
    syms, _ = changed_symbols(repo, files, ["."])
    json.dumps([s.to_dict() for s in syms])
    json.dumps({p: f.to_dict() for p, f in files.items()})


# --- untrusted repositories: symlinks and special files ---------------------------------

HOST_DOC = "HOST-ONLY-DOCSTRING-7c2e"
HOST_SOURCE = f'''"""{HOST_DOC}"""


def host_only(secret_arg_9d1f):
    """{HOST_DOC} in a function."""
    return 1
'''


def test_a_symlinked_changed_module_is_not_read(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "host_mod.py").write_text(HOST_SOURCE)
    (host / "lib").mkdir()
    (host / "lib" / "inner.py").write_text(HOST_SOURCE)
    repo, _ = make_repo(
        tmp_path,
        {"pkg/__init__.py": "", "pkg/real.py": "def real():\n    return 1\n"},
        {"pkg/real.py": "def real():\n    return 2\n"},
    )
    # The feature branch also commits pkg/mod.py -> ../../host/host_mod.py and lib -> host/lib.
    (repo / "pkg" / "mod.py").symlink_to(os.path.relpath(host / "host_mod.py", repo / "pkg"))
    (repo / "lib").symlink_to(os.path.relpath(host / "lib", repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    diff = git(repo, "diff", "--no-color", "--no-ext-diff", "-M", "main..feature")
    files = changed_lines(diff)
    assert {"pkg/real.py", "pkg/mod.py"} <= set(files)
    # A crafted diff could also name a file under the linked folder, or outside the repo.
    files["lib/inner.py"] = ChangedFile(path="lib/inner.py", status="added", added=frozenset({1}))
    files["../host/host_mod.py"] = ChangedFile(
        path="../host/host_mod.py", status="modified", added=frozenset({1})
    )

    syms, warnings = changed_symbols(repo, files, ["."])
    assert [(s.path, s.qualname) for s in syms] == [("pkg/real.py", "real")]
    assert "pkg/mod.py is a symlink; not read, skipped" in warnings
    assert "lib/inner.py is under the symlinked folder lib; not read, skipped" in warnings
    assert any(w.startswith("../host/host_mod.py") for w in warnings)
    assert len(warnings) == 3
    text = json.dumps([s.to_dict() for s in syms]) + json.dumps(warnings)
    assert HOST_DOC not in text and "secret_arg" not in text and "host_only" not in text


def test_a_fifo_or_a_link_to_a_special_file_does_not_hang(tmp_path):
    # Like a link to /proc/kcore, but harmless should it ever be followed: a host FIFO.
    repo = tmp_path / "repo"
    repo.mkdir()
    os.mkfifo(repo / "pipe.py")
    os.mkfifo(tmp_path / "host_fifo")
    (repo / "linked.py").symlink_to("../host_fifo")
    files = {
        name: ChangedFile(path=name, status="modified", added=frozenset({1}))
        for name in ("pipe.py", "linked.py")
    }
    box: dict = {}
    t = threading.Thread(
        target=lambda: box.update(out=changed_symbols(repo, files, ["."])), daemon=True
    )
    t.start()
    t.join(20)
    assert not t.is_alive(), "changed_symbols hung"
    syms, warnings = box["out"]
    assert syms == []
    assert warnings == [
        "linked.py is a symlink; not read, skipped",
        "pipe.py is not a regular file; not read, skipped",
    ]
