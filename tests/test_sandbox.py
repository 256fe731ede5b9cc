"""The sandbox backends, against real bwrap and real processes (nothing of ours is mocked)."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from agents_app.sandbox import (
    Limits,
    Mount,
    RunResult,
    SandboxError,
    SandboxSession,
    SandboxUnavailable,
    get_sandbox,
)
from agents_app.sandbox.base import pids_cgroup_available
from agents_app.sandbox.bwrap import BwrapSandbox, bwrap_problem
from agents_app.sandbox.unsandboxed import UnsandboxedSandbox

# The host's base interpreter: always bound read-only inside the bwrap sandbox.
PY = str(Path(sys.base_prefix).resolve() / "bin" / "python3")

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}")
needs_cgroup = pytest.mark.skipif(
    not pids_cgroup_available(), reason="this host does not let us create a pids cgroup"
)


@pytest.fixture
def bwrap() -> BwrapSandbox:
    sandbox = get_sandbox("bwrap", Limits(wall_s=60))
    assert isinstance(sandbox, BwrapSandbox)
    return sandbox


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def py(sandbox, code: str, work: Path, **kwargs) -> RunResult:
    mounts = kwargs.pop("mounts", [Mount(work, writable=True)])
    return sandbox.run([PY, "-c", textwrap.dedent(code)], mounts=mounts, workdir=work, **kwargs)


def processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token`` (read from /proc)."""
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


# -- filesystem --------------------------------------------------------------------------


