"""Pre-flight check of generated tests: imports, attributes and methods resolved against
the real project, before a test runs. Runs INSIDE the sandbox, with the project's Python
(standard library only; Python 3.11+).

usage: python -m tfactory_preflight IN_JSON OUT_JSON
IN_JSON:  {"candidates": {id: source}, "project_roots": [dir, ...], "declared_deps": [dist]}
OUT_JSON: {id: [{"rule", "kind", "action", "message", "line", "test"}, ...]}

A candidate is never executed: its source is only parsed. The project modules it names
are imported (that runs the project's code, hence the sandbox). The roots are already
first on sys.path (PYTHONPATH); `python -m` also puts the working directory (the
checkout) in front, as `python -m pytest` does when the tests run.

Rules:
  PF001 syntax               reject  the source does not parse
  PF002 hallucinated-import  reject  a module or an imported name that does not exist
  PF003 missing-dependency   reject  a top-level module that is not installed
  PF004 hallucinated-attribute reject an attribute or method that does not exist on an
                             imported module or class, or on an instance made in the test
  PF005 (see below)          flag    the project itself fails when the module is imported:
                             kind missing-dependency when a non-project module it needs is
                             missing, syntax when it does not parse, else hallucinated-import

False positives are worse than misses: whenever something is uncertain (a __getattr__,
a name bound twice, a class without source, a try/except around the import, code that
sets attributes dynamically...) nothing is reported.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import enum
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import sys
import traceback
import types
import warnings

# captured before any project code runs (it could replace them)
_open = open
_dumps = json.dumps
_exit = os._exit
_stderr = sys.stderr

UNKNOWN = object()
_ENUM_GETATTR = getattr(enum.EnumMeta, "__getattr__", None)
SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "venv", "env"}
MAX_SCAN_FILES = 5000
MAX_WALK_ENTRIES = 200_000

# distribution name (normalised: lower case, "_") -> the module it provides
DIST_MODULES = {
    "pyyaml": "yaml",
    "beautifulsoup4": "bs4",
    "pillow": "pil",
    "scikit_learn": "sklearn",
    "scikit_image": "skimage",
    "python_dateutil": "dateutil",
    "opencv_python": "cv2",
    "opencv_python_headless": "cv2",
    "pyjwt": "jwt",
    "python_dotenv": "dotenv",
    "protobuf": "google",
    "attrs": "attr",
    "djangorestframework": "rest_framework",
    "pyzmq": "zmq",
    "pycryptodome": "crypto",
    "pyserial": "serial",
    "pyopenssl": "openssl",
    "mysqlclient": "mysqldb",
    "psycopg2_binary": "psycopg2",
    "psycopg_binary": "psycopg",
    "django_environ": "environ",
    "python_multipart": "multipart",
    "google_api_python_client": "googleapiclient",
    "setuptools": "pkg_resources",
    "msgpack_python": "msgpack",
    "python_magic": "magic",
    "faiss_cpu": "faiss",
}

# class decorators that keep the class and add no instance attributes we cannot see
KNOWN_CLASS_DECORATORS = {
    "dataclass", "total_ordering", "unique", "final", "runtime_checkable", "s", "attrs",
    "define", "frozen", "mutable", "verify", "register",
}  # fmt: skip
# names whose with-block / call arguments expect an exception: nothing in them is checked
EXPECTING = {"raises", "assertRaises", "assertRaisesRegex", "suppress", "warns"}
# names in an `if` test that make its branches depend on the environment
CONDITIONS = {
    "TYPE_CHECKING", "version_info", "version", "platform", "system", "os_name",
    "implementation", "hexversion", "hasattr", "getattr", "find_spec", "__version__",
    "VERSION", "environ", "getenv", "maxsize", "name",
}  # fmt: skip
# pytest marks under which a test's body may never run, or is expected to fail
SKIP_MARKS = {"skip", "skipif", "xfail", "skipIf", "skipUnless", "expectedFailure"}
# handlers that make an import inside `try:` optional
IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
ATTRIBUTE_GUARDS = {"AttributeError", "Exception", "BaseException"}
# calls whose string arguments name attributes an ORM adds to classes later
ORM_CALLS = {"backref", "relationship", "relation", "synonym", "association_proxy", "register"}
# modules whose namespace is extended at run time (pytest plugins, sys._called_from_test)
OPEN_NAMESPACES = {"pytest", "sys", "builtins"}
# calls whose string arguments name attributes a test probes or creates
ATTR_NAMING_CALLS = {"setattr", "hasattr", "getattr", "delattr", "object", "patch", "setitem"}


# -- findings --------------------------------------------------------------------------------


def _finding(rule, kind, action, text, line, test=""):
    suffix = f" (line {line})" if line else ""
    return {
        "rule": rule,
        "kind": kind,
        "action": action,
        "message": f"{rule} {text}{suffix}",
        "line": line,
        "test": test,
        "_key": (rule, text),
    }


def _did_you_mean(name, options, prefix=""):
    close = difflib.get_close_matches(name, sorted(set(options)), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"`{prefix}{c}`" for c in close) + "?)"


def _norm(name):
    return name.lower().replace("-", "_").replace(".", "_")


# -- the project ---------------------------------------------------------------------------


def _skip_dir(name):
    return name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info")


def _py_files(roots):
    """The .py files under roots; None after MAX_WALK_ENTRIES entries (too many to read)."""
    seen = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not _skip_dir(d)]
            seen += len(dirnames) + len(filenames)
            if seen > MAX_WALK_ENTRIES:
                yield None
                return
            for f in filenames:
                if f.endswith(".py"):
                    yield os.path.realpath(os.path.join(dirpath, f))


class Project:
    def __init__(self, roots, declared, cwd):
        self.cwd = os.path.realpath(cwd)
        self.roots = []
        for root in [*roots, cwd]:
            real = os.path.realpath(os.path.join(cwd, root))
            if real not in self.roots:
                self.roots.append(real)
        self.declared = [d for d in declared if isinstance(d, str)]
        self.loaded = {}
        self._tops = None
        self._walk_names = None
        self._external = None
        self._trees = {}
        self._classes = {}

    def inside(self, path):
        if not path:
            return False
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r + os.sep) for r in self.roots)

    def is_project_module(self, name):
        """Whether the top-level module `name` lives in the checkout."""
        top = name.partition(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except BaseException:  # noqa: BLE001 - a broken finder: not ours to judge
            return False
        if spec is None:
            return False
        locations = list(spec.submodule_search_locations or [])
        if spec.origin and spec.has_location:
            locations.append(spec.origin)
        return any(self.inside(p) for p in locations)

    def tops(self):
        """Top-level module names the project roots provide (for suggestions)."""
        if self._tops is None:
            found = set()
            for root in self.roots:
                try:
                    entries = list(os.scandir(root))
                except OSError:
                    continue
                for entry in entries:
                    name = entry.name
                    if name.endswith(".py") and name[:-3].isidentifier():
                        found.add(name[:-3])
                    elif name.isidentifier() and not _skip_dir(name):
                        try:
                            if entry.is_dir() and any(
                                n.endswith(".py") or os.path.isdir(os.path.join(entry.path, n))
                                for n in os.listdir(entry.path)
                            ):
                                found.add(name)
                        except OSError:
                            pass
            self._tops = found
        return self._tops

    def walk_names(self):
        """Module and package names found anywhere in the checkout: pytest may put their
        folders on sys.path (rootdir, conftest folders), so a top-level module that is
        not importable here may still be importable when the tests run."""
        if self._walk_names is None:
            names = set()
            seen = 0
            for dirpath, dirnames, filenames in os.walk(self.cwd):
                dirnames[:] = [d for d in dirnames if not _skip_dir(d)]
                seen += len(dirnames) + len(filenames)
                names.update(d for d in dirnames if d.isidentifier())
                names.update(f[:-3] for f in filenames if f.endswith(".py"))
                if seen > MAX_WALK_ENTRIES or dirpath.count(os.sep) - self.cwd.count(os.sep) > 6:
                    dirnames[:] = []
            self._walk_names = names
        return self._walk_names

    def declared_dist(self, module):
        """The declared distribution that (loosely) provides top-level `module`, or None."""
        m = module.lower()
        for dist in self.declared:
            d = _norm(dist)
            keys = {d, d.replace("_", "")}
            for prefix in ("python_", "py_", "py"):
                if d.startswith(prefix) and len(d) > len(prefix):
                    keys.add(d[len(prefix) :])
            for suffix in ("_python", "_py"):
                if d.endswith(suffix):
                    keys.add(d[: -len(suffix)])
            if d in DIST_MODULES:
                keys.add(DIST_MODULES[d])
            if m in keys or m.replace("_", "") in keys or (len(m) >= 3 and d.startswith(m + "_")):
                return dist
        return None

    # -- imports

    def load(self, name):
        """("ok", module) | ("missing", missing module name) | ("error", exception)."""
        if name not in self.loaded:
            try:
                result = ("ok", importlib.import_module(name))
            except ModuleNotFoundError as exc:
                missing = exc.name or ""
                if missing and (missing == name or name.startswith(missing + ".")):
                    result = ("missing", missing)
                else:
                    result = ("error", exc)
            except BaseException as exc:  # noqa: BLE001 - the project's own code failed
                result = ("error", exc)
            self.loaded[name] = result
        return self.loaded[name]

    def submodules(self, module):
        path = getattr(module, "__path__", None)
        if path is None:
            return []
        try:
            return [m.name for m in pkgutil.iter_modules(list(path))]
        except BaseException:  # noqa: BLE001
            return []

    # -- sources

    def tree(self, path, cache=True):
        if path in self._trees:
            return self._trees[path]
        try:
            with _open(path, "rb") as fh:
                tree = ast.parse(fh.read())
        except BaseException:  # noqa: BLE001 - unreadable or unparsable: unknown
            tree = None
        if cache:
            self._trees[path] = tree
        return tree

    def external_stores(self):
        """(attribute names the project's code sets on objects other than a method's own
        first argument, identifiers it names in strings (ORMs make attributes from them:
        backref="lines"), whether it sets attributes with a computed name)."""
        if self._external is None:
            names, strings, dynamic = set(), set(), False
            seen = set()
            for path in _py_files(self.roots):
                if path in seen:
                    continue
                seen.add(path)
                if path is None or len(seen) > MAX_SCAN_FILES:
                    dynamic = True  # too big to read all of it: assume the worst
                    break
                tree = self.tree(path, cache=False)
                if tree is not None:
                    dynamic |= _collect_external_stores(tree, names, strings)
            self._external = (names, strings, dynamic)
        return self._external


def _first_arg(fn):
    args = fn.args.posonlyargs + fn.args.args
    return args[0].arg if args else None


def _string_args(call):
    return [
        a.value
        for a in [*call.args, *(k.value for k in call.keywords)]
        if isinstance(a, ast.Constant) and isinstance(a.value, str)
    ]


def _call_name(node):
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


_READS = {"get", "items", "keys", "values", "copy", "__contains__", "__getitem__"}


def _writes_namespace(tree):
    """Whether a module's functions may write its namespace through globals() / vars()
    (directly or through a name bound to it) once it is imported. Writes at import time
    are already there; reading the namespace (`name in globals()`) does not count."""
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def in_function(node):
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                return True
        return False

    def writes(node):
        parent = parents.get(node)
        if isinstance(parent, ast.Compare):
            return False
        if isinstance(parent, ast.Subscript):
            return not isinstance(parent.ctx, ast.Load)
        if isinstance(parent, ast.Attribute):
            return parent.attr not in _READS
        return True

    aliases = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("globals", "vars")
            and not node.args
        ):
            parent = parents.get(node)
            if isinstance(parent, ast.Assign) and all(
                isinstance(t, ast.Name) for t in parent.targets
            ):
                aliases.update(t.id for t in parent.targets)
            elif writes(node) and in_function(node):
                return True
    return any(
        isinstance(node, ast.Name)
        and node.id in aliases
        and isinstance(node.ctx, ast.Load)
        and writes(node)
        and in_function(node)
        for node in ast.walk(tree)
    )


def _is_setattr(name):
    """setattr, object.__setattr__, and aliases such as Django's `_setattr`."""
    return name.endswith(("setattr", "setattr__"))


