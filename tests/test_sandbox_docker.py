"""The Docker sandbox backend against a real daemon and the real runner image.

Nothing of ours is mocked: containers are made from ``ensure_runner_image()``, commands
are untrusted-looking programs, and the daemon-death test kills a second, private dockerd
with SIGKILL. Skipped, with the reason, only when no Docker daemon answers.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from agents_app.sandbox import Limits, Mount, RunResult, SandboxError, get_sandbox
from agents_app.sandbox.base import SandboxUnavailable
from tests.test_sandbox import run_runaway

docker_sdk = pytest.importorskip("docker")

from agents_app.sandbox import docker as dsb  # noqa: E402 - after the importorskip
from agents_app.sandbox.docker import (  # noqa: E402
    DockerSandbox,
    DockerSession,
    container_name,
    docker_problem,
    reap_orphan_containers,
)

PROBLEM = docker_problem()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROBLEM is not None, reason=f"no Docker daemon: {PROBLEM}"),
]

PY = "/usr/bin/python3"  # the image's interpreter (IMAGE_PYTHON)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    made = docker_sdk.from_env(timeout=120)
    yield made
    made.close()


@pytest.fixture(scope="module")
def image(client) -> str:
    """The real runner image (built once when its inputs changed, else reused)."""
    from agents_app.sandbox.docker_image import ensure_runner_image

    return ensure_runner_image(client)


@pytest.fixture(scope="module")
def sandbox(image) -> DockerSandbox:
    return DockerSandbox(Limits(wall_s=60), image=image)


def make_sandbox(image: str, **limits) -> DockerSandbox:
    return DockerSandbox(Limits(**{"wall_s": 60, **limits}), image=image)


@pytest.fixture
def work(tmp_path, sandbox) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    sandbox.prepare_writable(path)
    return path


@pytest.fixture
def session_factory(sandbox):
    made: list[DockerSession] = []

    def make(mounts, *, box: DockerSandbox | None = None, key: str | None = None):
        session = (box or sandbox).session(
            key or f"test-{uuid.uuid4().hex[:12]}", mounts=mounts, labels={"org.tfactory.test": "1"}
        )
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def py(box, code: str, work: Path, **kwargs) -> RunResult:
    mounts = kwargs.pop("mounts", [Mount(work, writable=True)])
    return box.run([PY, "-c", textwrap.dedent(code)], mounts=mounts, workdir=work, **kwargs)


def processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token`` (containers share the host's /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(entry))
    return found


def container_exists(client, cid: str) -> bool:
    try:
        client.api.inspect_container(cid)
    except docker_sdk.errors.NotFound:
        return False
    return True


# -- filesystem -----------------------------------------------------------------------------


def test_read_only_mount_refuses_writes_even_for_the_owner(sandbox, tmp_path, work):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("original\n")
    sandbox.prepare_writable(repo)  # owned by the container user: only the mount stops it
    result = py(
        sandbox,
        f"""
        for name in ("app.py", "new.py"):
            try:
                open({str(repo)!r} + "/" + name, "w").write("pwned")
            except OSError as exc:
                print("errno", exc.errno)
        """,
        work,
        mounts=[Mount(repo), Mount(work, writable=True)],
    )
    assert result.ok, result.stderr
    assert result.stdout.split() == ["errno", str(errno.EROFS), "errno", str(errno.EROFS)]
    assert (repo / "app.py").read_text() == "original\n"
    assert not (repo / "new.py").exists()


def test_writable_mount_writes_reach_the_host_as_the_runner_user(sandbox, work):
    result = py(sandbox, "open('out.txt', 'w').write('hello from inside')", work)
    assert result.ok, result.stderr
    assert (work / "out.txt").read_text() == "hello from inside"
    assert (work / "out.txt").stat().st_uid == dsb.RUNNER_UID


def test_a_writable_parent_given_last_does_not_hide_a_read_only_child(sandbox, tmp_path):
    parent = tmp_path / "scratch"
    (parent / "repo").mkdir(parents=True)
    (parent / "repo" / "f.txt").write_text("keep")
    sandbox.prepare_writable(parent)
    result = sandbox.run(
        ["sh", "-c", "echo changed > repo/f.txt"],
        mounts=[Mount(parent / "repo"), Mount(parent, writable=True)],
        workdir=parent,
    )
    assert not result.ok
    assert "Read-only file system" in result.stderr
    assert (parent / "repo" / "f.txt").read_text() == "keep"


def test_root_filesystem_is_read_only_and_tmp_is_a_private_capped_tmpfs(image, work):
    box = make_sandbox(image, tmp_mb=2, file_mb=None)
    result = box.run(
        [
            "sh",
            "-c",
            "touch /usr/x 2>&1; touch /etc/x 2>&1; head -c 4000000 /dev/zero > /tmp/fill",
        ],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.returncode != 0
    assert result.stdout.count("Read-only file system") == 2, result.stdout
    assert "No space left on device" in result.stderr


def test_host_secrets_environment_and_docker_socket_are_invisible(
    sandbox, tmp_path, work, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-secret-value")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    home = Path.home()
    home_secret = home / f".tfactory-test-secret-{uuid.uuid4().hex}"
    home_secret.write_text("secret in the host's home")
    try:
        result = py(
            sandbox,
            f"""
            import json, os
            print(json.dumps({{
                "env": dict(os.environ),
                "outside": os.path.exists({str(outside)!r}),
                "home_secret": os.path.exists({str(home_secret)!r}),
                "home_ssh": os.path.exists({str(home / ".ssh")!r}),
                "sockets": [p for p in ("/var/run/docker.sock", "/run/docker.sock",
                            "/run/containerd/containerd.sock") if os.path.exists(p)],
                "pid1": open("/proc/1/cmdline", "rb").read().decode(errors="replace"),
                "hostname": open("/etc/hostname").read().strip(),
            }}))
            """,
            work,
            env={"TFACTORY_TEST_VALUE": "value-that-must-not-be-in-argv"},
        )
    finally:
        home_secret.unlink()
    assert result.ok, result.stderr
    seen = json.loads(result.stdout)
    assert "ANTHROPIC_API_KEY" not in seen["env"] and "GITHUB_TOKEN" not in seen["env"]
    assert "secret-value" not in result.stdout
    assert seen["env"]["TFACTORY_TEST_VALUE"] == "value-that-must-not-be-in-argv"
    assert seen["env"]["HOME"] == str(work)
    assert seen["env"]["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert len(seen["env"]["TFACTORY_RUN"]) == 32
    assert seen["outside"] is False and seen["home_secret"] is False
    assert seen["home_ssh"] is False
    assert seen["sockets"] == []
    assert "value-that-must-not-be-in-argv" not in seen["pid1"]
    assert seen["hostname"] == "tfactory-sandbox"


def test_runs_as_10001_without_capabilities_and_with_no_new_privileges(sandbox, work):
    result = sandbox.run(
        [
            "sh",
            "-c",
            "id -u; id -g; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status",
        ],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.ok, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "10001" and lines[1] == "10001"
    status = dict(line.split(":\t") for line in lines[2:] if line)
    assert status["CapEff"] == "0000000000000000"
    assert status["CapPrm"] == "0000000000000000"
    assert status["CapBnd"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1"


def test_prepare_writable_never_follows_links(sandbox, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    folder = tmp_path / "fresh"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_text("x")
    (folder / "link").symlink_to(outside)
    (folder / "dirlink").symlink_to(tmp_path)
    sandbox.prepare_writable(folder)
    for path in (folder, folder / "sub", folder / "sub" / "f"):
        assert path.stat().st_uid == dsb.RUNNER_UID, path
    assert os.lstat(folder / "link").st_uid == dsb.RUNNER_UID
    assert outside.stat().st_uid == os.getuid()
    assert tmp_path.stat().st_uid == os.getuid()


# -- network --------------------------------------------------------------------------------


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("0.0.0.0", 0))  # noqa: S104 - reached from the bridge network in a test
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect(({host!r}, {port}))
except OSError as exc:
    print("connect failed:", exc)
    sys.exit(1)
print("connected")
"""

