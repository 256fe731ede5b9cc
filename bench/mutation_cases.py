"""The real-project case for bench/mutation: two consecutive releases of a PyPI library.

The case is humanize 4.10.0 -> 4.11.0, rebuilt as a git repository:

- commit 1 on ``main``: the 4.10.0 sdist's package (``src/humanize``, locale files included),
  its ``tests/`` and the files pytest reads its configuration from (``pyproject.toml``);
- commit 2 on ``feature``: the same paths from the 4.11.0 sdist.

Why humanize and this pair: it is pure Python, its sdists ship the real pytest suite
(621 tests, under a second), and 4.11.0 is a modest, real change to the code: a new
module (``lists.natural_list``), a rewrite of ``naturalsize``'s unit loop with two more
suffixes, a new way to locate the locale directory (``i18n``), and a moved import in
``number.fractional``, plus the generated ``_version.py`` that replaces an
``importlib.metadata`` lookup. That is 110 changed lines in six ``.py`` files of the
package, 72 of them code (not blank, comment or docstring); mutmut 3 makes 47 mutants on
15 of them (it leaves imports, module-level constants and ``_version.py`` alone). The
other candidates were worse: semver's 3.0.x sdists change little but type hints,
python-slugify's 8.x sdists ship no tests, humanize 4.11 -> 4.12 mostly moves imports.

The repository is left with ``feature`` checked out.

Everything is pinned: the two sdists by version and sha256, the test venv by exact
requirement versions, the commits by fixed author, committer and dates (so the SHAs are
the same on every machine). Downloads (``pip download --no-binary :all: --no-deps``) and
the test venv are cached under ``$TFACTORY_HOME/cache/bench/`` (``~/.tfactory`` by
default), so a rerun is offline and takes a second or two; the repository itself is
rebuilt inside ``workdir`` on every call because that is cheap and keeps it pristine.

The project is *not* installed into the venv: tests import it from the checkout, with
``PYTHONPATH=<checkout>/src`` (see ``Case.env``). That way a copy or worktree of the repo
(a mutation engine's sandbox, mutmut's ``mutants/``) is what gets tested, never a stale
installed copy. Only the feature side runs this way: 4.10.0's ``__init__`` reads its
version from installed distribution metadata, which the benchmark never needs.

Run alone to print the case as JSON: ``.venv/bin/python bench/mutation_cases.py [workdir]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PYPI_NAME = "humanize"
IMPORT_NAME = "humanize"
BASE_VERSION = "4.10.0"
FEATURE_VERSION = "4.11.0"
# sha256 of the sdists as PyPI serves them; a mismatch means the download is not the
# release this benchmark was calibrated on.
SDIST_SHA256 = {
    "4.10.0": "06b6eb0293e4b85e8d385397c5868926820db32b9b654b932f57fa41c23c9978",
    "4.11.0": "e66f36020a2d5a974c504bd2555cf770621dbdbb6d82f94a6857c0b1ea2608be",
}
CASE_NAME = f"{PYPI_NAME}-{BASE_VERSION}-{FEATURE_VERSION}"

BASE_REF = "main"
BRANCH = "feature"
SOURCE_ROOT = "src"  # what goes on PYTHONPATH
SOURCE_PATHS = [f"{SOURCE_ROOT}/{IMPORT_NAME}"]
TEST_PATHS = ["tests"]
# Copied from each sdist into the repository; pyproject.toml carries the pytest config
# (testpaths, filterwarnings = error), which changes how the suite behaves.
SDIST_PATHS = [*SOURCE_PATHS, *TEST_PATHS, "pyproject.toml", "README.md", "LICENCE"]

# The test venv, pinned in full (``pip freeze`` of a working one) so the suite's
# behaviour and timing do not drift with new releases.
TEST_REQUIREMENTS = (
    "pytest==9.2.0",
    "pluggy==1.7.0",
    "iniconfig==2.3.1",
    "packaging==26.3",
    "freezegun==1.5.5",
    "python-dateutil==4.0.0",
    "tzdata==2026.6",
    "Pygments==2.21.0",
    # Not used to measure anything: pyproject's filterwarnings names a coverage warning
    # class, and pytest errors out at start-up when it cannot import it.
    "coverage==7.17.4",
)

AUTHOR = ("Bench Case", "bench@tfactory.invalid")
BASE_DATE = "2024-07-01T12:00:00+00:00"
FEATURE_DATE = "2024-10-01T12:00:00+00:00"

_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class CaseError(RuntimeError):
    """The case could not be prepared (download, checksum, git or venv failure)."""


@dataclass
class Case:
    """One benchmark case: a git repo with a feature branch and a venv that runs its tests.

    Paths in ``source_paths``, ``test_paths`` and the keys of ``changed_lines`` are relative
    to the repository root and use ``/``. ``changed_lines`` maps each non-test ``.py`` file of
    the package that the feature changed to the 1-based line numbers, on the feature side,
    that the feature added or changed (``git diff -U0 base_ref..branch``); a file added by
    the feature has all its lines there.
    """

    name: str
    repo: Path
    base_ref: str
    branch: str
    package: str
    source_paths: list[str]
    test_paths: list[str]
    changed_lines: dict[str, set[int]]
    python: Path
    pythonpath: list[str] = field(default_factory=lambda: [SOURCE_ROOT])
    base_sha: str = ""
    head_sha: str = ""
    pypi_name: str = PYPI_NAME
    base_version: str = BASE_VERSION
    feature_version: str = FEATURE_VERSION
    test_requirements: tuple[str, ...] = TEST_REQUIREMENTS

    def env(self, checkout: Path, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment to run the tests of ``checkout`` (the repo or a copy of it) with."""
        env = dict(os.environ if base is None else base)
        paths = [str(checkout / p) for p in self.pythonpath]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def test_argv(self, *selection: str) -> list[str]:
        """The command that runs the suite (or ``selection``), from the checkout's root."""
        targets = list(selection) or self.test_paths
        return [str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets]

    @property
    def changed_line_count(self) -> int:
        return sum(len(lines) for lines in self.changed_lines.values())

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "repo": str(self.repo),
            "base_ref": self.base_ref,
            "branch": self.branch,
            "base_sha": self.base_sha,
            "head_sha": self.head_sha,
            "package": self.package,
            "pypi": f"{self.pypi_name} {self.base_version} -> {self.feature_version}",
            "source_paths": self.source_paths,
            "test_paths": self.test_paths,
            "pythonpath": self.pythonpath,
            "python": str(self.python),
            "changed_lines": {f: sorted(v) for f, v in sorted(self.changed_lines.items())},
            "changed_line_count": self.changed_line_count,
        }