def _collect_external_stores(tree, names, strings):
    internal = set()
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                first = _first_arg(fn)
                for node in ast.walk(fn):
                    if (
                        isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == first
                    ):
                        internal.add(id(node))
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            named = [k.value for k in node.keywords]  # relationship(..., backref="lines")
            if _call_name(node) in ORM_CALLS:
                named += node.args
            strings.update(
                a.value
                for a in named
                if isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and a.value.isidentifier()
            )
        if isinstance(node, ast.Global):
            names.update(node.names)  # module attributes made when a function runs
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            if id(node) not in internal:
                names.add(node.attr)
        elif isinstance(node, ast.Call) and _is_setattr(_call_name(node)):
            literal = _string_args(node)
            names.update(literal)
            if not literal:
                dynamic = True
    return dynamic


# -- classes -----------------------------------------------------------------------------


@dataclasses.dataclass
class ClassFacts:
    names: set  # instance attributes known besides the class's own dictionary
    certain: bool  # False when attributes may be added in ways we cannot see
    dynamic_access: bool  # __getattr__ / __getattribute__


def _is_heap(cls):
    return bool(cls.__flags__ & (1 << 9))  # Py_TPFLAGS_HEAPTYPE


def _decorator_name(node):
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def class_facts(project, cls, exclude=()):
    """What cls's MRO says about its instances' attributes; classes of the modules in
    `exclude` are left out."""
    key = (cls, exclude)
    if key in project._classes:
        return project._classes[key]
    names, certain, dynamic_access = set(), True, False
    for klass in cls.__mro__:
        if klass is object or klass.__module__ in exclude:
            continue
        own = klass.__dict__
        if "__getattr__" in own or (_is_heap(klass) and "__getattribute__" in own):
            dynamic_access = True  # (C types list their generic __getattribute__)
        slots = own.get("__slots__")
        if isinstance(slots, str):
            names.add(slots)
        elif slots is not None:
            try:
                names.update(s for s in slots if isinstance(s, str))
            except TypeError:
                pass
        try:
            names.update(inspect.get_annotations(klass))
        except BaseException:  # noqa: BLE001 - unresolvable annotations: see the source
            names.update(own.get("__annotations__", None) or ())
        for attr in ("_fields", "__match_args__"):
            value = own.get(attr)
            if isinstance(value, tuple):
                names.update(v for v in value if isinstance(v, str))
        for attr in ("model_fields", "__fields__", "__dataclass_fields__"):
            value = own.get(attr)
            if isinstance(value, dict):
                names.update(k for k in value if isinstance(k, str))
        for a in own.get("__attrs_attrs__", None) or ():
            names.add(getattr(a, "name", ""))
        if not _is_heap(klass):
            # a C type: its instance attributes are descriptors in its dict, unless its
            # instances have a __dict__ its C code may fill (SimpleNamespace, partial)
            if "__dict__" in own and not issubclass(klass, BaseException):
                certain = False
            continue
        ok = _source_facts(project, klass, names)
        certain = certain and ok
    facts = ClassFacts(names, certain, dynamic_access)
    project._classes[key] = facts
    return facts