RESOLVE = """
import socket, sys
try:
    socket.getaddrinfo("pypi.org", 443)
except OSError as exc:
    print("resolve failed:", exc)
    sys.exit(1)
print("resolved")
"""


def bridge_gateway(client) -> str | None:
    try:
        config = client.api.inspect_network("bridge")["IPAM"]["Config"]
    except Exception:  # noqa: BLE001
        return None
    for c in config or []:
        if c.get("Gateway"):
            return c["Gateway"]
        # newer daemons leave the default bridge's gateway out of IPAM; it is the subnet's
        # first address (docker0's)
        if c.get("Subnet") and ":" not in c["Subnet"]:
            return str(next(ipaddress.ip_network(c["Subnet"]).hosts()))
    return None


def test_network_is_off(sandbox, work, listener, client):
    targets = [("1.1.1.1", 443), ("8.8.8.8", 53), ("127.0.0.1", listener)]
    gateway = bridge_gateway(client)
    if gateway:
        targets.append((gateway, listener))
    for host, port in targets:
        inside = py(sandbox, CONNECT.format(host=host, port=port), work, timeout_s=20)
        assert inside.returncode == 1, (host, inside.stdout + inside.stderr)
        assert "connect failed" in inside.stdout
    dns = py(sandbox, RESOLVE, work, timeout_s=20)
    assert dns.returncode == 1 and "resolve failed" in dns.stdout


