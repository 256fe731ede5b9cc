"""The Docker sandbox's runner image: what it contains, its tag, and building it.

The image is built from ``docker/runners/python.Dockerfile`` on top of a base image:

* base ``tfactory-base:bookworm-<hash12>`` (hash of ``BASE_RECIPE``): ``debian:bookworm-slim``
  pulled and re-tagged where a registry answers, else Debian bookworm built locally with
  ``debootstrap --variant=minbase`` (as root) and ``docker import``ed;
* runner ``tfactory-runner-python:<hash16>``: the hash covers the Dockerfile, the pinned
  tool lists ``agents_app/env/tools/*.txt``, every file of ``agents_app/sandbox/runner_side/``
  (bytecode caches excluded), ``BASE_RECIPE``, the constants below and ``RECIPE_VERSION``,
  so the image is rebuilt only when one of them changes. The image carries the hash in
  its label ``org.tfactory.inputs``.

What the Docker backend can rely on inside the image (the Dockerfile mirrors these; a test
keeps them in step):

``RUNNER_UID`` / ``RUNNER_GID``  10001 / 10001: user and group ``runner``, home
    ``/home/runner``; the image's default user. ``/root`` is mode 0755 (and empty) so that
    host paths bind-mounted at the same path under ``/root/.tfactory`` are reachable.
``IMAGE_PYTHON``  ``/usr/bin/python3``: Debian bookworm's Python 3.11 with ``venv``; the
    interpreter that project environments for this sandbox are built with.
``TOOLS_DIR``  ``/opt/tfactory/tools``: one venv per TFactory tool, ``TOOLS_DIR/<name>``
    (``pynguin``, ``crosshair``), installed from ``agents_app/env/tools/<name>.txt`` with
    ``IMAGE_PYTHON`` (``TOOLS_DIR/<name>/bin/python``); root-owned, read-only for the runner.
``RUNNER_SIDE_DIR``  ``/opt/tfactory/runner_side``: a copy of ``agents_app/sandbox/runner_side``.
Also ``/usr/bin/tini`` as the entrypoint (``CMD sleep infinity``: the container idles and
TFactory ``exec``s into it), and procps (``ps``, ``pkill``). No secrets: the host's CA bundle
is used during the build only (the network may go through a TLS-inspecting proxy).

Building needs a Docker daemon; building the base without a registry needs root and
debootstrap. ``TFACTORY_RUNNER_BASE=auto|pull|debootstrap`` (default ``auto``: pull, then
debootstrap) chooses how the base is made; ``TFACTORY_DEBIAN_MIRROR`` overrides the mirror
debootstrap uses (default: the host's apt sources for bookworm, else deb.debian.org).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from agents_app.sandbox.base import RUNNER_SIDE

RUNNER_UID = 10001
RUNNER_GID = 10001
TOOLS_DIR = "/opt/tfactory/tools"
RUNNER_SIDE_DIR = "/opt/tfactory/runner_side"
IMAGE_PYTHON = "/usr/bin/python3"

# Bump when the way the image is built changes in a way the hashed files do not show.
RECIPE_VERSION = "1"

RUNNER_REPOSITORY = "tfactory-runner-python"
BASE_REPOSITORY = "tfactory-base"
INPUTS_LABEL = "org.tfactory.inputs"

# The base image: Debian bookworm with what the Dockerfile needs. The Dockerfile installs
# any of these packages a pulled base lacks; debootstrap includes them up front.
BASE_RECIPE: dict[str, Any] = {
    "version": 1,
    "suite": "bookworm",
    "pull": "debian:bookworm-slim",
    "variant": "minbase",
    "packages": ["ca-certificates", "procps", "python3", "python3-venv", "tini"],
    # removed from the debootstrapped tree before import (as debian's -slim images do)
    "trim": [
        "var/cache/apt/archives/*.deb",
        "var/lib/apt/lists/*",
        "usr/share/doc/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
    ],
}

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "docker" / "runners" / "python.Dockerfile"
TOOLENVS_DIR = REPO_ROOT / "agents_app" / "env" / "tools"
RUNNER_SIDE_SRC = RUNNER_SIDE
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PULL_TIMEOUT_S = 60.0
BUILD_TIMEOUT_S = 3600
DEBOOTSTRAP_TIMEOUT_S = 1800
ERROR_TAIL_LINES = 25

_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo")

Emit = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The runner image (or its base) could not be built; the message says why/what to do."""


