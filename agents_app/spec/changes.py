"""From a unified diff to the lines it changed, and from those lines to Python symbols.

Pure Python, no Django.  ``changed_lines`` reads ``git diff base..feature`` output
with unidiff; ``changed_symbols`` maps the changed lines of each non-test ``.py``
file onto the innermost module-level function, method or class (nested classes'
methods included) that contains them, reading the feature-side file from disk.

Line attribution
----------------
* A line inside a module-level function or a method belongs to it; nested
  functions (and classes defined inside functions) count toward their enclosing
  function or method.
* A line in a class body outside its methods belongs to the class.
* A line outside every def and class belongs to the ``<module>`` symbol.
* A symbol's span starts at its first decorator, so a changed decorator touches
  the function it decorates; ``lineno`` is that first line.
* Lines removed without replacement are recorded at the new-file line just above
  the removed block (``deleted_at``; 1 when the block was at the top of the file),
  with the removed code's indentation.  The deletion belongs to the innermost
  symbol that contains that line *and* is less indented than the removed code, so
  deleting the last statement of a function touches that function while deleting
  a whole function between two others touches only their parent (the class or
  ``<module>``).  Removed blocks of blank lines are ignored.

Untrusted files
---------------
The worktree holds a repository TFactory does not control, and a repository may
commit symlinks (``pkg/mod.py -> /home/me/.ssh/id_rsa`` or ``-> /proc/kcore``).
Changed files are read only through :mod:`tasks_app.core.safe_fs`, relative to the
repository root: a symlink (the file itself or a folder on its way), a FIFO or
other special file, or a file over 5 MB is never opened for reading; it is skipped
with a warning naming it, and yields no symbols.
"""

from __future__ import annotations

import ast
import errno
import io
import keyword
import os
import re
import stat
import textwrap
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import unidiff

from tasks_app.core import safe_fs

__all__ = [
    "ChangedFile",
    "ChangedSymbol",
    "DiffError",
    "changed_lines",
    "changed_symbols",
    "is_test_path",
    "module_name",
]


class DiffError(ValueError):
    """The diff text could not be read."""


_MAX_SOURCE_BYTES = 5_000_000


def _unsafe_reason(root: Path, rel: str) -> str | None:
    """Why the repository file ``root/rel`` must not be read, found with lstat alone.

    "is a symlink", "is under the symlinked folder X", "is not a regular file" or
    "is not a plain relative path"; None for a regular file and for a path that does
    not exist (or cannot be examined).  Never follows a link.
    """
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        return "is not a plain relative path"
    parts = [part for part in p.parts if part != "."]
    cur = Path(root)
    for i, part in enumerate(parts):
        cur = cur / part
        try:
            mode = os.lstat(cur).st_mode
        except OSError:
            return None
        last = i == len(parts) - 1
        if stat.S_ISLNK(mode):
            return (
                "is a symlink"
                if last
                else f"is under the symlinked folder {'/'.join(parts[: i + 1])}"
            )
        if last and not stat.S_ISREG(mode):
            return "is not a regular file"
    return None


@dataclass(frozen=True)
class ChangedFile:
    path: str  # new path, relative, POSIX (the old path for a deleted file)
    status: str  # "added" | "modified" | "renamed" | "deleted"
    added: frozenset[int] = frozenset()  # new-file line numbers of "+" lines
    deleted_at: frozenset[int] = frozenset()  # new-file line just above each pure deletion
    binary: bool = False
    old_path: str | None = None  # set for renames
    # (deleted_at line, indentation of the removed code) for each pure deletion
    deletion_indents: tuple[tuple[int, int], ...] = ()

    @property
    def touched(self) -> frozenset[int]:
        return self.added | self.deleted_at

    @property
    def is_test(self) -> bool:
        return is_test_path(self.path)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "old_path": self.old_path,
            "status": self.status,
            "binary": self.binary,
            "added": sorted(self.added),
            "deleted_at": sorted(self.deleted_at),
        }


