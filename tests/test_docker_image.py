"""The Docker runner image: its tag, its build, and what the image contains.

The tag and the build bookkeeping are tested everywhere; the build itself and the image's
contents need a Docker daemon (skipped, with the reason, where none answers). The real
image is built once (or reused: its tag names its inputs) and shared by the tests.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents_app.sandbox import docker_image as di

# ---------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def docker_client():
    """A client for a daemon that answers, else skip with the reason."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Docker daemon answers ({type(exc).__name__}: {exc}); start dockerd")
    return client


@pytest.fixture(scope="session")
def runner_image(docker_client) -> str:
    """The real runner image, built when its inputs changed, else reused."""
    lines: list[str] = []
    tag = di.ensure_runner_image(docker_client, emit=lines.append)
    assert tag == di.runner_image_tag()
    return tag


@pytest.fixture
def inputs_copy(tmp_path, monkeypatch) -> dict[str, Path]:
    """A private copy of the image's inputs, with the module pointed at it."""
    root = tmp_path / "inputs"
    dockerfile = root / "python.Dockerfile"
    toolenvs = root / "toolenvs"
    runner_side = root / "runner_side"
    toolenvs.mkdir(parents=True)
    shutil.copyfile(di.DOCKERFILE, dockerfile)
    for txt in di.TOOLENVS_DIR.glob("*.txt"):
        shutil.copyfile(txt, toolenvs / txt.name)
    (toolenvs / "__init__.py").write_text("# not an input\n")
    shutil.copytree(
        di.RUNNER_SIDE_SRC, runner_side, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    monkeypatch.setattr(di, "DOCKERFILE", dockerfile)
    monkeypatch.setattr(di, "TOOLENVS_DIR", toolenvs)
    monkeypatch.setattr(di, "RUNNER_SIDE_SRC", runner_side)
    return {"dockerfile": dockerfile, "toolenvs": toolenvs, "runner_side": runner_side}


def run_in_image(client, tag: str, script: str, **kwargs) -> str:
    kwargs.setdefault("network_mode", "none")
    # not remove=True: the daemon may remove a quick container before its logs are read
    container = client.containers.run(tag, ["/bin/sh", "-c", script], detach=True, **kwargs)
    try:
        status = container.wait(timeout=300)
        out = container.logs(stdout=True, stderr=True).decode()
        if status.get("StatusCode"):
            raise AssertionError(f"exit {status['StatusCode']}: {out}")
        return out
    finally:
        container.remove(force=True)


# ---------------------------------------------------------------------------------------
# the tag (no daemon needed)


def _concurrently(fn, n: int, *, join_s: float) -> tuple[list, list[BaseException]]:
    """fn() in n threads at once: what they returned and what they raised."""
    results: list = []
    errors: list[BaseException] = []

    def call():
        try:
            results.append(fn())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_s)
    return results, errors


def test_tag_is_stable_and_names_every_input(inputs_copy, monkeypatch):
    real = di.runner_image_tag()
    assert real.startswith("tfactory-runner-python:")
    assert len(real.split(":")[1]) == 16
    # a copy of the same inputs elsewhere gives the same tag; asking twice changes nothing
    tag = di.runner_image_tag()
    assert tag == real == di.runner_image_tag()

    pins = inputs_copy["toolenvs"] / "pynguin.txt"
    original = pins.read_text()
    pins.write_text(original.replace("pynguin==", "pynguin==0.0.0+x"))
    bumped = di.runner_image_tag()
    assert bumped != tag
    pins.write_text(original)
    assert di.runner_image_tag() == tag

    helper = inputs_copy["runner_side"] / "tfactory_covexport.py"
    helper.write_text(helper.read_text() + "\n# changed\n")
    changed = di.runner_image_tag()
    assert changed not in (tag, bumped)

    # bytecode caches and files outside the inputs do not count; a new helper does
    cache = inputs_copy["runner_side"] / "__pycache__"
    cache.mkdir()
    (cache / "x.cpython-311.pyc").write_bytes(b"junk")
    (inputs_copy["toolenvs"] / "notes.md").write_text("not a pin list")
    assert di.runner_image_tag() == changed
    (inputs_copy["runner_side"] / "new_helper.py").write_text("X = 1\n")
    assert di.runner_image_tag() != changed

    # a new tool list, the Dockerfile and the base recipe are inputs too
    before = di.runner_image_tag()
    (inputs_copy["toolenvs"] / "newtool.txt").write_text("six==1.17.0\n")
    assert di.runner_image_tag() != before
    before = di.runner_image_tag()
    inputs_copy["dockerfile"].write_text(inputs_copy["dockerfile"].read_text() + "\n# x\n")
    assert di.runner_image_tag() != before
    before, base_before = di.runner_image_tag(), di.base_image_tag()
    monkeypatch.setitem(di.BASE_RECIPE, "packages", [*di.BASE_RECIPE["packages"], "less"])
    assert di.runner_image_tag() != before
    assert di.base_image_tag() != base_before