class DockerUnavailable(ImageBuildError):
    """No Docker daemon answers."""


DOCKER_HINT = (
    "start the Docker daemon (`dockerd &`, or `systemctl start docker`), or install it "
    "(`apt-get install docker.io`)"
)


# ---------------------------------------------------------------------------------------
# Hashing the inputs


def _recipe_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def base_image_tag() -> str:
    """``tfactory-base:bookworm-<hash12>``, named after ``BASE_RECIPE``."""
    return f"{BASE_REPOSITORY}:{BASE_RECIPE['suite']}-{_recipe_digest(BASE_RECIPE)[:12]}"


def _files_under(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if _IGNORED_PARTS.intersection(rel.parts) or path.name.endswith(_IGNORED_SUFFIXES):
            continue
        if path.is_symlink():
            raise ImageBuildError(f"refusing a symlink among the runner image's inputs: {path}")
        if path.is_file():
            found.append(path)
    return found


def runner_image_inputs() -> list[tuple[str, Path]]:
    """The files the image is built from: (name in the build context, host path)."""
    if not DOCKERFILE.is_file():
        raise ImageBuildError(f"the runner Dockerfile is missing: {DOCKERFILE}")
    toolenvs = sorted(TOOLENVS_DIR.glob("*.txt"))
    if not toolenvs:
        raise ImageBuildError(f"no pinned tool lists (*.txt) in {TOOLENVS_DIR}")
    if not RUNNER_SIDE_SRC.is_dir():
        raise ImageBuildError(f"the runner-side helpers are missing: {RUNNER_SIDE_SRC}")
    inputs = [("Dockerfile", DOCKERFILE)]
    inputs += [(f"toolenvs/{p.name}", p) for p in toolenvs]
    inputs += [
        (f"runner_side/{p.relative_to(RUNNER_SIDE_SRC).as_posix()}", p)
        for p in _files_under(RUNNER_SIDE_SRC)
    ]
    return inputs


def runner_image_inputs_hash() -> str:
    """The full hex digest of everything the runner image is built from."""
    h = hashlib.sha256()
    recipe = {
        "recipe_version": RECIPE_VERSION,
        "base": BASE_RECIPE,
        "uid": RUNNER_UID,
        "gid": RUNNER_GID,
        "tools_dir": TOOLS_DIR,
        "runner_side_dir": RUNNER_SIDE_DIR,
        "python": IMAGE_PYTHON,
    }
    h.update(json.dumps(recipe, sort_keys=True).encode() + b"\0")
    for name, path in runner_image_inputs():
        data = path.read_bytes()
        executable = os.access(path, os.X_OK)
        h.update(f"{name}\0{len(data)}\0{int(executable)}\0".encode())
        h.update(data)
    return h.hexdigest()


def runner_image_tag() -> str:
    """``tfactory-runner-python:<hash16>``; changes exactly when the image's inputs do."""
    return f"{RUNNER_REPOSITORY}:{runner_image_inputs_hash()[:16]}"


# ---------------------------------------------------------------------------------------
# Docker helpers


def docker_client(timeout: int = 120):
    """A client for the local daemon (``DOCKER_HOST`` etc.), checked with a ping."""
    try:
        import docker  # noqa: PLC0415 - optional at import time of this module
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise DockerUnavailable(f"the docker Python SDK is not installed ({exc})") from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests errors, socket errors
        raise DockerUnavailable(f"no Docker daemon answers ({exc}): {DOCKER_HINT}") from exc
    return client


def image_exists(client, tag: str) -> bool:
    """Whether the daemon has an image named ``tag``."""
    import docker.errors  # noqa: PLC0415

    try:
        client.api.inspect_image(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One image build at a time on this host (across processes and threads)."""
    lock_dir = Path(settings.TFACTORY_CACHE_DIR) / "docker"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "runner-image.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------
# The base image


def debian_mirror() -> str:
    """The Debian mirror for debootstrap: ``TFACTORY_DEBIAN_MIRROR``, else the host's apt
    source for bookworm (not the security archive), else deb.debian.org."""
    override = os.environ.get("TFACTORY_DEBIAN_MIRROR", "").strip()
    if override:
        return override.rstrip("/")
    suite = BASE_RECIPE["suite"]
    for uri in _apt_source_uris(Path("/etc/apt"), suite):
        return uri.rstrip("/")
    return DEFAULT_MIRROR


def _apt_source_uris(apt_dir: Path, suite: str) -> list[str]:
    """http(s) URIs of the apt sources that serve ``suite`` (one-line and deb822 formats)."""
    uris: list[str] = []

    def consider(uri: str, suites: list[str]) -> None:
        if suite in suites and re.match(r"https?://", uri) and "security" not in uri:
            uris.append(uri)

    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in files:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(line) >= 3 and line[0] == "deb":
                    consider(line[1], [line[2]])
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace")
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    consider(uri, fields.get("suites", "").split())
    return uris


def _try_pull(client, ref: str, emit: Emit) -> bool:
    """Pull ``ref`` within ``PULL_TIMEOUT_S``; False when no registry answers in time."""
    repo, _, tag = ref.partition(":")
    outcome: dict[str, Any] = {}

    def pull() -> None:
        try:
            client.api.pull(repo, tag=tag or "latest")
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "no registry"
            outcome["error"] = exc

    worker = threading.Thread(target=pull, name="tfactory-base-pull", daemon=True)
    worker.start()
    worker.join(PULL_TIMEOUT_S)
    if worker.is_alive():
        emit(f"base: pulling {ref} did not finish within {PULL_TIMEOUT_S:.0f}s")
        return False
    if "error" in outcome:
        first = str(outcome["error"]).strip().splitlines()[0][:300]
        emit(f"base: cannot pull {ref}: {first}")
        return False
    return image_exists(client, ref)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix) or point == str(root):
                found.append(point)
    return found


def _remove_rootfs(root: Path) -> None:
    """Remove a debootstrap target, unmounting anything debootstrap left mounted in it
    first (removing files under a still-mounted /proc or /sys must never happen)."""
    for point in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    if _mounts_under(root):
        raise ImageBuildError(f"cannot unmount what debootstrap left mounted in {root}")
    shutil.rmtree(root, ignore_errors=True)


def _find_debootstrap() -> str | None:
    """debootstrap lives in /usr/sbin, which a non-login root shell may not have on PATH."""
    found = shutil.which("debootstrap")
    if found:
        return found
    return "/usr/sbin/debootstrap" if os.access("/usr/sbin/debootstrap", os.X_OK) else None


def _debootstrap_problem() -> str | None:
    if os.geteuid() != 0:
        return (
            "building the base image without a registry needs root (debootstrap): run "
            "`manage.py build_runner_image` as root, or make debian:bookworm-slim pullable"
        )
    if not _find_debootstrap():
        return (
            "building the base image without a registry needs debootstrap: "
            "`apt-get install debootstrap` (or make debian:bookworm-slim pullable)"
        )
    if not shutil.which("tar"):
        return "building the base image needs tar: `apt-get install tar`"
    return None


def _run_streamed(argv: list[str], emit: Emit, prefix: str, timeout_s: float) -> list[str]:
    """Run ``argv``, sending each output line to ``emit``; return the last lines.
    Raises ImageBuildError on failure or time-out."""
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
    )
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                emit(f"{prefix}{line}")
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0:
        how = (
            f"failed (exit {rc})"
            if rc > 0
            else f"was killed (signal {-rc}; timeout {timeout_s:.0f}s)"
        )
        raise ImageBuildError(f"{Path(argv[0]).name} {how}:\n" + "\n".join(tail))
    return list(tail)


def _debootstrap_base(client, tag: str, emit: Emit) -> None:
    problem = _debootstrap_problem()
    if problem:
        raise ImageBuildError(problem)
    mirror = debian_mirror()
    work_parent = Path(settings.TFACTORY_CACHE_DIR) / "docker" / "build"
    work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="base-", dir=work_parent))
    root = work / "rootfs"
    root.mkdir()
    debootstrap = _find_debootstrap() or "debootstrap"
    emit(
        f"base: no registry answered; building {tag} locally with debootstrap "
        f"({BASE_RECIPE['suite']}, {BASE_RECIPE['variant']}, mirror {mirror})"
    )
    started = time.monotonic()
    try:
        argv = [
            debootstrap,
            f"--variant={BASE_RECIPE['variant']}",
            "--include=" + ",".join(BASE_RECIPE["packages"]),
            "--components=main",
            BASE_RECIPE["suite"],
            str(root),
            mirror,
        ]
        try:
            _run_streamed(argv, emit, "debootstrap: ", DEBOOTSTRAP_TIMEOUT_S)
        except ImageBuildError as exc:
            log = root / "debootstrap" / "debootstrap.log"
            extra = ""
            with contextlib.suppress(OSError):
                extra = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise ImageBuildError(f"building the base image failed: {exc}\n{extra}") from exc
        for mount in _mounts_under(root):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        for pattern in BASE_RECIPE["trim"]:
            for path in root.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        tarball = work / "rootfs.tar"
        _run_streamed(
            [
                "tar",
                "--numeric-owner",
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "-C",
                str(root),
                "-cf",
                str(tarball),
                ".",
            ],
            emit,
            "tar: ",
            900,
        )
        bootstrapped = time.monotonic() - started
        repo, _, version = tag.partition(":")
        result = client.api.import_image(
            src=str(tarball),
            repository=repo,
            tag=version,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                'CMD ["/bin/bash"]',
                f"LABEL org.tfactory.base-recipe={_recipe_digest(BASE_RECIPE)[:12]}",
                "LABEL org.tfactory.base-source=debootstrap",
            ],
        )
        if "error" in str(result).lower() and not image_exists(client, tag):
            raise ImageBuildError(f"docker import of the base image failed: {result}")
        if not image_exists(client, tag):
            raise ImageBuildError(f"docker import did not produce {tag}: {result}")
        total = time.monotonic() - started
        emit(
            f"base: built {tag} with debootstrap in {total:.0f}s "
            f"(debootstrap + tar {bootstrapped:.0f}s, import {total - bootstrapped:.0f}s)"
        )
    finally:
        _remove_rootfs(work)


def ensure_base_image(client, *, emit: Emit = lambda m: None, force: bool = False) -> str:
    """The base image's tag, making the image first when it is missing (or ``force``).

    Call under ``_build_lock`` (``ensure_runner_image`` does)."""
    import docker.errors  # noqa: PLC0415

    tag = base_image_tag()
    if not force and image_exists(client, tag):
        emit(f"base: {tag} is present")
        return tag
    source = os.environ.get("TFACTORY_RUNNER_BASE", "auto").strip() or "auto"
    if source not in ("auto", "pull", "debootstrap"):
        raise ImageBuildError(f"TFACTORY_RUNNER_BASE must be auto, pull or debootstrap: {source!r}")
    if source in ("auto", "pull"):
        ref = BASE_RECIPE["pull"]
        if not force and image_exists(client, ref):
            emit(f"base: using the local {ref}")
            pulled = True
        else:
            emit(f"base: trying to pull {ref}")
            pulled = _try_pull(client, ref, emit)
        if pulled:
            repo, _, version = tag.partition(":")
            try:
                client.api.tag(ref, repo, version, force=True)
            except docker.errors.APIError as exc:
                raise ImageBuildError(f"cannot tag {ref} as {tag}: {exc}") from exc
            emit(f"base: took {ref} from the registry path and tagged it {tag}")
            return tag
        if source == "pull":
            raise ImageBuildError(f"cannot pull {BASE_RECIPE['pull']} (TFACTORY_RUNNER_BASE=pull)")
    _debootstrap_base(client, tag, emit)
    return tag


# ---------------------------------------------------------------------------------------
# The runner image


def _assemble_context(dest: Path) -> None:
    """Write the build context into ``dest``: exactly the hashed inputs, plus host-ca.crt."""
    for name, src in runner_image_inputs():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in [target.parent, *target.parent.parents]:
            if parent == dest:
                break
            parent.chmod(0o755)
        shutil.copyfile(src, target)
        target.chmod(0o755 if os.access(src, os.X_OK) else 0o644)
    ca = dest / "host-ca.crt"
    try:
        shutil.copyfile(HOST_CA_BUNDLE, ca)
    except OSError:
        ca.write_text("")  # the image's own ca-certificates are used alone
    ca.chmod(0o644)


class _BuildNetworkError(ImageBuildError):
    """The daemon could not give a build step a network (e.g. its bridge is missing)."""


_NETWORK_SETUP_ERROR = re.compile(
    r"failed to create endpoint|could not find bridge|docker0|"
    r"failed to set up container networking|network [^ ]+ not found",
    re.IGNORECASE,
)


def _docker_build(
    client,
    ctx: Path,
    tag: str,
    base_tag: str,
    inputs_hash: str,
    emit: Emit,
    *,
    nocache: bool,
    network_mode: str | None,
) -> None:
    """One ``docker build``; output lines go to ``emit``. Raises ImageBuildError with the
    failing step and the last lines of output."""
    import docker.errors  # noqa: PLC0415

    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    step = ""

    def failure(detail: object) -> ImageBuildError:
        where = (step[:200] + " …") if len(step) > 200 else (step or "the start")
        cls = _BuildNetworkError if _NETWORK_SETUP_ERROR.search(str(detail)) else ImageBuildError
        return cls(f"building {tag} failed at {where}: {detail}\n" + "\n".join(tail))

    try:
        stream = client.api.build(
            path=str(ctx),
            dockerfile="Dockerfile",
            tag=tag,
            buildargs={"BASE": base_tag},
            labels={INPUTS_LABEL: inputs_hash, "org.tfactory.base": base_tag},
            rm=True,
            forcerm=True,
            pull=False,
            nocache=nocache,
            decode=True,
            timeout=BUILD_TIMEOUT_S,
            network_mode=network_mode,
        )
        pending = ""
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                raise failure(chunk.get("errorDetail", {}).get("message") or chunk.get("error"))
            lines = (pending + (chunk.get("stream") or "")).split("\n")
            pending = lines.pop()
            for line in lines:
                line = line.rstrip()
                if not line:
                    continue
                if re.match(r"Step \d+/\d+ :", line):
                    step = line
                tail.append(line)
                emit(f"build: {line}")
            if chunk.get("status"):
                emit(f"build: {chunk['status']}")
        if pending.strip():
            emit(f"build: {pending.strip()}")
    except (docker.errors.DockerException, OSError) as exc:  # OSError: connection dropped
        raise failure(exc) from exc


def _build_runner(client, tag: str, base_tag: str, inputs_hash: str, emit: Emit, nocache: bool):
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tfactory-runner-ctx-") as ctx:
        _assemble_context(Path(ctx))
        emit(f"runner: building {tag} from {DOCKERFILE.name} on {base_tag}")
        args = (client, Path(ctx), tag, base_tag, inputs_hash, emit)
        try:
            _docker_build(*args, nocache=nocache, network_mode=None)
        except _BuildNetworkError as exc:
            # The build steps only fetch TFactory's own pinned tools; where the daemon's
            # bridge is broken, the host's network does the same job.
            emit(f"runner: the default bridge network failed ({str(exc).splitlines()[0][-160:]})")
            emit("runner: retrying the build with the host's network (network_mode=host)")
            _docker_build(*args, nocache=False, network_mode="host")
    if not image_exists(client, tag):
        raise ImageBuildError(f"the build ended without producing {tag}")
    size = client.api.inspect_image(tag).get("Size", 0)
    emit(f"runner: built {tag} in {time.monotonic() - started:.0f}s ({size / 1e6:.0f} MB)")


def ensure_runner_image(client=None, *, emit: Emit = lambda m: None, force: bool = False) -> str:
    """Return the runner image's tag, building it (and its base) first when missing.

    A present image is returned at once, without taking the lock. Builds are serialised
    by a file lock under ``TFACTORY_CACHE_DIR``, so concurrent callers build once.
    ``force`` rebuilds the base and the runner image without the layer cache.
    Raises ``DockerUnavailable`` when no daemon answers, ``ImageBuildError`` when a build
    fails (with the failing step's last lines)."""
    if client is None:
        client = docker_client()
    import docker.errors  # noqa: PLC0415

    inputs_hash = runner_image_inputs_hash()
    tag = f"{RUNNER_REPOSITORY}:{inputs_hash[:16]}"
    try:
        if not force and image_exists(client, tag):
            return tag
        with _build_lock():
            if not force and image_exists(client, tag):
                emit(f"runner: {tag} was built meanwhile")
                return tag
            base_tag = ensure_base_image(client, emit=emit, force=force)
            _build_runner(client, tag, base_tag, inputs_hash, emit, nocache=force)
    except docker.errors.DockerException as exc:
        raise ImageBuildError(f"Docker failed while preparing {tag}: {exc}") from exc
    except OSError as exc:  # includes requests' connection errors
        raise ImageBuildError(f"preparing {tag} failed: {exc}") from exc
    return tag