def test_network_true_reaches_the_host_and_sees_the_ca_bundle(sandbox, work, listener, client):
    gateway = bridge_gateway(client)
    # the default bridge's gateway is the host; where the daemon's bridge is broken the
    # backend falls back to the host's network, where the host is 127.0.0.1
    result = py(sandbox, CONNECT.format(host=gateway or "127.0.0.1", port=listener), work,
                network=True)  # fmt: skip
    if sandbox.bridge_problem is None and gateway is None:
        pytest.fail(f"no bridge gateway, yet the bridge worked: {result}")
    if result.returncode == 1 and "timed out" in result.stdout:
        pytest.skip(f"the host firewall drops bridge traffic to {gateway}: {result.stdout}")
    assert result.ok and "connected" in result.stdout, result.stdout + result.stderr
    if sandbox.bridge_problem is not None:
        assert any("host's network" in note for note in sandbox.describe()["notes"])
    ca = Path(dsb.CA_BUNDLE)
    if ca.exists():
        same = py(sandbox, f"print(len(open({str(ca)!r}, 'rb').read()))", work, network=True)
        assert same.stdout.strip() == str(ca.stat().st_size)


PIP_CONFIGS = [p for p in dsb.NETWORK_ONLY_FILES if os.path.exists(p)]


@pytest.mark.skipif(not PIP_CONFIGS, reason="no /etc/pip.conf or /etc/xdg/pip on this host")
def test_pip_configuration_is_only_visible_with_network(sandbox, work):
    code = f"import json, os; print(json.dumps([os.path.exists(p) for p in {PIP_CONFIGS!r}]))"
    offline = py(sandbox, code, work)
    assert offline.ok, offline.stderr
    assert offline.stdout.strip() == json.dumps([False] * len(PIP_CONFIGS))
    online = py(sandbox, code, work, network=True)
    assert online.ok, online.stderr
    assert online.stdout.strip() == json.dumps([True] * len(PIP_CONFIGS))


# -- wall time, cancel, runaway trees -------------------------------------------------------


def _assert_contained(marker: Path, token: str) -> None:
    time.sleep(3.5)
    assert not marker.exists(), "a grandchild survived the kill and wrote its marker"
    assert processes_with(token) == []


def test_wall_time_kills_a_runaway_tree_one_off(sandbox, work):
    result, marker, token, elapsed = run_runaway(sandbox, work, python=PY, timeout_s=1.5)
    assert result.timed_out and not result.ok and result.returncode is None
    assert result.limit_hit == "wall_time"
    assert elapsed < 3.5, elapsed
    assert "started" in result.stdout
    _assert_contained(marker, token)


def test_wall_time_kills_a_runaway_tree_in_a_session(session_factory, work):
    session = session_factory([Mount(work, writable=True)])
    result, marker, token, elapsed = run_runaway(session, work, python=PY, timeout_s=1.5)
    assert result.timed_out and result.limit_hit == "wall_time" and result.returncode is None
    assert elapsed < 3.5, elapsed
    assert "started" in result.stdout
    _assert_contained(marker, token)
    assert session.run(["true"], workdir=work).ok  # the container lives on