def test_base_tag_shape():
    tag = di.base_image_tag()
    repo, _, version = tag.partition(":")
    assert repo == "tfactory-base"
    assert version.startswith("bookworm-") and len(version) == len("bookworm-") + 12


def test_dockerfile_matches_the_constants():
    text = di.DOCKERFILE.read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("ARG BASE") < lines.index("FROM ${BASE}")
    assert f"--uid {di.RUNNER_UID}" in text and f"--gid {di.RUNNER_GID}" in text
    assert f"USER {di.RUNNER_UID}:{di.RUNNER_GID}" in text
    assert di.TOOLS_DIR in text and di.RUNNER_SIDE_DIR in text
    assert f"{di.IMAGE_PYTHON} -m venv" in text
    assert "chmod 0755 /root" in text
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in text
    assert 'CMD ["sleep", "infinity"]' in text
    # cache-friendly order: the tool venvs come before the runner-side helpers
    assert text.index("COPY toolenvs/") < text.index("COPY runner_side/")
    for pkg in di.BASE_RECIPE["packages"]:
        assert pkg in text


def test_build_context_is_exactly_the_inputs(inputs_copy, tmp_path):
    (inputs_copy["runner_side"] / "__pycache__").mkdir()
    (inputs_copy["runner_side"] / "__pycache__" / "a.pyc").write_bytes(b"x")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    di._assemble_context(ctx)
    found = sorted(
        str(p.relative_to(ctx)) for p in ctx.rglob("*") if p.is_file() and p.name != "host-ca.crt"
    )
    assert found == sorted(name for name, _ in di.runner_image_inputs())
    assert (ctx / "host-ca.crt").is_file()
    assert (ctx / "Dockerfile").read_bytes() == inputs_copy["dockerfile"].read_bytes()
    assert all(oct(p.stat().st_mode)[-3:] in ("644", "755") for p in ctx.rglob("*"))


def test_symlinked_input_is_refused(inputs_copy):
    (inputs_copy["runner_side"] / "evil.py").symlink_to("/etc/passwd")
    with pytest.raises(di.ImageBuildError, match="symlink"):
        di.runner_image_tag()


def test_debian_mirror_from_apt_sources(tmp_path, monkeypatch):
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "URIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\n\n"
        "Types: deb deb-src\n"
        "# a comment\n"
        "URIs: https://mirror.example.org/debian/\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    (apt / "sources.list").write_text(
        "deb [arch=amd64] http://other.example.org/debian bookworm main\n"
        "deb http://old.example.org/debian bullseye main\n"
    )
    uris = di._apt_source_uris(apt, "bookworm")
    assert uris == ["http://other.example.org/debian", "https://mirror.example.org/debian/"]
    monkeypatch.setenv("TFACTORY_DEBIAN_MIRROR", "http://override.example.org/debian/")
    assert di.debian_mirror() == "http://override.example.org/debian"


# ---------------------------------------------------------------------------------------
# the build bookkeeping, against a stand-in daemon


class FakeAPI:
    def __init__(self, present=(), pull_ok=False):
        self.present = set(present)
        self.pull_ok = pull_ok
        self.tagged: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def inspect_image(self, tag):
        import docker.errors

        with self.lock:
            if tag in self.present:
                return {"Id": "sha256:" + "0" * 64, "Size": 1}
        raise docker.errors.ImageNotFound(tag)

    def pull(self, repo, tag=None):
        import docker.errors

        if not self.pull_ok:
            raise docker.errors.APIError("no registry (test)")
        with self.lock:
            self.present.add(f"{repo}:{tag}")

    def tag(self, image, repo, tag, force=False):
        with self.lock:
            self.tagged.append((image, f"{repo}:{tag}"))
            self.present.add(f"{repo}:{tag}")


class FakeClient:
    def __init__(self, **kwargs):
        self.api = FakeAPI(**kwargs)