_OCTAL_RE = re.compile(rb"\\([0-7]{3})")
_C_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\", b"a": b"\a", b"b": b"\b",
              b"f": b"\f", b"r": b"\r", b"v": b"\v"}  # fmt: skip


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual paths (``"b/\\303\\274.py"``)."""
    name = name.strip()
    if not (len(name) >= 2 and name[0] == '"' and name[-1] == '"'):
        return name
    data = name[1:-1].encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i : i + 1] == b"\\" and i + 1 < len(data):
            m = _OCTAL_RE.match(data, i)
            if m:
                out.append(int(m.group(1), 8))
                i = m.end()
                continue
            nxt = data[i + 1 : i + 2]
            out += _C_ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += data[i : i + 1]
        i += 1
    return out.decode("utf-8", "replace")


def _clean_path(name: str | None) -> str | None:
    if not name:
        return None
    name = _unquote(name)
    if name == "/dev/null":
        return None
    name = re.sub(r"^[abciow12]/", "", name)
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name or None


def changed_lines(diff_text: str) -> dict[str, ChangedFile]:
    """Per changed file (keyed by its new path) the lines a unified diff touches.

    Deleted and binary files are included with their status and no lines; renames,
    ``\\ No newline at end of file`` markers, CRLF text and empty diffs are handled.
    """
    if not diff_text or not diff_text.strip():
        return {}
    text = diff_text.replace("\r\n", "\n")
    try:
        patch = unidiff.PatchSet(io.StringIO(text))
    except unidiff.UnidiffParseError as exc:
        raise DiffError(f"diff: could not parse: {exc}") from None

    files: dict[str, ChangedFile] = {}
    for pf in patch:
        source = _clean_path(pf.source_file)
        target = _clean_path(pf.target_file)
        if pf.is_removed_file:
            status, path = "deleted", source or target
        elif pf.is_added_file:
            status, path = "added", target or source
        elif pf.is_rename or (source and target and source != target):
            status, path = "renamed", target or source
        else:
            status, path = "modified", target or source
        if not path:
            continue
        binary = bool(getattr(pf, "is_binary_file", False))
        added: set[int] = set()
        deleted_at: set[int] = set()
        indents: dict[int, int] = {}
        if status != "deleted" and not binary:
            for hunk in pf:
                _scan_hunk(hunk, added, deleted_at, indents)
        files[path] = ChangedFile(
            path=path,
            status=status,
            added=frozenset(added),
            deleted_at=frozenset(deleted_at),
            binary=binary,
            old_path=source if status == "renamed" else None,
            deletion_indents=tuple(sorted(indents.items())),
        )
    return files


def _scan_hunk(
    hunk: unidiff.Hunk, added: set[int], deleted_at: set[int], indents: dict[int, int]
) -> None:
    last_target = hunk.target_start - 1  # the new-file line just above the cursor
    run_removed: list[str] = []
    run_added = False

    def close_run() -> None:
        nonlocal run_removed, run_added
        if run_removed and not run_added:
            body = [s for s in run_removed if s.strip()]
            if body:
                pos = max(last_target, 1)
                indent = min(len(s.expandtabs(8)) - len(s.expandtabs(8).lstrip()) for s in body)
                deleted_at.add(pos)
                indents[pos] = min(indent, indents.get(pos, indent))
        run_removed, run_added = [], False

    for line in hunk:
        if line.is_added:
            run_added = True
            if line.target_line_no is not None:
                added.add(line.target_line_no)
                last_target = line.target_line_no
        elif line.is_removed:
            run_removed.append(line.value.rstrip("\r\n"))
        elif line.is_context:
            close_run()
            if line.target_line_no is not None:
                last_target = line.target_line_no
        # "\ No newline at end of file" markers neither add nor remove lines.
    close_run()


_TEST_DIRS = {"tests", "test"}


def is_test_path(path: str) -> bool:
    """True for test code.

    Anything under a ``tests``/``test`` directory, ``test_*.py``, ``*_test.py`` and
    ``conftest.py``.
    """
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts:
        return False
    name = parts[-1]
    if any(p in _TEST_DIRS for p in parts[:-1]):
        return True
    if not name.endswith(".py"):
        return False
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def module_name(path: str, import_roots: list[str]) -> str | None:
    """Dotted import name of ``path`` under the deepest matching import root, or None.

    ``src/pkg/mod.py`` with root ``src`` → ``pkg.mod``; ``pkg/__init__.py`` → ``pkg``.
    Namespace packages need no ``__init__.py``.  None when the file is outside
    every root, not a ``.py`` file, or a part of its path is not an identifier.
    """
    p = PurePosixPath(path.replace("\\", "/"))
    if p.suffix != ".py" or p.is_absolute():
        return None
    best: tuple[str, ...] | None = None
    for root in import_roots or ["."]:
        r = PurePosixPath(root.replace("\\", "/").strip("/") or ".")
        rparts = () if str(r) == "." else r.parts
        if p.parts[: len(rparts)] == rparts and len(p.parts) > len(rparts):
            rel = p.parts[len(rparts) :]
            if best is None or len(rel) < len(best):
                best = rel
    if best is None:
        return None
    parts = [*best[:-1], best[-1][: -len(".py")]]
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(s.isidentifier() and not keyword.iskeyword(s) for s in parts):
        return None
    return ".".join(parts)


@dataclass(frozen=True)
class ChangedSymbol:
    path: str
    module: str | None  # dotted import name; None when the file is not importable
    qualname: str  # "Cart.apply_promo", "helper", "<module>"
    kind: str  # "function" | "method" | "class" | "module"
    lineno: int  # first line of the span (first decorator, if any)
    end_lineno: int
    changed_lines: tuple[int, ...] = ()  # added lines attributed to this symbol
    signature: str = ""  # source of the def/class header, dedented
    docstring: str | None = None
    is_async: bool = False
    decorators: tuple[str, ...] = ()
    deleted_at: tuple[int, ...] = field(default=())  # pure deletions attributed here

    @property
    def target(self) -> str:
        return f"{self.path}::{self.qualname}"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "module": self.module,
            "qualname": self.qualname,
            "kind": self.kind,
            "target": self.target,
            "lineno": self.lineno,
            "end_lineno": self.end_lineno,
            "changed_lines": list(self.changed_lines),
            "deleted_at": list(self.deleted_at),
            "signature": self.signature,
            "docstring": self.docstring,
            "is_async": self.is_async,
            "decorators": list(self.decorators),
        }


@dataclass
class _Sym:
    qualname: str
    kind: str
    node: ast.AST
    start: int
    end: int
    col: int
    depth: int
    lines: set[int] = field(default_factory=set)
    deletions: set[int] = field(default_factory=set)


_DefNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _collect(
    body: Iterable[ast.stmt], prefix: str, in_class: bool, depth: int, out: list[_Sym]
) -> None:
    """Module-level functions, classes, methods and nested classes' methods."""
    for node in body:
        if isinstance(node, _DefNode):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            qual = f"{prefix}{node.name}"
            if isinstance(node, ast.ClassDef):
                out.append(_Sym(qual, "class", node, start, end, node.col_offset, depth))
                _collect(node.body, qual + ".", True, depth + 1, out)
            else:
                kind = "method" if in_class else "function"
                out.append(_Sym(qual, kind, node, start, end, node.col_offset, depth))
            continue
        # Defs under module- or class-level if/try/with/for/while/match blocks.
        for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, attr, None)
            if isinstance(children, list) and children:
                stmts: list[ast.stmt] = []
                for child in children:
                    if isinstance(child, ast.ExceptHandler | ast.match_case):
                        stmts.extend(child.body)
                    elif isinstance(child, ast.stmt):
                        stmts.append(child)
                _collect(stmts, prefix, in_class, depth, out)