def test_cancel_stops_the_run(sandbox, session_factory, work):
    for runner in (sandbox, session_factory([Mount(work, writable=True)])):
        cancel = threading.Event()
        threading.Timer(1.0, cancel.set).start()
        result, marker, token, elapsed = run_runaway(
            runner, work, python=PY, timeout_s=30, cancel=cancel
        )
        assert result.cancelled and not result.timed_out and not result.ok
        assert result.limit_hit == "cancelled"
        assert elapsed < 3.0, elapsed
        _assert_contained(marker, token)


def test_leftover_background_processes_of_a_finished_run_are_killed(session_factory, work):
    session = session_factory([Mount(work, writable=True)])
    token = f"tf-daemon-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = session.run(
        ["sh", "-c", f"(setsid sleep 30 {token} &); (env -i sleep 31 {token} &); exit 0"],
        workdir=work,
    )
    assert result.ok, result.stderr
    assert time.monotonic() - started < 3
    time.sleep(0.3)
    assert processes_with(token) == []


# -- limits ---------------------------------------------------------------------------------


def test_memory_hog_is_killed_and_the_session_and_other_runs_survive(image, session_factory, work):
    box = make_sandbox(image, memory_mb=256)
    session = session_factory([Mount(work, writable=True)], box=box)
    assert session.run(["true"], workdir=work).ok
    cid = session.container_id
    other: dict[str, RunResult] = {}
    thread = threading.Thread(
        target=lambda: other.setdefault(
            "r", session.run(["sh", "-c", "sleep 4; echo survived"], workdir=work, timeout_s=30)
        )
    )
    thread.start()
    time.sleep(0.5)
    hog = session.run([PY, "-c", "b = bytearray(1024 * 1024 * 1024); print(len(b))"], workdir=work)
    thread.join(30)
    assert hog.returncode not in (0, None)
    assert hog.limit_hit == "memory", hog
    assert other["r"].ok and other["r"].stdout.strip() == "survived", other["r"]
    assert other["r"].limit_hit is None
    after = session.run([PY, "-c", "b = bytearray(64 * 1024 * 1024)"], workdir=work)
    assert after.ok, after.stderr
    assert session.container_id == cid


def test_fork_bomb_hits_the_pids_limit_and_the_session_survives(image, session_factory, work):
    box = make_sandbox(image, pids=40)
    session = session_factory([Mount(work, writable=True)], box=box)
    code = """
    import os, time
    for _ in range(100):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
    """
    result = session.run([PY, "-c", textwrap.dedent(code)], workdir=work, timeout_s=30)
    assert result.returncode not in (0, None)
    assert "BlockingIOError" in result.stderr or "Resource temporarily" in result.stderr
    assert result.limit_hit == "pids"
    # an endless bomb that keeps the limit full is still stopped at the wall time
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    started = time.monotonic()
    endless = session.run([PY, "-c", bomb], workdir=work, timeout_s=2)
    assert endless.timed_out and endless.limit_hit == "wall_time"
    assert time.monotonic() - started < 15
    after = session.run(["sh", "-c", "echo alive"], workdir=work)
    assert after.ok and after.stdout.strip() == "alive", after