def cache_root() -> Path:
    home = Path(os.environ.get("TFACTORY_HOME") or Path.home() / ".tfactory")
    return home / "cache" / "bench"


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-2000:]
        raise CaseError(f"{' '.join(argv[:4])} ... failed ({result.returncode}): {tail}")
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_sdist(version: str) -> Path:
    """The cached sdist of ``PYPI_NAME==version``, downloaded with pip on first use."""
    folder = cache_root() / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    # pip names the file after the project as the index spells it; accept both spellings.
    stems = {f"{PYPI_NAME}-{version}", f"{PYPI_NAME.replace('-', '_')}-{version}"}

    def cached() -> Path | None:
        for stem in stems:
            if (folder / f"{stem}.tar.gz").is_file():
                return folder / f"{stem}.tar.gz"
        return None

    path = cached()
    if path is None:
        # Download into a scratch folder first so an interrupted download never looks cached.
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            _run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "--no-binary", ":all:", "--no-deps", "--dest", tmp, f"{PYPI_NAME}=={version}"]
            )  # fmt: skip
            got = sorted(Path(tmp).glob("*.tar.gz"))
            if len(got) != 1:
                raise CaseError(f"pip download of {PYPI_NAME}=={version} gave {got}")
            got[0].replace(folder / got[0].name)
        path = cached()
        if path is None:
            raise CaseError(f"unexpected sdist name for {PYPI_NAME}=={version}")
    if _sha256(path) != SDIST_SHA256[version]:
        raise CaseError(f"{path} does not have the pinned sha256 {SDIST_SHA256[version]}")
    return path


def _extract(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def _git_env(date: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # Ignore the user's and the system's git config (hooks, signing, templates):
            # they would change the commits or fail them.
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR[0],
            "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": AUTHOR[0],
            "GIT_COMMITTER_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_DATE": date,
        }
    )
    return env