def _header(source_lines: list[str], node: _DefNode) -> str:
    """The def/class header as written, up to its colon."""
    first = node.lineno - 1
    last = (node.end_lineno or node.lineno) - 1
    chunk = "\n".join(source_lines[first : last + 1])
    col = node.col_offset
    try:
        depth = 0
        for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(chunk) + "\n").readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
            elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
                row, end_col = tok.end
                text_lines = textwrap.dedent(chunk).split("\n")[:row]
                text_lines[-1] = text_lines[-1][:end_col]
                return "\n".join(text_lines).strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return source_lines[first][col:].strip()


def _decorators(source: str, node: _DefNode) -> tuple[str, ...]:
    out = []
    for d in node.decorator_list:
        text = ast.get_source_segment(source, d) or ast.unparse(d)
        out.append(" ".join(text.split()))
    return tuple(out)


def changed_symbols(
    repo_root: Path, files: Mapping[str, ChangedFile], import_roots: list[str]
) -> tuple[list[ChangedSymbol], list[str]]:
    """The symbols of changed, non-test ``.py`` files that hold changed lines.

    Returns ``(symbols, warnings)``; a file that cannot be read or parsed gives a
    warning naming the file (and line), never an exception.  Files are read through
    :mod:`tasks_app.core.safe_fs` below ``repo_root``: a symlinked or special file is
    skipped with a warning ("pkg/mod.py is a symlink; not read, skipped").
    """
    root = Path(repo_root)
    symbols: list[ChangedSymbol] = []
    warnings: list[str] = []
    for path in sorted(files):
        cf = files[path]
        if cf.status == "deleted" or cf.binary or not path.endswith(".py") or is_test_path(path):
            continue
        if not cf.added and not cf.deleted_at:
            continue
        try:
            raw = safe_fs.read_bytes(root, path, limit=_MAX_SOURCE_BYTES)
        except OSError as exc:
            reason = _unsafe_reason(root, path) if isinstance(exc, safe_fs.UnsafePath) else None
            if reason:
                warnings.append(f"{path} {reason}; not read, skipped")
            elif exc.errno == errno.EFBIG:
                warnings.append(
                    f"{path} is larger than {_MAX_SOURCE_BYTES} bytes; not read, skipped"
                )
            else:
                warnings.append(
                    f"{path}: cannot read the changed file ({exc.strerror or exc}); skipped"
                )
            continue
        try:
            source = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            warnings.append(f"{path}: not valid UTF-8 (offset {exc.start}); skipped")
            continue
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            where = f"line {exc.lineno}" if exc.lineno else "unknown line"
            warnings.append(
                f"{path}: {where}: syntax error: {exc.msg}; its changed symbols were not mapped"
            )
            continue
        except ValueError as exc:  # e.g. null bytes
            warnings.append(f"{path}: cannot parse: {exc}; skipped")
            continue
        symbols.extend(_symbols_of(path, source, tree, cf, import_roots))
    return symbols, warnings