def test_file_size_limit(image, work):
    box = make_sandbox(image, file_mb=1)
    result = py(box, "open('big', 'wb').write(b'x' * (2 * 1024 * 1024))", work)
    assert result.returncode not in (0, None)
    assert result.limit_hit == "file_size"
    assert (work / "big").stat().st_size <= 1024 * 1024
    result = box.run(
        ["sh", "-c", "head -c 3000000 /dev/zero > big2"],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.returncode == 128 + signal.SIGXFSZ
    assert result.limit_hit == "file_size", result


# -- sessions -------------------------------------------------------------------------------


def test_session_reuses_one_container_and_replaces_it_when_mounts_change(
    sandbox, session_factory, work, tmp_path, client
):
    key = f"test-reuse-{uuid.uuid4().hex[:8]}"
    session = session_factory([Mount(work, writable=True)], key=key)
    first = session.run(["sh", "-c", "echo $TFACTORY_RUN"], workdir=work)
    cid = session.container_id
    second = session.run(["sh", "-c", "echo $TFACTORY_RUN"], workdir=work)
    assert first.ok and second.ok and first.stdout != second.stdout
    assert session.container_id == cid
    info = client.api.inspect_container(cid)
    assert info["Name"] == "/" + container_name(key)
    labels = info["Config"]["Labels"]
    assert labels["org.tfactory.task"] == key and labels["org.tfactory.test"] == "1"
    assert labels["org.tfactory.owner"].endswith(f":{os.getpid()}")
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["Init"] is True and host["PidsLimit"] == 512
    assert host["Memory"] == host["MemorySwap"] == 4096 * 1024 * 1024
    # a second session object for the same task and mounts (a later stage) reuses it
    again = session_factory([Mount(work, writable=True)], key=key)
    assert again.run(["true"], workdir=work).ok
    assert again.container_id == cid
    # different mounts: the old container is replaced
    other = tmp_path / "other"
    other.mkdir()
    changed = session_factory([Mount(work, writable=True), Mount(other)], key=key)
    assert changed.run(["true"], workdir=work).ok
    assert changed.container_id != cid
    assert not container_exists(client, cid)


def test_concurrent_runs_one_times_out_the_other_completes(session_factory, work):
    session = session_factory([Mount(work, writable=True)])
    token = f"tf-slow-{uuid.uuid4().hex}"
    results: dict[str, RunResult] = {}

    def slow() -> None:
        results["slow"] = session.run(
            ["sh", "-c", f"sleep 4; echo finished > done-{token}; echo finished"],
            workdir=work,
            timeout_s=30,
        )

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    stuck = session.run(["sh", "-c", f"(setsid sleep 60 {token}x &); sleep 60"], workdir=work,
                        timeout_s=1)  # fmt: skip
    assert stuck.timed_out and stuck.limit_hit == "wall_time"
    thread.join(30)
    assert results["slow"].ok and results["slow"].stdout.strip() == "finished", results["slow"]
    assert (work / f"done-{token}").exists()
    assert processes_with(f"{token}x") == []


def test_a_runs_reaper_spares_the_background_processes_of_other_active_runs(session_factory, work):
    session = session_factory([Mount(work, writable=True)])
    token = f"tf-spare-{uuid.uuid4().hex}"
    results: dict[str, RunResult] = {}

    def long_run() -> None:
        # its own detached helper (an orphan of pid 1 carrying this run's marker) must
        # keep running while this run is active, whatever other runs' reapers do
        results["a"] = session.run(
            ["sh", "-c", f"(setsid sleep 60 {token} &); sleep 3; pgrep -f {token} >/dev/null"
             " && echo helper-alive"],
            workdir=work,
            timeout_s=30,
        )  # fmt: skip

    thread = threading.Thread(target=long_run)
    thread.start()
    time.sleep(1)
    for _ in range(3):  # other runs end, each followed by its reaper
        assert session.run(["sh", "-c", "(setsid sleep 50 &); true"], workdir=work).ok
    thread.join(30)
    assert results["a"].ok and results["a"].stdout.strip() == "helper-alive", results["a"]
    time.sleep(0.3)
    assert processes_with(token) == []  # and killed once its run ended


def test_prepare_writable_without_root_uses_a_throwaway_container(sandbox, tmp_path, monkeypatch):
    folder = tmp_path / "fresh"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    (folder / "link").symlink_to(outside)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    sandbox.prepare_writable(folder)
    for path in (folder, folder / "sub", folder / "sub" / "f"):
        assert path.stat().st_uid == dsb.RUNNER_UID, path
    assert outside.stat().st_uid != dsb.RUNNER_UID


def test_extra_mounts_must_lie_inside_the_session_mounts(session_factory, tmp_path, work):
    ro = tmp_path / "ro"
    (ro / "inner").mkdir(parents=True)
    (work / "out").mkdir()
    session = session_factory([Mount(work, writable=True), Mount(ro)])
    assert session.run(["true"], workdir=work, extra_mounts=[Mount(work / "out", writable=True)]).ok
    assert session.run(["true"], workdir=work, extra_mounts=[Mount(ro / "inner")]).ok
    with pytest.raises(ValueError, match="not inside"):
        session.run(["true"], workdir=work, extra_mounts=[Mount(tmp_path / "elsewhere")])
    with pytest.raises(ValueError, match="read-only"):
        session.run(["true"], workdir=work, extra_mounts=[Mount(ro / "inner", writable=True)])


def test_close_removes_the_container_and_is_idempotent(session_factory, work, client):
    session = session_factory([Mount(work, writable=True)])
    assert session.run(["true"], workdir=work).ok
    cid = session.container_id
    assert container_exists(client, cid)
    session.close()
    assert not container_exists(client, cid)
    session.close()
    with pytest.raises(SandboxError, match="closed"):
        session.run(["true"], workdir=work)


def test_a_container_removed_under_a_session_is_made_again(session_factory, work, client):
    session = session_factory([Mount(work, writable=True)])
    assert session.run(["true"], workdir=work).ok
    client.api.remove_container(session.container_id, force=True)
    assert session.run(["sh", "-c", "echo again"], workdir=work).stdout.strip() == "again"


def test_kill_minus_one_cannot_stop_the_container(session_factory, work):
    session = session_factory([Mount(work, writable=True)])
    assert session.run(["true"], workdir=work).ok
    cid = session.container_id
    session.run(["sh", "-c", "kill -9 -1; kill -TERM 1; kill -9 1"], workdir=work)
    assert session.run(["sh", "-c", "echo alive"], workdir=work).stdout.strip() == "alive"
    assert session.container_id == cid


# -- output and the sandbox's own failures --------------------------------------------------


def test_large_output_is_truncated_with_a_marker_and_keeps_the_tail(sandbox, work):
    code = "import sys; sys.stdout.write('a' * 200000 + 'THE END'); sys.stderr.write('e' * 10)"
    result = py(sandbox, code, work, output_limit=1000)
    assert result.ok
    assert len(result.stdout) < 1200
    assert "output truncated" in result.stdout and result.stdout.endswith("THE END")
    assert result.stderr == "e" * 10


def test_missing_command_setup_failures_and_invalid_arguments(sandbox, work, tmp_path):
    result = sandbox.run(["no-such-program-xyz"], mounts=[Mount(work, True)], workdir=work)
    assert result.returncode == 127 and "no-such-program-xyz" in result.stderr
    with pytest.raises(SandboxError, match="Can't chdir"):
        sandbox.run(["true"], mounts=[], workdir=tmp_path / "does-not-exist")
    with pytest.raises(SandboxError, match="does not exist"):
        sandbox.run(["true"], mounts=[Mount(tmp_path / "missing")], workdir=Path("/tmp"))
    with pytest.raises(ValueError):
        sandbox.run(["true"], mounts=[Mount(Path("/"))], workdir=work)
    with pytest.raises(ValueError, match="Docker socket"):
        sandbox.run(["true"], mounts=[Mount(Path("/var/run"))], workdir=work)
    failing = sandbox.run(
        ["sh", "-c", "echo 'OCI runtime exec failed: chdir to cwd' >&2; exit 126"],
        mounts=[Mount(work, True)],
        workdir=work,
    )
    assert failing.returncode == 126 and failing.limit_hit is None


# -- choosing the backend, describe --------------------------------------------------------


def test_get_sandbox_prefers_docker_and_falls_back(monkeypatch, tmp_path):
    assert get_sandbox("docker").name == "docker"
    assert get_sandbox("auto").name == "docker"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    started = time.monotonic()
    assert docker_problem() is not None
    assert time.monotonic() - started < 10
    with pytest.raises(SandboxError, match="apt-get install docker.io"):
        get_sandbox("docker")
    from agents_app.sandbox.bwrap import bwrap_problem

    if bwrap_problem() is None:
        assert get_sandbox("auto").name == "bwrap"
    monkeypatch.setenv("PATH", str(tmp_path))  # and no bwrap either
    with pytest.raises(SandboxUnavailable) as info:
        get_sandbox("auto")
    message = str(info.value)
    for hint in (
        "apt-get install docker.io",
        "apt-get install bubblewrap",
        "TFACTORY_SANDBOX=none",
    ):
        assert hint in message


def test_describe_names_the_backend_image_and_limits(sandbox, image):
    info = sandbox.describe()
    json.dumps(info)
    assert info["backend"] == "docker" and info["image"] == image and info["isolated"] is True
    assert info["network"] == "none except dependency install"
    assert set(info["limits"]) >= {"wall_s", "memory_mb", "file_mb", "pids", "tmp_mb", "cpus"}
    assert set(info["enforcement"]) >= {"wall_s", "memory_mb", "pids"}
    assert info["notes"]
    if sandbox.counters_seen:
        assert "cgroup counters" in info["enforcement"]["memory_mb"]
    assert sandbox.env_python == "/usr/bin/python3" and sandbox.env_python_on_host is False
    assert sandbox.builtin_tool("pynguin") == Path("/opt/tfactory/tools/pynguin")
    assert sandbox.builtin_runner_side() == Path("/opt/tfactory/runner_side")


def test_the_image_brings_its_tools_and_runner_side(sandbox, work):
    result = sandbox.run(
        ["sh", "-c", "ls /opt/tfactory/tools; test -d /opt/tfactory/runner_side && echo rs"],
        mounts=[Mount(work, True)],
        workdir=work,
    )
    assert result.ok, result.stderr
    assert "rs" in result.stdout


# -- orphans --------------------------------------------------------------------------------


def test_reap_orphan_containers_removes_dead_tasks_and_keeps_live_ones(
    sandbox, session_factory, work, client, monkeypatch
):
    live = session_factory([Mount(work, writable=True)], key=f"test-live-{uuid.uuid4().hex[:8]}")
    dead = session_factory([Mount(work, writable=True)], key=f"test-dead-{uuid.uuid4().hex[:8]}")
    assert live.run(["true"], workdir=work).ok and dead.run(["true"], workdir=work).ok
    removed = reap_orphan_containers(client, is_live=lambda key: key != dead.key)
    assert container_name(dead.key) in removed
    assert container_name(live.key) not in removed
    assert container_exists(client, live.container_id)
    assert not container_exists(client, dead.container_id)
    # a one-off container older than its wall limit is an orphan too
    made = client.api.create_container(
        sandbox.image,
        command=["true"],
        labels={
            "org.tfactory.sandbox": "1",
            "org.tfactory.oneoff": "1",
            "org.tfactory.wall_s": "0",
        },
    )
    try:
        reap_orphan_containers(client, is_live=lambda key: True)
        assert container_exists(client, made["Id"])  # younger than its limit + grace
        monkeypatch.setattr(dsb, "ONEOFF_GRACE_S", -10)
        removed = reap_orphan_containers(client, is_live=lambda key: True)
        assert made["Id"][:12] in str(removed) or not container_exists(client, made["Id"])
        assert not container_exists(client, made["Id"])
        assert container_exists(client, live.container_id)
    finally:
        with suppress_all():
            client.api.remove_container(made["Id"], force=True)


# -- the daemon dies ------------------------------------------------------------------------


class SecondDaemon:
    """A private dockerd (own socket, data-root, exec-root, containerd) for fault tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        r = self.root
        # its own network namespace: with --bridge=none a dockerd deletes the host's
        # docker0, which would cut the main daemon's containers off their bridge
        return [
            "unshare",
            "--net",
            "dockerd",
            f"--data-root={r / 'data'}",
            f"--exec-root={r / 'exec'}",
            f"--pidfile={r / 'docker.pid'}",
            f"--host={self.url}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
        ]

    def start(self) -> None:
        (self.root / "docker.pid").unlink(missing_ok=True)
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(
            self.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_tail())
            try:
                probe = docker_sdk.DockerClient(base_url=self.url, timeout=5)
                probe.ping()
                probe.close()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        raise RuntimeError(f"the second dockerd did not answer: {self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text()[-2000:]
        except OSError:
            return ""

    def client(self, timeout: float = 30) -> docker_sdk.DockerClient:
        # a pinned API version: making the client asks nothing of the daemon
        return docker_sdk.DockerClient(base_url=self.url, timeout=timeout, version="1.41")

    def stop(self) -> None:
        """Remove its containers and stop it; if it was killed, kill what it left behind
        (its containerd, the containers' shims and processes) by pid. Then unmount and
        delete its folders."""
        if self.alive():
            with suppress_all():
                admin = self.client()
                for item in admin.api.containers(all=True):
                    admin.api.remove_container(item["Id"], force=True)
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._kill_leftovers()
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(self.root))
        ]
        for target in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        leftovers = processes_with(str(self.root))  # containerd and shims name our folders
        ids = []
        for pid in leftovers:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-id" in argv:
                ids.append(argv[argv.index(b"-id") + 1].decode())
        groups = [g for cid in ids for g in Path("/sys/fs/cgroup").glob(f"*/docker/{cid}")]
        for group in groups:
            with suppress_all():
                for pid in (group / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
        for pid in leftovers:
            with suppress_all():
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        for group in groups:
            with suppress_all():
                group.rmdir()


class suppress_all:  # noqa: N801 - a tiny context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


@pytest.fixture(scope="module")
def second_daemon(image, client):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("starting a second dockerd needs root and dockerd on PATH")
    daemon = SecondDaemon(Path(tempfile.mkdtemp(prefix="tfd-", dir="/tmp")))
    try:
        daemon.start()
        other = daemon.client(timeout=300)
        # the runner image, copied into the private daemon (no registry here)
        other.images.load(
            b"".join(client.images.get(image).save(chunk_size=1024 * 1024, named=True))
        )
        other.close()
        yield daemon
    except RuntimeError as exc:
        pytest.skip(f"a second dockerd could not be started here: {exc}")
    finally:
        daemon.stop()


def _long_run_then(
    second_daemon, image, work, action, timeout: float = 30
) -> tuple[BaseException | None, float]:
    """Start a long run in a session on the private daemon (API timeout ``timeout``),
    ``action(daemon)`` 2 s in; returns what the run raised and how long after the action."""
    client = second_daemon.client(timeout=timeout)
    box = DockerSandbox(Limits(wall_s=600), image=image, client=client)
    session = box.session(f"test-death-{uuid.uuid4().hex[:8]}", mounts=[Mount(work, True)])
    assert session.run(["true"], workdir=work).ok
    outcome: dict[str, object] = {}

    def go() -> None:
        try:
            outcome["result"] = session.run(["sleep", "300"], workdir=work, timeout_s=300)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome["error"] = exc
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    time.sleep(2)
    acted = time.monotonic()
    action(second_daemon)
    thread.join(90)
    assert not thread.is_alive(), "the run hung after the daemon failed"
    return outcome.get("error"), float(outcome["at"]) - acted  # type: ignore[arg-type]


def test_daemon_hanging_mid_run_raises_a_sandbox_error(second_daemon, image, work):
    if not second_daemon.alive():
        second_daemon.start()
    pid = second_daemon.proc.pid
    try:
        error, took = _long_run_then(
            second_daemon, image, work, lambda d: os.kill(pid, signal.SIGSTOP), timeout=10
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"\ndaemon stopped (SIGSTOP): SandboxError after {took:.2f} s")
    assert isinstance(error, SandboxError), error
    assert "is dockerd running" in str(error)
    assert took < 20, took


def test_daemon_killed_mid_run_raises_a_sandbox_error_within_60_s(second_daemon, image, work):
    if not second_daemon.alive():
        second_daemon.start()

    def kill(daemon) -> None:
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()

    error, took = _long_run_then(second_daemon, image, work, kill)
    print(f"\ndaemon killed (SIGKILL): SandboxError after {took:.2f} s")
    assert isinstance(error, SandboxError), error
    assert "Docker daemon stopped responding" in str(error) and "is dockerd running" in str(error)
    assert took < 60, took
    # later calls fail fast too, never hang
    box = DockerSandbox(Limits(), image=image, client=second_daemon.client(timeout=20))
    started = time.monotonic()
    with pytest.raises(SandboxError, match="is dockerd running"):
        box.run(["true"], mounts=[], workdir=Path("/tmp"))
    dead = box.session("test-after-death", mounts=[])
    with pytest.raises(SandboxError, match="is dockerd running"):
        dead.run(["true"], workdir=Path("/tmp"))
    dead.close()  # logged, never raised: the orphan reaper removes what is left
    assert time.monotonic() - started < 10