def _git(repo: Path, *args: str, date: str = BASE_DATE) -> str:
    return _run(["git", "-C", str(repo), *args], env=_git_env(date)).stdout.strip()


def _replace_tree(repo: Path, sdist_root: Path) -> None:
    """Make the repo's working tree hold exactly SDIST_PATHS of ``sdist_root``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for rel in SDIST_PATHS:
        dst = repo / rel
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        src = sdist_root / rel
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def _commit(repo: Path, message: str, date: str) -> str:
    _git(repo, "add", "--all", date=date)
    _git(repo, "commit", "--quiet", "--no-verify", "--message", message, date=date)
    return _git(repo, "rev-parse", "HEAD", date=date)


def build_repo(dest: Path) -> tuple[str, str]:
    """Create the case's git repository at ``dest`` (replaced if present); (base, head) SHAs."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        base_root = _extract(fetch_sdist(BASE_VERSION), Path(tmp) / "base")
        feature_root = _extract(fetch_sdist(FEATURE_VERSION), Path(tmp) / "feature")
        _git(dest, "init", "--quiet", "--initial-branch", BASE_REF)
        _replace_tree(dest, base_root)
        base_sha = _commit(dest, f"{PYPI_NAME} {BASE_VERSION}", BASE_DATE)
        _git(dest, "checkout", "--quiet", "-b", BRANCH, date=FEATURE_DATE)
        _replace_tree(dest, feature_root)
        head_sha = _commit(dest, f"{PYPI_NAME} {FEATURE_VERSION}", FEATURE_DATE)
    return base_sha, head_sha


def changed_lines(repo: Path, base: str, head: str, paths: list[str]) -> dict[str, set[int]]:
    """Lines added or changed on the ``head`` side, per non-test .py file under ``paths``."""
    diff = _git(
        repo, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", f"{base}..{head}",
        "--", *paths,
    )  # fmt: skip
    result: dict[str, set[int]] = {}
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            current = target[2:] if target.startswith("b/") else None
            if current is not None and not _is_package_source(current):
                current = None
            continue
        match = _HUNK_RE.match(line)
        if match and current is not None:
            start, count = int(match.group(1)), int(match.group(2) or 1)
            if count:
                result.setdefault(current, set()).update(range(start, start + count))
    return result


def _is_package_source(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    in_tests = any(part in ("tests", "test") for part in path.split("/")[:-1])
    return path.endswith(".py") and not in_tests and not name.startswith("test_")


def ensure_venv(name: str, requirements: tuple[str, ...] | list[str]) -> Path:
    """A cached venv with exactly ``requirements`` installed; returns its python.

    The folder name carries a hash of the requirements and the interpreter version, so a
    change of pins builds a new venv instead of reusing a stale one. A ``.complete`` marker
    is written last, so a venv whose install was interrupted is rebuilt, not reused.
    """
    key = hashlib.sha256("\n".join([sys.version, *sorted(requirements)]).encode()).hexdigest()[:12]
    folder = cache_root() / "venvs" / f"{name}-{key}"
    python = folder / "bin" / "python"
    if (folder / ".complete").is_file() and python.exists():
        return python
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # python3 from PATH, as the project's other venvs are made; not sys.executable, which
    # may itself be a venv's python.
    _run(["python3", "-m", "venv", str(folder)])
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *requirements]
    )  # fmt: skip
    (folder / ".complete").write_text("\n".join(requirements) + "\n")
    return python


def prepare_case(workdir: Path) -> Case:
    """Build (or rebuild) the case under ``workdir`` and make sure its venv exists."""
    workdir = Path(workdir).resolve()
    repo = workdir / CASE_NAME
    base_sha, head_sha = build_repo(repo)
    python = ensure_venv(f"case-{PYPI_NAME}", TEST_REQUIREMENTS)
    return Case(
        name=CASE_NAME,
        repo=repo,
        base_ref=BASE_REF,
        branch=BRANCH,
        package=IMPORT_NAME,
        source_paths=list(SOURCE_PATHS),
        test_paths=list(TEST_PATHS),
        changed_lines=changed_lines(repo, BASE_REF, BRANCH, SOURCE_PATHS),
        python=python,
        base_sha=base_sha,
        head_sha=head_sha,
    )


def main() -> int:
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="mcase-"))
    case = prepare_case(workdir)
    print(json.dumps(case.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
