"""Reading a project's dependency set from its files, as the dependency lane does."""

from __future__ import annotations

import json

from agents_app.lanes.security.manifests import exact_version, is_dependency_file, read_manifest

FILES = {
    "requirements.txt": (
        "# runtime\n"
        "-r requirements/base.txt\n"
        "requests==2.30.0 \\\n"
        "    --hash=sha256:abc\n"
        "Django>=4.2,<5  # LTS\n"
        "mylib @ git+https://example.com/mylib.git\n"
        "-e ./vendored\n"
        "-r ../outside.txt\n"
        "--index-url https://pypi.example/simple\n"
        "this is not a requirement!\n"
    ),
    "requirements/base.txt": "urllib3===1.26.5\n-r ../requirements.txt\n",
    "pyproject.toml": (
        "[project]\nname = 'app'\ndependencies = ['PyYAML==5.3.1', 'click>=8']\n"
        "[project.optional-dependencies]\ntest = ['pytest~=7.4']\n"
        "[dependency-groups]\ndev = ['ruff==0.4.0', {include-group = 'test'}]\n"
        "[tool.poetry.dependencies]\npython = '^3.11'\njinja2 = '^2.10'\n"
        "numpy = {version = '1.24.0'}\nlocal = {path = '../local'}\n"
        "[tool.poetry.group.docs.dependencies]\nsphinx = '~5.1'\n"
    ),
    "poetry.lock": (
        '[[package]]\nname = "jinja2"\nversion = "2.11.3"\n\n'
        '[[package]]\nname = "markupsafe"\nversion = "1.1.1"\n'
    ),
    "uv.lock": (
        'version = 1\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
        '[[package]]\nname = "idna"\nversion = "3.6"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '\n[[package]]\nname = "tool"\nversion = "1.0"\nsource = { git = "https://x/tool.git" }\n'
    ),
    "Pipfile.lock": json.dumps(
        {
            "default": {"flask": {"version": "==0.12.2"}},
            "develop": {"black": {"version": "==22.3.0"}},
        }
    ),
    "pylock.toml": 'lock-version = "1.0"\n[[packages]]\nname = "certifi"\nversion = "2023.5.7"\n',
    "setup.py": (
        "from setuptools import setup\n"
        "setup(name='x', install_requires=['lxml==4.6.2', 'six'],\n"
        "      extras_require={'s3': ['boto3>=1.20']})\n"
    ),
    "setup.cfg": "[options]\ninstall_requires =\n    attrs==19.1.0\n    pillow\n",
}


def read(path: str) -> str | None:
    return FILES.get(path)


def test_every_format_gives_its_dependencies_with_file_and_line():
    m = read_manifest(list(FILES), read)
    deps = {(d.key, d.version or d.specifier, d.file) for d in m.dependencies if not d.url}
    expected = {
        ("requests", "2.30.0", "requirements.txt"),
        ("django", "<5,>=4.2", "requirements.txt"),
        ("urllib3", "1.26.5", "requirements/base.txt"),
        ("pyyaml", "5.3.1", "pyproject.toml"),
        ("click", ">=8", "pyproject.toml"),
        ("pytest", "~=7.4", "pyproject.toml"),
        ("ruff", "0.4.0", "pyproject.toml"),
        ("jinja2", ">=2.10,<3.0.0", "pyproject.toml"),
        ("numpy", "1.24.0", "pyproject.toml"),
        ("sphinx", ">=5.1,<5.2.0", "pyproject.toml"),
        ("jinja2", "2.11.3", "poetry.lock"),
        ("markupsafe", "1.1.1", "poetry.lock"),
        ("idna", "3.6", "uv.lock"),
        ("flask", "0.12.2", "Pipfile.lock"),
        ("black", "22.3.0", "Pipfile.lock"),
        ("certifi", "2023.5.7", "pylock.toml"),
        ("lxml", "4.6.2", "setup.py"),
        ("six", "", "setup.py"),
        ("boto3", ">=1.20", "setup.py"),
        ("attrs", "19.1.0", "setup.cfg"),
        ("pillow", "", "setup.cfg"),
    }
    assert deps == expected
    urls = {d.name for d in m.dependencies if d.url}
    assert urls == {"mylib", "./vendored", "local", "tool"}
    lines = {(d.key, d.file): d.line for d in m.dependencies}
    assert lines[("requests", "requirements.txt")] == 3
    assert lines[("django", "requirements.txt")] == 5
    assert lines[("markupsafe", "poetry.lock")] == 6
    assert lines[("lxml", "setup.py")] == 2
    # the project itself in uv.lock is not a dependency; includes never leave the repository
    assert "app" not in {d.key for d in m.dependencies}
    assert any("outside the repository" in p for p in m.problems)
    assert any("not a requirement pip would read" in p for p in m.problems)


def test_exact_versions_and_dependency_file_names():
    assert exact_version("==1.2.3") == "1.2.3" and exact_version("===1.0") == "1.0"
    assert exact_version("==1.*") is None and exact_version(">=1,<2") is None
    assert exact_version("") is None
    names = ("requirements.txt", "requirements-dev.in", "dev-requirements.txt",
             "requirements/test.txt", "poetry.lock", "pylock.dev.toml", "setup.cfg")  # fmt: skip
    for name in names:
        assert is_dependency_file(name), name
    for name in ("src/requirements.txt", "README.md", "docs/requirements.txt.bak"):
        assert not is_dependency_file(name), name


def test_broken_files_are_problems_not_crashes():
    broken = {"pyproject.toml": "[project\n", "setup.py": "setup(", "Pipfile.lock": "{"}
    m = read_manifest(list(broken), broken.get)
    assert m.dependencies == [] and len(m.problems) == 3


def test_includes_are_read_in_every_spelling_pip_takes_as_the_environment_reads_them():
    # one requirements reader serves the dependency lane and the project's environment
    from agents_app.env.project import _requirement_includes

    files = {
        "requirements.txt": (
            "-rrequirements/a.txt\n--requirement=requirements/b.txt\n"
            "--constraint requirements/c.txt\n-c=/etc/outside.txt\nflask==2.0.0\n"
        ),
        "requirements/a.txt": "urllib3==1.26.5\n",
        "requirements/b.txt": "idna==3.6\n",
        "requirements/c.txt": "certifi==2023.5.7\n",
    }
    m = read_manifest(["requirements.txt"], files.get)
    assert {d.name for d in m.dependencies} == {"flask", "urllib3", "idna", "certifi"}
    assert m.files == [
        "requirements.txt", "requirements/a.txt", "requirements/b.txt", "requirements/c.txt"
    ]  # fmt: skip
    assert [p for p in m.problems if "/etc/outside.txt" in p]
    assert _requirement_includes(files["requirements.txt"]) == [
        ("-r", "requirements/a.txt"), ("-r", "requirements/b.txt"),
        ("-c", "requirements/c.txt"), ("-c", "/etc/outside.txt"),
    ]  # fmt: skip