def _symbols_of(
    path: str, source: str, tree: ast.Module, cf: ChangedFile, import_roots: list[str]
) -> list[ChangedSymbol]:
    source_lines = source.splitlines()
    syms: list[_Sym] = []
    _collect(tree.body, "", False, 1, syms)
    module = _Sym("<module>", "module", tree, 1, max(len(source_lines), 1), -1, 0)

    def innermost(line: int, indent: int | None = None) -> _Sym:
        best = module
        for s in syms:
            if s.start <= line <= s.end and s.depth > best.depth:
                if indent is None or indent > s.col:
                    best = s
        return best

    for line in cf.added:
        innermost(line).lines.add(line)
    indents = dict(cf.deletion_indents)
    for pos in cf.deleted_at:
        innermost(pos, indents.get(pos, 1_000_000)).deletions.add(pos)

    mod_name = module_name(path, import_roots)
    out: list[ChangedSymbol] = []
    for s in [module, *syms]:
        if not s.lines and not s.deletions:
            continue
        if isinstance(s.node, _DefNode):
            node = s.node
            out.append(
                ChangedSymbol(
                    path=path,
                    module=mod_name,
                    qualname=s.qualname,
                    kind=s.kind,
                    lineno=s.start,
                    end_lineno=s.end,
                    changed_lines=tuple(sorted(s.lines)),
                    signature=_header(source_lines, node),
                    docstring=ast.get_docstring(node),
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    decorators=_decorators(source, node),
                    deleted_at=tuple(sorted(s.deletions)),
                )
            )
        else:
            out.append(
                ChangedSymbol(
                    path=path,
                    module=mod_name,
                    qualname="<module>",
                    kind="module",
                    lineno=1,
                    end_lineno=s.end,
                    changed_lines=tuple(sorted(s.lines)),
                    docstring=ast.get_docstring(tree),
                    deleted_at=tuple(sorted(s.deletions)),
                )
            )
    out.sort(key=lambda c: (c.lineno, c.qualname))
    return out