def _source_facts(project, klass, names):
    """Adds the attributes klass's source sets on its instances; False if uncertain."""
    try:
        path = inspect.getsourcefile(klass)
    except BaseException:  # noqa: BLE001 - no source file: try the module's
        path = None
    if not path:
        path = getattr(sys.modules.get(klass.__module__), "__file__", None)
    if not path or not path.endswith(".py"):
        return False
    tree = project.tree(path)
    if tree is None:
        return False
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == klass.__name__]
    if not defs:
        return False  # made by a factory (namedtuple, type(...)): not in the source
    certain = True
    for cdef in defs:
        for deco in cdef.decorator_list:
            if _decorator_name(deco) not in KNOWN_CLASS_DECORATORS:
                certain = False
        for stmt in cdef.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                names.add(stmt.target.id)
        firsts = {
            _first_arg(fn)
            for fn in ast.walk(cdef)
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        } - {None}
        for node in ast.walk(cdef):
            if isinstance(node, ast.Attribute):
                if node.attr == "__dict__" or (
                    node.attr == "__class__" and isinstance(node.ctx, ast.Store)
                ):
                    certain = False  # attributes or the class itself change at run time
                elif isinstance(node.value, ast.Name) and node.value.id in firsts:
                    if isinstance(node.ctx, ast.Store | ast.Del):
                        names.add(node.attr)
            elif isinstance(node, ast.Call):
                name = _call_name(node)
                if _is_setattr(name):
                    literal = _string_args(node)
                    names.update(literal)
                    if not literal:
                        certain = False
                elif name == "vars":
                    certain = False
    return certain