def test_base_is_pulled_and_tagged_when_a_registry_answers(settings, tmp_path):
    settings.TFACTORY_CACHE_DIR = tmp_path / "cache"
    client = FakeClient(pull_ok=True)
    lines: list[str] = []
    tag = di.ensure_base_image(client, emit=lines.append)
    assert tag == di.base_image_tag()
    assert client.api.tagged == [(di.BASE_RECIPE["pull"], tag)]
    assert any("trying to pull debian:bookworm-slim" in line for line in lines)
    assert any("from the registry path" in line for line in lines)


def test_base_without_registry_needs_root(settings, tmp_path, monkeypatch):
    settings.TFACTORY_CACHE_DIR = tmp_path / "cache"
    monkeypatch.setattr(di.os, "geteuid", lambda: 1000)
    lines: list[str] = []
    with pytest.raises(di.ImageBuildError, match="needs root"):
        di.ensure_base_image(FakeClient(), emit=lines.append)
    assert any("cannot pull" in line for line in lines)


def test_base_without_registry_needs_debootstrap(settings, tmp_path, monkeypatch):
    settings.TFACTORY_CACHE_DIR = tmp_path / "cache"
    monkeypatch.setattr(di.os, "geteuid", lambda: 0)
    monkeypatch.setattr(di, "_find_debootstrap", lambda: None)
    with pytest.raises(di.ImageBuildError, match="apt-get install debootstrap"):
        di.ensure_base_image(FakeClient())


def test_concurrent_ensure_builds_once(settings, tmp_path, monkeypatch):
    """Threads (each with its own lock file handle, as separate processes have) build once."""
    settings.TFACTORY_CACHE_DIR = tmp_path / "cache"
    client = FakeClient(present={di.base_image_tag()})
    builds: list[str] = []

    def fake_build(client_, tag, base_tag, inputs_hash, emit, nocache):
        builds.append(tag)
        time.sleep(0.5)
        with client_.api.lock:
            client_.api.present.add(tag)

    monkeypatch.setattr(di, "_build_runner", fake_build)
    results, errors = _concurrently(lambda: di.ensure_runner_image(client), 6, join_s=30)
    assert not errors
    assert results == [di.runner_image_tag()] * 6
    assert builds == [di.runner_image_tag()]
    # force rebuilds the base and the image even though they are there
    bases: list[bool] = []

    def fake_base(client_, *, emit, force):
        bases.append(force)
        return di.base_image_tag()

    monkeypatch.setattr(di, "ensure_base_image", fake_base)
    di.ensure_runner_image(client, force=True)
    assert len(builds) == 2 and bases == [True]