@needs_bwrap
def test_read_only_mount_refuses_writes_and_host_file_is_unchanged(bwrap, tmp_path, work):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("original\n")
    result = py(
        bwrap,
        f"""
        import errno
        try:
            open({str(repo / "app.py")!r}, "w").write("pwned")
        except OSError as exc:
            print("errno", exc.errno)
        try:
            open({str(repo / "new.py")!r}, "w").write("pwned")
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


@needs_bwrap
def test_writable_mount_writes_reach_the_host(bwrap, work):
    result = py(bwrap, "open('out.txt', 'w').write('hello from inside')", work)
    assert result.ok, result.stderr
    assert (work / "out.txt").read_text() == "hello from inside"


@needs_bwrap
def test_a_writable_parent_given_last_does_not_hide_a_read_only_child(bwrap, tmp_path):
    parent = tmp_path / "scratch"
    (parent / "repo").mkdir(parents=True)
    (parent / "repo" / "f.txt").write_text("keep")
    result = bwrap.run(
        ["sh", "-c", "echo changed > repo/f.txt"],
        mounts=[Mount(parent / "repo"), Mount(parent, writable=True)],
        workdir=parent,
    )
    assert not result.ok
    assert (parent / "repo" / "f.txt").read_text() == "keep"


@needs_bwrap
def test_host_secrets_are_invisible(bwrap, tmp_path, work, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-secret-value")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("top secret")
    home = Path.home()
    home_entries = [str(home / e) for e in os.listdir(home) if e != ".pyenv"]
    result = py(
        bwrap,
        f"""
        import json, os
        print(json.dumps({{
            "env": dict(os.environ),
            "secret": os.path.exists({str(secret)!r}),
            "outside": os.path.exists({str(outside)!r}),
            "shadow": os.path.exists("/etc/shadow"),
            "ssh": os.path.exists("/etc/ssh"),
            "home_ssh": os.path.exists({str(home / ".ssh")!r}),
            "home_entries": [p for p in {home_entries!r} if os.path.lexists(p)],
            "docker_sock": os.path.exists("/var/run/docker.sock") or os.path.exists("/run"),
            "pid1_cmdline": open("/proc/1/cmdline", "rb").read().decode(errors="replace"),
        }}))
        """,
        work,
        env={"TFACTORY_TEST_VALUE": "value-that-must-not-be-in-argv"},
    )
    assert result.ok, result.stderr
    seen = json.loads(result.stdout)
    assert "ANTHROPIC_API_KEY" not in seen["env"]
    assert "GITHUB_TOKEN" not in seen["env"]
    assert "sk-ant-test-secret-value" not in result.stdout.replace('"env"', "")
    assert seen["env"]["TFACTORY_TEST_VALUE"] == "value-that-must-not-be-in-argv"
    assert seen["env"]["HOME"] == str(work)
    assert seen["env"]["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert seen["secret"] is False and seen["outside"] is False
    assert seen["shadow"] is False and seen["ssh"] is False
    assert seen["home_ssh"] is False
    assert seen["home_entries"] == []
    assert seen["docker_sock"] is False
    # The environment travels through a file descriptor, not bwrap's argv.
    assert "bwrap" in seen["pid1_cmdline"]
    assert "value-that-must-not-be-in-argv" not in seen["pid1_cmdline"]


# -- network -----------------------------------------------------------------------------


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("127.0.0.1", {port}))
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


@needs_bwrap
def test_network_is_off_inside_bwrap(bwrap, work, listener):
    inside = py(bwrap, CONNECT.format(port=listener), work, timeout_s=20)
    assert inside.returncode == 1, inside.stdout + inside.stderr
    assert "connect failed" in inside.stdout
    dns = py(bwrap, RESOLVE, work, timeout_s=20)
    assert dns.returncode == 1 and "resolve failed" in dns.stdout


def test_the_same_connect_works_unsandboxed(work, listener):
    # Proves the connect test above can fail: without a network namespace it connects.
    result = py(get_sandbox("none"), CONNECT.format(port=listener), work, timeout_s=20)
    assert result.ok and "connected" in result.stdout, result.stdout + result.stderr


@needs_bwrap
def test_network_true_shares_the_host_network(bwrap, work, listener):
    result = py(bwrap, CONNECT.format(port=listener), work, timeout_s=20, network=True)
    assert result.ok and "connected" in result.stdout, result.stdout + result.stderr


# -- wall time, cancel, runaway trees ----------------------------------------------------

RUNAWAY = """
import os, signal, sys, time

marker = sys.argv[1]

def escape():
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.fork():
        os._exit(0)  # double fork: the grandchild is reparented
    time.sleep(3)
    with open(marker, "w") as fh:
        fh.write("escaped")
    time.sleep(60)

for _ in range(3):
    if os.fork() == 0:
        escape()
        os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started", flush=True)
time.sleep(60)
"""


def run_runaway(
    runner, work: Path, *, python: str = PY, **kwargs
) -> tuple[RunResult, Path, str, float]:
    """RUNAWAY in `runner`: a sandbox (the work folder is mounted for this run) or a
    session (whose mounts were fixed when it opened)."""
    token = f"tf-runaway-{uuid.uuid4().hex}"
    script = work / "runaway.py"
    script.write_text(RUNAWAY)
    marker = work / token
    if not isinstance(runner, SandboxSession):
        kwargs.setdefault("mounts", [Mount(work, writable=True)])
    kwargs.setdefault("workdir", work)
    started = time.monotonic()
    result = runner.run([python, str(script), str(marker)], **kwargs)
    return result, marker, token, time.monotonic() - started


@needs_bwrap
def test_wall_time_kills_a_runaway_tree(bwrap, work):
    result, marker, token, elapsed = run_runaway(bwrap, work, timeout_s=1)
    assert result.timed_out and not result.ok
    assert result.limit_hit == "wall_time"
    assert result.returncode is None
    assert elapsed < 2.5, elapsed
    assert "started" in result.stdout
    time.sleep(4)
    assert not marker.exists(), "a grandchild survived the kill and wrote its marker"
    assert processes_with(token) == []


@needs_bwrap
def test_cancel_event_stops_the_run(bwrap, work):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    result, marker, token, elapsed = run_runaway(bwrap, work, timeout_s=30, cancel=cancel)
    assert result.cancelled and not result.timed_out and not result.ok
    assert result.limit_hit == "cancelled"
    assert elapsed < 1.5, elapsed
    time.sleep(3.5)
    assert not marker.exists()
    assert processes_with(token) == []


@needs_cgroup
def test_unsandboxed_backend_kills_the_runaway_tree_too(work):
    result, marker, token, elapsed = run_runaway(get_sandbox("none"), work, timeout_s=1)
    assert result.timed_out and elapsed < 2.5
    time.sleep(3.5)
    assert not marker.exists()
    assert processes_with(token) == []


@needs_bwrap
def test_background_children_die_when_the_command_exits(bwrap, work):
    token = f"tf-daemon-{uuid.uuid4().hex}"
    result = bwrap.run(
        ["sh", "-c", f"(setsid sleep 30 {token} &) ; exit 0"],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.ok
    time.sleep(0.5)
    assert processes_with(token) == []


# -- resource limits ---------------------------------------------------------------------


@needs_bwrap
def test_memory_limit(work):
    sandbox = get_sandbox("bwrap", Limits(memory_mb=256))
    result = py(sandbox, "b = bytearray(512 * 1024 * 1024); print(len(b))", work)
    assert result.returncode not in (0, None)
    assert "MemoryError" in result.stderr
    assert result.limit_hit == "memory"
    # and well under the limit is fine
    assert py(sandbox, "b = bytearray(64 * 1024 * 1024)", work).ok


@needs_bwrap
def test_file_size_limit(work):
    sandbox = get_sandbox("bwrap", Limits(file_mb=1))
    result = py(sandbox, "open('big', 'wb').write(b'x' * (2 * 1024 * 1024))", work)
    assert result.returncode not in (0, None)
    assert result.limit_hit == "file_size"
    assert (work / "big").stat().st_size <= 1024 * 1024
    # a program that does not ignore SIGXFSZ is killed by it (exit 128+25 through bwrap)
    result = sandbox.run(
        ["sh", "-c", "head -c 3000000 /dev/zero > big2"],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.limit_hit == "file_size", result


@needs_bwrap
@needs_cgroup
def test_pids_limit(work):
    sandbox = get_sandbox("bwrap", Limits(pids=20))
    code = """
    import os, time
    kids = []
    for _ in range(60):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        kids.append(pid)
    """
    result = py(sandbox, code, work, timeout_s=30)
    assert result.returncode not in (0, None)
    assert "BlockingIOError" in result.stderr or "Resource temporarily unavailable" in (
        result.stderr
    )
    assert result.limit_hit == "pids"


@needs_bwrap
def test_tmp_is_private_and_size_capped(work):
    sandbox = get_sandbox("bwrap", Limits(tmp_mb=2, file_mb=None))
    result = sandbox.run(
        ["sh", "-c", "ls -A /tmp; head -c 4000000 /dev/zero > /tmp/fill"],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.returncode != 0
    assert "No space left on device" in result.stderr


# -- output ------------------------------------------------------------------------------


@needs_bwrap
def test_large_output_is_truncated_with_a_marker_and_keeps_the_tail(bwrap, work):
    code = "import sys; sys.stdout.write('a' * 200000 + 'THE END'); sys.stderr.write('e' * 10)"
    result = py(bwrap, code, work, output_limit=1000)
    assert result.ok
    assert len(result.stdout) < 1200
    assert "output truncated" in result.stdout
    assert result.stdout.endswith("THE END")
    assert result.stderr == "e" * 10


@needs_bwrap
def test_invalid_utf8_output_is_replaced_not_fatal(bwrap, work):
    result = py(bwrap, "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe end')", work)
    assert result.ok and result.stdout.startswith("ok ") and result.stdout.endswith(" end")


# -- the sandbox's own failures vs the command's -----------------------------------------


@needs_bwrap
def test_setup_failure_is_a_sandbox_error(bwrap, tmp_path):
    with pytest.raises(SandboxError, match="Can't chdir"):
        bwrap.run(["true"], mounts=[], workdir=tmp_path / "does-not-exist")
    with pytest.raises(SandboxError, match="does not exist"):
        bwrap.run(["true"], mounts=[Mount(tmp_path / "missing")], workdir=Path("/tmp"))


@needs_bwrap
def test_a_command_that_fails_like_bwrap_is_still_the_commands_failure(bwrap, work):
    result = bwrap.run(
        ["sh", "-c", "echo 'bwrap: Can not mount proc' >&2; exit 1"],
        mounts=[Mount(work, writable=True)],
        workdir=work,
    )
    assert result.returncode == 1 and not result.ok
    assert result.limit_hit is None


@needs_bwrap
def test_missing_command_is_exit_127(bwrap, work):
    result = bwrap.run(["no-such-program-xyz"], mounts=[Mount(work, True)], workdir=work)
    assert result.returncode == 127


def test_unsandboxed_missing_command_is_exit_127(work):
    result = get_sandbox("none").run(["no-such-program-xyz"], mounts=[], workdir=work)
    assert result.returncode == 127 and "no-such-program-xyz" in result.stderr


def test_unsandboxed_runs_with_a_clean_environment(work, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value")
    result = py(get_sandbox("none"), "import os; print(sorted(os.environ))", work, env={"A": "1"})
    assert result.ok
    assert "ANTHROPIC_API_KEY" not in result.stdout
    assert "'A'" in result.stdout and "'HOME'" in result.stdout


def test_relative_paths_are_refused(work):
    with pytest.raises(ValueError):
        get_sandbox("none").run(["true"], mounts=[Mount(Path("rel"))], workdir=work)
    with pytest.raises(ValueError):
        get_sandbox("none").run(["true"], mounts=[Mount(Path("/"))], workdir=work)


# -- choosing a backend ------------------------------------------------------------------


NO_DOCKER = "unix:///nonexistent/docker.sock"


@needs_bwrap
def test_get_sandbox_auto_is_bwrap_without_a_docker_daemon(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    sandbox = get_sandbox("auto")
    assert sandbox.name == "bwrap" and sandbox.isolated
    assert get_sandbox().name == "bwrap"


def test_auto_never_falls_back_to_unsandboxed(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    with pytest.raises(SandboxUnavailable) as info:
        get_sandbox("auto")
    message = str(info.value)
    assert "apt-get install bubblewrap" in message and "TFACTORY_SANDBOX=none" in message
    assert "docker.io" in message
    with pytest.raises(SandboxError, match="bwrap"):
        get_sandbox("bwrap")


def test_bwrap_choice_reports_the_probes_stderr(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    with pytest.raises(SandboxError, match="setting up uid map: Permission denied"):
        get_sandbox("bwrap")
    with pytest.raises(SandboxUnavailable, match="uid map"):
        get_sandbox("auto")


def test_none_only_when_asked_and_unknown_choices(monkeypatch):
    sandbox = get_sandbox("none")
    assert isinstance(sandbox, UnsandboxedSandbox)
    assert sandbox.name == "none" and sandbox.isolated is False
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    with pytest.raises(SandboxError, match="docker"):
        get_sandbox("docker")
    with pytest.raises(ValueError, match="auto, bwrap, docker, none"):
        get_sandbox("firejail")


def _check_describe(info: dict) -> None:
    assert set(info) >= {"backend", "image", "isolated", "network", "limits", "notes"}
    assert info["image"] is None
    assert set(info["limits"]) >= {"wall_s", "memory_mb", "file_mb", "pids"}
    assert isinstance(info["notes"], list) and info["notes"]
    json.dumps(info)


@needs_bwrap
def test_describe_shape():
    bw = get_sandbox("bwrap", Limits(wall_s=120, memory_mb=1024))
    info = bw.describe()
    _check_describe(info)
    assert info["backend"] == "bwrap" and info["isolated"] is True
    assert info["network"] == "off except dependency install"
    assert info["limits"]["wall_s"] == 120 and info["limits"]["memory_mb"] == 1024
    assert "RLIMIT_NPROC" in info["enforcement"]["pids"] or info["limits"]["pids"] == 512
    none = get_sandbox("none").describe()
    _check_describe(none)
    assert none["backend"] == "none" and none["isolated"] is False
    assert any("ran directly on this host" in note for note in none["notes"])


# -- the generated bwrap command line ----------------------------------------------------


@needs_bwrap
def test_bwrap_argv_binds_only_what_is_needed(bwrap, tmp_path):
    repo, work = tmp_path / "repo", tmp_path / "work"
    argv = bwrap.build_argv(
        ["python", "-m", "pytest"],
        mounts=[Mount(repo), Mount(work, writable=True)],
        workdir=work,
    )
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    binds = [(flag, src) for flag, src, _ in pairs if flag in ("--ro-bind", "--bind")]
    sources = [src for _, src in binds]
    assert "/" not in sources
    for forbidden in ("/etc", "/etc/shadow", "/etc/ssh", "/root", "/home", "/run", "/var"):
        assert forbidden not in sources
    assert not any(s.startswith("/etc/ssl/private") for s in sources)
    assert "/etc/resolv.conf" not in sources and "--share-net" not in argv
    assert "/etc/pip.conf" not in sources and "/etc/xdg/pip" not in sources
    assert ("--ro-bind", str(Path(sys.base_prefix).resolve())) in binds
    # caller mounts come after the private /tmp (they may live under the host's /tmp)
    tmpfs_at = argv.index("--tmpfs")
    assert argv.index(str(repo)) > tmpfs_at and argv.index(str(work)) > tmpfs_at
    assert ("--ro-bind", str(repo)) in binds and ("--bind", str(work)) in binds
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--remount-ro"):
        assert flag in argv
    assert argv[argv.index("--hostname") + 1] == "tfactory-sandbox"
    assert argv[argv.index("--chdir") + 1] == str(work)
    assert argv[-3:] == ["python", "-m", "pytest"]
    networked = bwrap.build_argv(["true"], mounts=[], workdir=work, network=True)
    assert "--share-net" in networked
    if Path("/etc/resolv.conf").exists():
        assert "/etc/resolv.conf" in networked


# -- which Python installations are bound -----------------------------------------------


def _unix_socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


@needs_bwrap
def test_pyvenv_cfg_in_a_mount_never_widens_the_sandbox(bwrap, tmp_path):
    """A repository (read-only) or a scratch folder (written by an earlier run) holding a
    pyvenv.cfg whose ``home`` names a host directory or socket exposes neither."""
    secret_dir = tmp_path / "host-secrets"
    (secret_dir / "bin").mkdir(parents=True)
    (secret_dir / "secret.txt").write_text("top secret")
    sock_path = tmp_path / "daemon.sock"
    server = _unix_socket(sock_path)
    try:
        repo = tmp_path / "repo"
        for sub in ("", ".venv", "venv"):
            (repo / sub).mkdir(parents=True, exist_ok=True)
        (repo / "pyvenv.cfg").write_text(f"home = {secret_dir}\n")
        (repo / ".venv" / "pyvenv.cfg").write_text(f"home = {secret_dir / 'bin'}\n")
        (repo / "venv" / "pyvenv.cfg").write_text(f"home = {sock_path}\n")
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        mounts = [Mount(repo), Mount(scratch, writable=True)]
        # Run 1 (untrusted code) plants a pyvenv.cfg in its writable scratch for run 2.
        planted = py(
            bwrap,
            f"open('pyvenv.cfg', 'w').write('home = {secret_dir}\\n')",
            scratch,
            mounts=mounts,
        )
        assert planted.ok, planted.stderr
        assert (scratch / "pyvenv.cfg").read_text() == f"home = {secret_dir}\n"
        argv = bwrap.build_argv(["true"], mounts=mounts, workdir=scratch)
        assert str(secret_dir) not in argv and str(secret_dir / "bin") not in argv
        assert str(sock_path) not in argv
        probe = py(
            bwrap,
            f"""
            import json, os
            print(json.dumps([
                os.path.exists({str(secret_dir / "secret.txt")!r}),
                os.path.exists({str(secret_dir)!r}),
                os.path.exists({str(sock_path)!r}),
            ]))
            """,
            scratch,
            mounts=mounts,
        )
        assert probe.ok, probe.stderr
        assert probe.stdout.strip() == "[false, false, false]"
    finally:
        server.close()

    from agents_app.sandbox.bwrap import python_dirs

    dirs = python_dirs([Mount(repo), Mount(scratch, writable=True)])
    assert secret_dir not in dirs and secret_dir / "bin" not in dirs
    assert dirs == python_dirs()


@needs_bwrap
def test_python_prefixes_are_bound_only_when_passed_and_valid(bwrap, tmp_path, work):
    from agents_app.sandbox.bwrap import python_dirs

    install = tmp_path / "opt" / "python-9.9"
    (install / "bin").mkdir(parents=True)
    (install / "bin" / "marker.txt").write_text("interpreter")
    code = f"import os; print(os.path.exists({str(install / 'bin' / 'marker.txt')!r}))"
    assert py(bwrap, code, work).stdout.strip() == "False"
    passed = py(bwrap, code, work, python_prefixes=[install])
    assert passed.ok, passed.stderr
    assert passed.stdout.strip() == "True"
    assert install in python_dirs(python_prefixes=[install])
    base = Path(sys.base_prefix).resolve()
    assert base in python_dirs() or str(base).startswith("/usr")

    sock = _unix_socket(tmp_path / "docker.sock")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    link = tmp_path / "link-to-root"
    link.symlink_to("/root")
    try:
        refused = [
            Path("/"),
            Path("/root"),
            Path("/home"),
            Path("/etc"),
            Path("/tmp"),
            Path("/var"),
            Path("/run"),
            Path.home(),
            link,  # resolved before the check
            tmp_path / "docker.sock",
            a_file,
            tmp_path / "missing",
            Path("relative/prefix"),
        ]
        for prefix in refused:
            with pytest.raises(ValueError):
                python_dirs(python_prefixes=[prefix])
            with pytest.raises(ValueError):
                bwrap.run(["true"], mounts=[], workdir=work, python_prefixes=[prefix])
    finally:
        sock.close()


# -- pip configuration --------------------------------------------------------------------

PIP_CONFIGS = [p for p in ("/etc/pip.conf", "/etc/xdg/pip") if os.path.exists(p)]


@needs_bwrap
@pytest.mark.skipif(not PIP_CONFIGS, reason="no /etc/pip.conf or /etc/xdg/pip on this host")
def test_pip_configuration_is_only_visible_with_network(bwrap, work):
    code = f"import json, os; print(json.dumps([os.path.exists(p) for p in {PIP_CONFIGS!r}]))"
    offline = py(bwrap, code, work)
    assert offline.ok, offline.stderr
    assert offline.stdout.strip() == json.dumps([False] * len(PIP_CONFIGS))
    online = py(bwrap, code, work, network=True)
    assert online.ok, online.stderr
    assert online.stdout.strip() == json.dumps([True] * len(PIP_CONFIGS))
    offline_argv = bwrap.build_argv(["true"], mounts=[], workdir=work)
    for path in PIP_CONFIGS:
        assert path not in offline_argv