def _instantiates(cls):
    """Whether calling cls surely makes an instance of cls."""
    if type(cls).__call__ is not type.__call__:
        return False
    for klass in cls.__mro__:
        if "__new__" in klass.__dict__ and klass.__module__ not in (
            "builtins",
            "typing",
            "abc",
            "collections.abc",
        ):
            return False
    return True


# -- the candidate's scopes ------------------------------------------------------------------


class Scope:
    def __init__(self, kind, parent, node=None):
        self.kind = kind  # module | function | class | comp
        self.parent = parent
        self.node = node
        self.bindings = {}
        self.globals = set()
        self.nonlocals = set()
        self.star = False

    def module(self):
        s = self
        while s.parent is not None:
            s = s.parent
        return s


class Binding:
    def __init__(self, kind, node=None, scope=None):
        self.kind = kind  # import | call | other
        self.node = node
        self.scope = scope
        self.target = UNKNOWN  # for imports: the object the name is bound to


def _own_nodes(body):
    """Nodes of a scope's body, not descending into nested scopes."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _handler_names(handler):
    t = handler.type
    if t is None:
        return {"BaseException"}
    items = t.elts if isinstance(t, ast.Tuple) else [t]
    found = set()
    for item in items:
        if isinstance(item, ast.Name):
            found.add(item.id)
        elif isinstance(item, ast.Attribute):
            found.add(item.attr)
        else:
            found.add("BaseException")
    return found


class Collector(ast.NodeVisitor):
    """Builds scopes and bindings; collects imports, attribute chains and names the
    candidate itself probes or sets."""

    def __init__(self):
        self.module = Scope("module", None)
        self.scope = self.module
        self.imports = []  # (node, scope, guarded, test)
        self.chains = []  # (attribute node, scope, guarded, test)
        self.inner = set()
        self.guard = []  # stack of sets: exceptions expected around the current node
        self.tests = []
        self.own_stores = set()  # attributes the candidate sets or probes by name
        self.tainted = set()  # module names rebound through `global`
        self.module_skipped = False  # pytestmark = pytest.mark.skipif(...)

    # helpers
    def guarded(self):
        names = set()
        for g in self.guard:
            names |= g
        return names

    def test(self):
        return self.tests[0] if self.tests else ""

    def bind(self, name, binding):
        scope = self.scope
        if name in scope.globals:
            self.tainted.add(name)
            scope = self.module
        elif name in scope.nonlocals:
            s = scope.parent
            while s is not None and (s.kind == "class" or name not in s.bindings):
                s = s.parent
            if s is None:
                return
            scope = s
        scope.bindings.setdefault(name, []).append(binding)

    def enter(self, kind, node, body):
        scope = Scope(kind, self.scope, node)
        if kind == "function":
            for n in _own_nodes(body):
                if isinstance(n, ast.Global):
                    scope.globals.update(n.names)
                elif isinstance(n, ast.Nonlocal):
                    scope.nonlocals.update(n.names)
        self.scope = scope
        return scope

    # scopes
    def visit_FunctionDef(self, node):
        for d in node.decorator_list:
            self.visit(d)
        self.visit_arguments_outer(node.args)
        if node.returns:
            self.visit(node.returns)
        self.bind(node.name, Binding("other"))
        outer = self.scope
        self.tests.append(node.name)
        self.enter("function", node, node.body)
        self.bind_arguments(node.args)
        self.guard.append({"BaseException"} if self.skipped(node.decorator_list) else set())
        for stmt in node.body:
            self.visit(stmt)
        self.guard.pop()
        self.scope = outer
        self.tests.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_arguments_outer(self, args):
        for d in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(d)
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                self.visit(a.annotation)

    def bind_arguments(self, args):
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.bind(a.arg, Binding("other"))

    def visit_Lambda(self, node):
        self.visit_arguments_outer(node.args)
        outer = self.scope
        self.enter("function", node, [node.body])
        self.bind_arguments(node.args)
        self.visit(node.body)
        self.scope = outer

    def visit_ClassDef(self, node):
        for d in node.decorator_list:
            self.visit(d)
        for b in [*node.bases, *node.keywords]:
            self.visit(b)
        self.bind(node.name, Binding("other"))
        outer = self.scope
        self.enter("class", node, node.body)
        self.guard.append({"BaseException"} if self.skipped(node.decorator_list) else set())
        for stmt in node.body:
            self.visit(stmt)
        self.guard.pop()
        self.scope = outer

    def _comprehension(self, node, elements):
        outer = self.scope
        self.visit(node.generators[0].iter)
        self.enter("comp", node, [])
        for i, gen in enumerate(node.generators):
            if i:
                self.visit(gen.iter)
            self.visit(gen.target)
            for cond in gen.ifs:
                self.visit(cond)
        for e in elements:
            self.visit(e)
        self.scope = outer

    def visit_ListComp(self, node):
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comprehension(node, [node.key, node.value])

    # bindings
    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.bind(node.id, Binding("other"))

    def visit_NamedExpr(self, node):
        self.visit(node.value)
        scope = self.scope
        while scope.kind == "comp":
            scope = scope.parent
        saved, self.scope = self.scope, scope
        self.visit(node.target)
        self.scope = saved

    def visit_Assign(self, node):
        self.visit(node.value)
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            self.module_skipped |= self.skipped([node.value])
        if (
            len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
        ):
            self.bind(node.targets[0].id, Binding("call", node.value, self.scope))
            return
        for t in node.targets:
            self.visit(t)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.annotation)
        if isinstance(node.target, ast.Name) and isinstance(node.value, ast.Call):
            self.bind(node.target.id, Binding("call", node.value, self.scope))
            return
        self.visit(node.target)

    def visit_ExceptHandler(self, node):
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.bind(node.name, Binding("other"))
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node):
        if node.name:
            self.bind(node.name, Binding("other"))
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        if node.name:
            self.bind(node.name, Binding("other"))

    def visit_MatchMapping(self, node):
        if node.rest:
            self.bind(node.rest, Binding("other"))
        self.generic_visit(node)

    def visit_Import(self, node):
        bindings = {}
        for alias in node.names:
            bindings[id(alias)] = b = Binding("import", node, self.scope)
            self.bind(alias.asname or alias.name.partition(".")[0], b)
        self.imports.append((node, bindings, self.guarded(), self.test()))

    def visit_ImportFrom(self, node):
        bindings = {}
        for alias in node.names:
            if alias.name == "*":
                self.scope.star = True
                continue
            bindings[id(alias)] = b = Binding("import", node, self.scope)
            self.bind(alias.asname or alias.name, b)
        self.imports.append((node, bindings, self.guarded(), self.test()))

    # guards
    def visit_Try(self, node):
        caught = set()
        for h in node.handlers:
            caught |= _handler_names(h)
        self.guard.append(caught)
        for stmt in node.body:
            self.visit(stmt)
        self.guard.pop()
        for part in (node.handlers, node.orelse, node.finalbody):
            for stmt in part:
                self.visit(stmt)

    visit_TryStar = visit_Try

    def visit_With(self, node):
        expecting = any(
            isinstance(item.context_expr, ast.Call) and _call_name(item.context_expr) in EXPECTING
            for item in node.items
        )
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        self.guard.append({"BaseException"} if expecting else set())
        for stmt in node.body:
            self.visit(stmt)
        self.guard.pop()

    visit_AsyncWith = visit_With

    def visit_If(self, node):
        # a branch for another Python, platform or version of a library may not run here:
        # nothing in it is checked; in any other branch, imports are not checked
        words = {
            n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else ""
            for n in ast.walk(node.test)
        }
        words |= {n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)} & {
            "win32",
            "linux",
            "darwin",
            "cygwin",
        }
        environment = bool(words & CONDITIONS) or any(
            isinstance(w, str) and w.isupper() for w in words
        )
        self.visit(node.test)
        self.guard.append({"BaseException"} if environment else {"ImportError"})
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)
        self.guard.pop()

    def skipped(self, decorators):
        """A test marked skip/skipif/xfail may never run (or is expected to fail)."""
        return any(
            isinstance(n, ast.Attribute | ast.Name)
            and (n.attr if isinstance(n, ast.Attribute) else n.id) in SKIP_MARKS
            for d in decorators
            for n in ast.walk(d)
        )

    def visit_Call(self, node):
        name = _call_name(node)
        if name in ATTR_NAMING_CALLS or name.endswith("setattr"):
            for s in _string_args(node):
                self.own_stores.add(s.rpartition(".")[2])
        if name in EXPECTING:
            self.visit(node.func)
            self.guard.append({"BaseException"})
            for a in [*node.args, *node.keywords]:
                self.visit(a)
            self.guard.pop()
            return
        self.generic_visit(node)

    # uses
    def visit_Attribute(self, node):
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.own_stores.add(node.attr)
        if id(node) not in self.inner:
            self.chains.append((node, self.scope, self.guarded(), self.test()))
        if isinstance(node.value, ast.Attribute):
            self.inner.add(id(node.value))
        self.visit(node.value)


# -- checking one candidate ----------------------------------------------------------------


class Checker:
    def __init__(self, project, source):
        self.project = project
        self.source = source
        self.findings = []
        self.keys = set()

    def add(self, finding):
        key = finding.pop("_key")
        if key not in self.keys:
            self.keys.add(key)
            self.findings.append(finding)

    def run(self):
        try:
            tree = ast.parse(self.source)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            msg = getattr(exc, "msg", None) or str(exc)
            self.add(_finding("PF001", "syntax", "reject", f"the test does not parse: {msg}", line))
            return self.findings
        except (RecursionError, MemoryError):
            self.add(
                _finding("PF001", "syntax", "reject", "the test is too deeply nested to parse", 1)
            )
            return self.findings
        self.collector = c = Collector()
        c.visit(tree)
        for node, bindings, guarded, test in c.imports:
            self.check_import(node, bindings, guarded, test)
        for node, scope, guarded, test in c.chains:
            if guarded & ATTRIBUTE_GUARDS or c.module_skipped:
                continue
            try:
                self.check_chain(node, scope, test)
            except RecursionError:
                pass
        return self.findings

    # imports
    def report_missing(self, missing, line, test):
        p = self.project
        if "." not in missing:
            if missing in p.walk_names() or missing == "conftest":
                return  # a module of the checkout that pytest may put on sys.path
            close = difflib.get_close_matches(missing, sorted(p.tops()), n=3, cutoff=0.8)
            if close:
                hint = " or ".join(f"`{c}`" for c in close)
                self.add(
                    _finding(
                        "PF002",
                        "hallucinated-import",
                        "reject",
                        f"no module named `{missing}` (did you mean {hint}?)",
                        line,
                        test,
                    )
                )
                return
            dist = p.declared_dist(missing)
            if dist is not None:
                what = (
                    f"`{dist}`"
                    if _norm(dist) == _norm(missing)
                    else f"`{dist}` (module `{missing}`)"
                )
                text = f"declared dependency {what} is not installed in the project environment"
            else:
                text = (
                    f"`{missing}` is not installed and the project does not declare it: use "
                    "only the standard library, pytest and the project's dependencies"
                )
            self.add(_finding("PF003", "missing-dependency", "reject", text, line, test))
            return
        parent, _, last = missing.rpartition(".")
        hint = ""
        status, mod = p.load(parent)
        if status == "ok":  # sibling modules first, else what the parent defines
            hint = _did_you_mean(last, p.submodules(mod), prefix=f"{parent}.")
            public = [n for n in vars(mod) if not n.startswith("_")]
            hint = hint or _did_you_mean(last, public, prefix=f"{parent}.")
        self.add(
            _finding(
                "PF002",
                "hallucinated-import",
                "reject",
                f"no module named `{missing}`{hint}",
                line,
                test,
            )
        )

    def report_error(self, name, exc, line, test):
        p = self.project
        detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        if isinstance(exc, ModuleNotFoundError) and exc.name and not p.is_project_module(exc.name):
            text = (
                f"importing `{name}` fails: the project needs `{exc.name}`, which is not "
                f"installed in the project environment ({detail}); the project, not the test, "
                "is at fault"
            )
            kind = "missing-dependency"
        else:
            text = (
                f"importing `{name}` raises {detail}; the project itself fails at import, "
                "not the test"
            )
            kind = "syntax" if isinstance(exc, SyntaxError) else "hallucinated-import"
        self.add(_finding("PF005", kind, "flag", text, line, test))

    def check_import(self, node, bindings, guarded, test):
        p = self.project
        line = node.lineno
        skip = bool(guarded & IMPORT_GUARDS)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if skip:
                    continue
                status, value = p.load(alias.name)
                if status == "missing":
                    self.report_missing(value, line, test)
                elif status == "error":
                    self.report_error(alias.name, value, line, test)
                else:
                    b = bindings.get(id(alias))
                    if b is not None:
                        if alias.asname:
                            b.target = value
                        else:
                            top = p.load(alias.name.partition(".")[0])
                            b.target = top[1] if top[0] == "ok" else UNKNOWN
            return
        if node.level or node.module is None or node.module == "__future__" or skip:
            return
        status, mod = p.load(node.module)
        if status == "missing":
            self.report_missing(mod, line, test)
            return
        if status == "error":
            self.report_error(node.module, mod, line, test)
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            found, value = self.from_import(node.module, mod, alias.name, line, test)
            b = bindings.get(id(alias))
            if found and b is not None:
                b.target = value

    def from_import(self, modname, mod, name, line, test):
        """What `from modname import name` binds, as the import system resolves it."""
        p = self.project
        try:
            return True, getattr(mod, name)
        except AttributeError:
            pass
        except BaseException:  # noqa: BLE001 - a module __getattr__ that failed otherwise
            return False, None
        full = f"{modname}.{name}"
        if hasattr(mod, "__path__"):
            status, value = p.load(full)
            if status == "ok":
                return True, value
            if status == "error":
                self.report_error(full, value, line, test)
                return False, None
            if value != full:
                return False, None
        if "__getattr__" in vars(mod):
            return False, None
        options = [n for n in vars(mod) if not n.startswith("_")] + p.submodules(mod)
        hint = _did_you_mean(name, options)
        self.add(
            _finding(
                "PF002",
                "hallucinated-import",
                "reject",
                f"`{modname}` has no `{name}`{hint}",
                line,
                test,
            )
        )
        return False, None

    # names and attributes
    def value_of(self, scope, name):
        """("obj", object) | ("instance", class) | (None, None)"""
        s, recs = _lookup(scope, name)
        if not recs:
            return None, None
        if s.kind == "module" and (s.star or name in self.collector.tainted):
            return None, None
        if all(b.kind == "import" for b in recs):
            targets = {id(b.target) for b in recs}
            if len(targets) == 1 and recs[0].target is not UNKNOWN:
                return "obj", recs[0].target
            return None, None
        if len(recs) == 1 and recs[0].kind == "call" and s.kind == "function":
            cls = self.class_called(recs[0].node, recs[0].scope)
            if cls is not None:
                return "instance", cls
        return None, None

    def resolve(self, expr, scope):
        """The module or class an expression names, or UNKNOWN (no findings)."""
        if isinstance(expr, ast.Name):
            kind, value = self.value_of(scope, expr.id)
            return value if kind == "obj" else UNKNOWN
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value, scope)
            if isinstance(base, types.ModuleType):
                status, value = self.module_attr(base, expr.attr)
            elif isinstance(base, type):
                status, value = self.class_attr(base, expr.attr)
            else:
                return UNKNOWN
            return value if status == "ok" else UNKNOWN
        return UNKNOWN

    def class_called(self, call, scope):
        cls = self.resolve(call.func, scope)
        if isinstance(cls, type) and _instantiates(cls):
            return cls
        return None

    def module_attr(self, mod, attr):
        """("ok", value) | ("missing", None) | ("unknown", None)"""
        p = self.project
        space = vars(mod)
        if attr in space:
            return "ok", space[attr]
        if getattr(mod, "__name__", "") in OPEN_NAMESPACES or self.module_dynamic(mod):
            return "unknown", None
        if hasattr(mod, "__path__") and isinstance(getattr(mod, "__name__", None), str):
            status, value = p.load(f"{mod.__name__}.{attr}")
            if status == "ok":
                return "ok", value
            if status == "error" or value != f"{mod.__name__}.{attr}":
                return "unknown", None
        if "__getattr__" in space or attr in self.collector.own_stores:
            return "unknown", None
        if attr in p.external_stores()[0]:
            return "unknown", None
        return "missing", None

    def module_dynamic(self, mod):
        """Whether a module's source adds to its namespace in ways we cannot follow."""
        path = getattr(mod, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return False
        tree = self.project.tree(path)
        return tree is None or _writes_namespace(tree)

    def class_attr(self, cls, attr):
        p = self.project
        try:
            value = inspect.getattr_static(cls, attr)
            return "ok", value
        except AttributeError:
            pass
        meta = type(cls)
        # a stock Enum: its members are fixed when the class is made (_member_map_), and
        # EnumType.__getattr__ (Python 3.11) only looks them up
        stock_enum = isinstance(cls, enum.EnumMeta) and (
            getattr(meta, "__getattr__", None) is _ENUM_GETATTR
        )
        if not stock_enum and any("__getattr__" in vars(m) for m in meta.__mro__ if m is not type):
            return "unknown", None
        if attr in (getattr(cls, "_member_map_", None) or {}):
            return "unknown", None
        try:
            if hasattr(cls, attr):
                return "unknown", None
        except BaseException:  # noqa: BLE001
            return "unknown", None
        facts = class_facts(p, cls, exclude=("enum",) if stock_enum else ())
        if attr in facts.names or not facts.certain or facts.dynamic_access:
            return "unknown", None
        names, strings, _ = p.external_stores()
        if attr in self.collector.own_stores or attr in names or attr in strings:
            return "unknown", None
        return "missing", None

    def instance_attr(self, cls, attr):
        p = self.project
        facts = class_facts(p, cls)
        if facts.dynamic_access:
            return "unknown"
        try:
            inspect.getattr_static(cls, attr)
            return "ok"
        except AttributeError:
            pass
        if attr in facts.names:
            return "ok"
        if not facts.certain or attr in self.collector.own_stores:
            return "unknown"
        names, strings, dynamic = p.external_stores()
        if dynamic or attr in names or attr in strings:
            return "unknown"
        return "missing"

    def public_names(self, obj):
        try:
            names = {n for n in dir(obj) if not n.startswith("_")}
        except BaseException:  # noqa: BLE001 - a __dir__ that fails: no suggestions
            names = set()
        if isinstance(obj, types.ModuleType):
            names.update(self.project.submodules(obj))
        if isinstance(obj, type):
            names.update(n for n in class_facts(self.project, obj).names if not n.startswith("_"))
        return names

    def check_chain(self, head, scope, test):
        chain = []
        node = head
        while isinstance(node, ast.Attribute):
            chain.append(node)
            node = node.value
        chain.reverse()  # innermost first
        base = node
        if isinstance(head.ctx, ast.Store | ast.Del):
            chain = chain[:-1]
        if not chain:
            return
        if isinstance(base, ast.Name):
            kind, value = self.value_of(scope, base.id)
            label = base.id
        elif isinstance(base, ast.Call):
            cls = self.class_called(base, scope)
            kind, value = ("instance", cls) if cls is not None else (None, None)
            label = f"{_label(base.func)}(...)"
        else:
            return
        if kind == "instance":
            attr = chain[0].attr
            if attr.startswith("__") and attr.endswith("__"):
                return
            if self.instance_attr(value, attr) == "missing":
                hint = _did_you_mean(attr, self.public_names(value))
                self.add(
                    _finding(
                        "PF004",
                        "hallucinated-attribute",
                        "reject",
                        f"`{label}.{attr}`: `{_qualname(value)}` objects have no attribute "
                        f"`{attr}`{hint}",
                        chain[0].lineno,
                        test,
                    )
                )
            return
        if kind != "obj":
            return
        obj = value
        for node in chain:
            attr = node.attr
            if attr.startswith("__") and attr.endswith("__"):
                return
            if isinstance(obj, types.ModuleType):
                status, nxt = self.module_attr(obj, attr)
                what = f"module `{obj.__name__}`"
            elif isinstance(obj, type):
                status, nxt = self.class_attr(obj, attr)
                what = f"class `{_qualname(obj)}`"
            else:
                return
            if status == "missing":
                hint = _did_you_mean(attr, self.public_names(obj))
                self.add(
                    _finding(
                        "PF004",
                        "hallucinated-attribute",
                        "reject",
                        f"`{label}.{attr}`: {what} has no attribute `{attr}`{hint}",
                        node.lineno,
                        test,
                    )
                )
                return
            if status != "ok":
                return
            obj = nxt
            label = f"{label}.{attr}"


def _lookup(scope, name):
    s, first = scope, True
    while s is not None:
        if s.kind == "class" and not first:
            s = s.parent
            continue
        if name in s.globals:
            m = s.module()
            return m, m.bindings.get(name)
        if name in s.bindings:
            return s, s.bindings[name]
        s, first = s.parent, False
    return None, None


def _label(expr):
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return f"{_label(expr.value)}.{expr.attr}"
    return "..."


def _qualname(cls):
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", getattr(cls, "__name__", "?"))
    return name if module == "builtins" else f"{module}.{name}"


# -- main ----------------------------------------------------------------------------------


def _django_settings(cwd):
    """The DJANGO_SETTINGS_MODULE the project's pytest configuration names, if any."""
    import configparser
    import tomllib

    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return os.environ["DJANGO_SETTINGS_MODULE"]
    try:
        with _open(os.path.join(cwd, "pyproject.toml"), "rb") as fh:
            ini = tomllib.load(fh).get("tool", {}).get("pytest", {}).get("ini_options", {})
        if isinstance(ini.get("DJANGO_SETTINGS_MODULE"), str):
            return ini["DJANGO_SETTINGS_MODULE"]
    except (OSError, ValueError, AttributeError):
        pass
    for name, section in (
        ("pytest.ini", "pytest"),
        ("setup.cfg", "tool:pytest"),
        ("tox.ini", "pytest"),
    ):
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cp.read(os.path.join(cwd, name))
            value = cp.get(section, "DJANGO_SETTINGS_MODULE", fallback=None)
        except (configparser.Error, OSError, UnicodeDecodeError):
            value = None
        if value:
            return value.strip()
    return None


def _setup_django(cwd):
    """Configure Django as pytest-django would, so that importing models works."""
    settings = _django_settings(cwd)
    if not settings or importlib.util.find_spec("django") is None:
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    try:
        import django

        django.setup()
    except BaseException:  # noqa: BLE001 - imports of the models will say what fails
        traceback.print_exc(file=_stderr)


def main(argv):
    if len(argv) != 3:
        print("usage: python -m tfactory_preflight IN_JSON OUT_JSON", file=sys.stderr)
        return 2
    in_path, out_path = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    warnings.simplefilter("ignore")  # deprecations of the project's imports are noise here
    with _open(in_path, encoding="utf-8") as fh:
        job = json.load(fh)
    cwd = os.getcwd()
    roots = [r for r in job.get("project_roots") or [] if isinstance(r, str)]
    for root in reversed(roots):  # normally there already, through PYTHONPATH
        real = os.path.abspath(root)
        if real not in sys.path:
            sys.path.insert(1, real)
    project = Project(roots, job.get("declared_deps") or [], cwd)
    _setup_django(cwd)
    results = {}
    for cid, source in (job.get("candidates") or {}).items():
        try:
            results[cid] = Checker(project, str(source)).run()
        except Exception:  # noqa: BLE001 - a bug of ours: no finding rather than a wrong one
            traceback.print_exc(file=_stderr)
            results[cid] = []
    data = _dumps(results)
    with _open(out_path, "w", encoding="utf-8") as fh:
        fh.write(data)
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except BaseException:  # noqa: BLE001 - no output: the host reports the failure
        traceback.print_exc(file=_stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # project code may have left threads or atexit hooks behind: do not wait for them
    _exit(code)