def test_command_print_tag_needs_no_daemon(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    out = io.StringIO()
    call_command("build_runner_image", "--print-tag", stdout=out)
    assert out.getvalue().strip() == di.runner_image_tag()


def test_command_without_daemon_says_what_to_do(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(CommandError) as err:
        call_command("build_runner_image", stdout=io.StringIO(), stderr=io.StringIO())
    message = str(err.value)
    assert "no Docker daemon answers" in message
    assert "dockerd" in message and "docker.io" in message


# ---------------------------------------------------------------------------------------
# the real image (Docker daemon needed)


@pytest.mark.slow
def test_image_contents(docker_client, runner_image):
    attrs = docker_client.api.inspect_image(runner_image)
    config = attrs["Config"]
    assert config["User"] == f"{di.RUNNER_UID}:{di.RUNNER_GID}"
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["Cmd"] == ["sleep", "infinity"]
    assert config["Labels"][di.INPUTS_LABEL] == di.runner_image_inputs_hash()
    assert not any(e.startswith(("PIP_CERT", "SSL_CERT_FILE")) for e in config["Env"])

    out = run_in_image(
        docker_client,
        runner_image,
        f"""set -e
        echo uid=$(id -u) gid=$(id -g) home=$HOME
        {di.IMAGE_PYTHON} -c "import sys; print('py', sys.version)"
        {di.TOOLS_DIR}/pynguin/bin/python -m pynguin --help > /tmp/help.txt
        grep -q -- --project-path /tmp/help.txt && echo pynguin-ok
        {di.TOOLS_DIR}/crosshair/bin/python -c "import crosshair, z3; print('crosshair-ok')"
        {di.TOOLS_DIR}/pynguin/bin/python -c "import sys; print('toolpy', sys.base_prefix)"
        ls {di.RUNNER_SIDE_DIR}
        test -x /root && echo root-traversable
        command -v pkill ps > /dev/null && echo procps-ok
        touch {di.TOOLS_DIR}/x 2>/dev/null || echo tools-read-only
        test ! -e /tmp/tfactory-build && echo no-build-leftovers
        """,
        environment={"PYNGUIN_DANGER_AWARE": "1"},
    )
    assert f"uid={di.RUNNER_UID} gid={di.RUNNER_GID} home=/home/runner" in out
    assert "py 3.11." in out
    assert "pynguin-ok" in out and "crosshair-ok" in out
    assert "toolpy /usr" in out  # the venvs are built on the image's Python
    for name in ("tfactory_covexport.py", "tfactory_pytest_plugin.py", "boot"):
        assert name in out
    for marker in ("root-traversable", "procps-ok", "tools-read-only", "no-build-leftovers"):
        assert marker in out, out


@pytest.mark.slow
def test_host_path_under_root_is_reachable_by_the_runner(docker_client, runner_image):
    """TFactory mounts host paths at the same path, often under /root/.tfactory."""
    host = Path(tempfile.mkdtemp(prefix="tfactory-imgtest-"))
    try:
        host.chmod(0o755)
        (host / "probe.txt").write_text("reachable\n")
        (host / "probe.txt").chmod(0o644)
        inside = f"/root/.tfactory/probe-{uuid.uuid4().hex[:8]}"
        out = run_in_image(
            docker_client,
            runner_image,
            f"id -u; cat {inside}/probe.txt",
            volumes={str(host): {"bind": inside, "mode": "ro"}},
        )
        assert out.split() == [str(di.RUNNER_UID), "reachable"]
    finally:
        shutil.rmtree(host, ignore_errors=True)


@pytest.mark.slow
def test_second_ensure_is_a_no_op(docker_client, runner_image, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("must not build")

    monkeypatch.setattr(di, "_build_runner", no_build)
    monkeypatch.setattr(di, "ensure_base_image", no_build)
    started = time.monotonic()
    assert di.ensure_runner_image(docker_client) == runner_image
    assert time.monotonic() - started < 2.0


@pytest.mark.slow
def test_concurrent_real_builds_build_once(docker_client, runner_image, inputs_copy, monkeypatch):
    """A new input (a unique runner-side file) gives a new tag; several callers at once
    build it once, reusing the layer cache for the tool environments."""
    (inputs_copy["runner_side"] / "unique_marker.txt").write_text(uuid.uuid4().hex)
    tag = di.runner_image_tag()
    assert tag != runner_image
    builds: list[str] = []
    real_build = di._build_runner

    def counting_build(*args, **kwargs):
        builds.append(args[1])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(di, "_build_runner", counting_build)
    try:
        results, errors = _concurrently(
            lambda: di.ensure_runner_image(docker_client), 3, join_s=600
        )
        assert not errors, errors
        assert results == [tag] * 3
        assert builds == [tag]
        out = run_in_image(docker_client, tag, f"cat {di.RUNNER_SIDE_DIR}/unique_marker.txt")
        assert out.strip() == (inputs_copy["runner_side"] / "unique_marker.txt").read_text()
    finally:
        if di.image_exists(docker_client, tag):
            docker_client.api.remove_image(tag, noprune=False)
    assert di.image_exists(docker_client, runner_image)


@pytest.mark.slow
def test_failed_build_reports_the_step(docker_client, runner_image, inputs_copy):
    inputs_copy["dockerfile"].write_text(
        "ARG BASE\nFROM ${BASE}\nRUN echo tfactory-marker-before-failure && exit 3\n"
    )
    tag = di.runner_image_tag()
    lines: list[str] = []
    with pytest.raises(di.ImageBuildError) as err:
        di.ensure_runner_image(docker_client, emit=lines.append)
    message = str(err.value)
    assert "Step 3/" in message and "tfactory-marker-before-failure" in message
    assert "returned a non-zero code: 3" in message
    assert not di.image_exists(docker_client, tag)
    assert any("tfactory-marker-before-failure" in line for line in lines)


def test_image_exists(docker_client):
    assert not di.image_exists(docker_client, f"tfactory-nonexistent:{uuid.uuid4().hex[:12]}")


def test_docker_client_reports_a_missing_daemon(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(di.DockerUnavailable, match="start the Docker daemon"):
        di.docker_client(timeout=5)
    assert os.environ["DOCKER_HOST"].startswith("unix://")


def test_a_local_debian_slim_is_used_without_pulling(settings, tmp_path):
    settings.TFACTORY_CACHE_DIR = tmp_path / "cache"
    client = FakeClient(present={di.BASE_RECIPE["pull"]}, pull_ok=False)
    lines: list[str] = []
    assert di.ensure_base_image(client, emit=lines.append) == di.base_image_tag()
    assert client.api.tagged == [(di.BASE_RECIPE["pull"], di.base_image_tag())]
    assert not any("trying to pull" in line for line in lines)
