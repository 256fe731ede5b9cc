"""An attack battery run inside a sandbox backend: does it contain what it must?

Each probe is a small Python program run the way TFactory runs generated tests (a
read-only repository, a writable scratch folder, no network) and judged on the host,
from what the program reports and from what the host can see afterwards. The host
plants bait first: a secret file outside the mounts, another task's scratch folder, a
secret in TFactory's own environment. `manage.py sandbox_check` prints the table.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agents_app.sandbox.base import Mount, RunResult, Sandbox


@dataclass
class ProbeResult:
    name: str
    contained: bool
    detail: str


@dataclass
class Bait:
    root: Path
    repo: Path
    scratch: Path
    other_scratch: Path
    host_secret: Path
    env_name: str
    env_value: str
    outside_target: Path

    @property
    def secret_text(self) -> str:
        return self.host_secret.read_text()


# Each program prints one JSON object on its last line.
_WRITE_REPO = """
import json, sys
path = sys.argv[1] + "/tfactory-probe.txt"
try:
    open(path, "w").write("escaped")
    print(json.dumps({"wrote": True}))
except OSError as exc:
    print(json.dumps({"wrote": False, "error": str(exc)}))
"""

_DNS = """
import json, socket
try:
    socket.setdefaulttimeout(5)
    addr = socket.getaddrinfo("pypi.org", 443)
    print(json.dumps({"resolved": True, "addr": str(addr[0][4])}))
except OSError as exc:
    print(json.dumps({"resolved": False, "error": str(exc)}))
"""

_TCP = """
import json, socket, sys
ok = []
for host, port in [(sys.argv[1], int(sys.argv[2])), ("1.1.1.1", 443), ("8.8.8.8", 53)]:
    s = socket.socket()
    s.settimeout(4)
    try:
        s.connect((host, port))
        ok.append(f"{host}:{port}")
    except OSError:
        pass
    finally:
        s.close()
print(json.dumps({"connected": ok}))
"""

_FORK_BOMB = """
import json, os, time
made = 0
error = None
try:
    for _ in range(100000):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
except OSError as exc:
    error = str(exc)
print(json.dumps({"forked": made, "error": error}), flush=True)
"""

_MEMORY = """
import json, sys
mb = int(sys.argv[1])
try:
    hog = bytearray(mb * 1024 * 1024)
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    print(json.dumps({"allocated_mb": mb}))
except MemoryError:
    print(json.dumps({"allocated_mb": 0, "error": "MemoryError"}))
"""

_LOOP = """
while True:
    pass
"""

_READ_SECRETS = """
import json, os, sys
found = {}
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as fh:
            found[path] = fh.read(200).decode(errors="replace")
    except OSError:
        pass
sockets = [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)]
print(json.dumps({"read": found, "sockets": sockets}))
"""

_ENV = """
import json, os
print(json.dumps({"env": dict(os.environ)}))
"""

_WRITE_OUTSIDE = """
import json, os, sys
wrote = []
for path in sys.argv[1:]:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write("escaped")
        wrote.append(path)
    except OSError:
        pass
print(json.dumps({"wrote": wrote}))
"""


def _last_json(result: RunResult) -> dict:
    for line in reversed(result.stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return {}


class Battery:
    """Plants bait under a temporary root, runs every probe, cleans up."""

    def __init__(self, sandbox: Sandbox, python: str | None = None, root: Path | None = None):
        self.sandbox = sandbox
        # the host's interpreter itself, not TFactory's venv (which is not mounted)
        default = sandbox.env_python
        if sandbox.env_python_on_host:
            default = os.path.realpath(default)
        self.python = python or default
        self.tmp = Path(tempfile.mkdtemp(prefix="tfactory-probe-", dir=root))
        self.bait = self._plant()
        self._listener: socket.socket | None = None

    def _plant(self) -> Bait:
        root = self.tmp
        repo = root / "repo"
        repo.mkdir()
        (repo / "module.py").write_text("VALUE = 1\n")
        scratch = root / "scratch" / "task-1"
        scratch.mkdir(parents=True)
        other = root / "scratch" / "task-2"
        other.mkdir(parents=True)
        (other / "results.json").write_text("other task's private results " + secrets.token_hex(8))
        host_secret = root / "host-secret.txt"
        host_secret.write_text("host secret " + secrets.token_hex(16))
        self.sandbox.prepare_writable(scratch)
        return Bait(
            root=root,
            repo=repo,
            scratch=scratch,
            other_scratch=other,
            host_secret=host_secret,
            env_name="TFACTORY_PROBE_API_KEY",
            env_value="sk-probe-" + secrets.token_hex(16),
            outside_target=root / "outside" / "written.txt",
        )

    def _run(self, code: str, *args: str, timeout_s: float = 60) -> RunResult:
        script = self.bait.scratch / "probe.py"
        script.write_text(code)
        self.sandbox.prepare_writable(self.bait.scratch)
        return self.sandbox.run(
            [self.python, str(script), *args],
            mounts=[Mount(self.bait.repo), Mount(self.bait.scratch, writable=True)],
            workdir=self.bait.scratch,
            env={"HOME": str(self.bait.scratch)},
            timeout_s=timeout_s,
        )

    # -- probes ----------------------------------------------------------------------

    def write_repo(self) -> ProbeResult:
        res = self._run(_WRITE_REPO, str(self.bait.repo))
        wrote = (self.bait.repo / "tfactory-probe.txt").exists()
        return ProbeResult("write into the repository", not wrote, _last_json(res).get("error", ""))

    def network_dns(self) -> ProbeResult:
        data = _last_json(self._run(_DNS))
        return ProbeResult(
            "network: DNS lookup", not data.get("resolved"), data.get("error", data.get("addr", ""))
        )

    def network_tcp(self) -> ProbeResult:
        host, port = self._host_listener()
        data = _last_json(self._run(_TCP, host, str(port)))
        connected = data.get("connected", [])
        return ProbeResult(
            "network: raw TCP connect (host and outside)",
            not connected,
            "connected to " + ", ".join(connected) if connected else "all connects failed",
        )

    def fork_bomb(self) -> ProbeResult:
        limit = self.sandbox.limits.pids or 512
        res = self._run(_FORK_BOMB, timeout_s=60)
        data = _last_json(res)
        forked = int(data.get("forked", 0))
        contained = forked <= limit * 2 and (data.get("error") or res.limit_hit or res.timed_out)
        return ProbeResult(
            "fork bomb",
            bool(contained),
            f"{forked} processes before fork failed ({data.get('error') or res.limit_hit})",
        )

    def memory_hog(self) -> ProbeResult:
        limit = self.sandbox.limits.memory_mb or 4096
        res = self._run(_MEMORY, str(limit * 2), timeout_s=120)
        data = _last_json(res)
        contained = not data.get("allocated_mb")
        why = data.get("error") or res.limit_hit or f"exit {res.returncode}"
        return ProbeResult(f"memory hog ({limit * 2} MB)", contained, why)

    def endless_loop(self) -> ProbeResult:
        started = time.monotonic()
        res = self._run(_LOOP, timeout_s=3)
        took = time.monotonic() - started
        return ProbeResult(
            "endless loop (3 s limit)",
            res.timed_out and took < 15,
            f"stopped after {took:.1f} s ({res.limit_hit})",
        )

    def read_host_secrets(self) -> ProbeResult:
        home = Path.home()
        paths = [
            str(self.bait.host_secret),
            "/etc/shadow",
            str(home / ".ssh" / "id_rsa"),
            str(home / ".ssh" / "id_ed25519"),
            str(home / ".aws" / "credentials"),
            str(home / ".config" / "gcloud" / "credentials.db"),
            str(home / ".tfactory" / "secret_key"),
            str(home / ".git-credentials"),
            str(home / ".netrc"),
        ]
        data = _last_json(self._run(_READ_SECRETS, *paths))
        read = [p for p, text in (data.get("read") or {}).items() if text]
        sockets = data.get("sockets") or []
        leaked = read + sockets
        return ProbeResult(
            "read host secrets (keys, credentials, docker socket)",
            not leaked,
            "readable: " + ", ".join(leaked) if leaked else "none readable",
        )

    def parent_env(self) -> ProbeResult:
        os.environ[self.bait.env_name] = self.bait.env_value
        try:
            data = _last_json(self._run(_ENV))
        finally:
            del os.environ[self.bait.env_name]
        env = data.get("env") or {}
        leaked = [
            k for k, v in env.items() if v == self.bait.env_value or (k in os.environ and k not in (
                "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONDONTWRITEBYTECODE",
                "PYTHONHASHSEED", "TERM", "HOSTNAME", "PWD", "SHLVL", "_",
            ) and os.environ[k] == v)
        ]  # fmt: skip
        return ProbeResult(
            "see TFactory's environment",
            not leaked,
            "visible: " + ", ".join(sorted(leaked)) if leaked else f"{len(env)} variables, all own",
        )

    def write_outside_scratch(self) -> ProbeResult:
        targets = [str(self.bait.outside_target), "/usr/tfactory-probe.txt", "/etc/tfactory-probe"]
        data = _last_json(self._run(_WRITE_OUTSIDE, *targets))
        on_host = [t for t in targets if Path(t).exists()]
        for t in on_host:
            if t != str(self.bait.outside_target):
                Path(t).unlink()
        return ProbeResult(
            "write outside scratch",
            not on_host,
            "host files written: " + ", ".join(on_host)
            if on_host
            else f"nothing reached the host ({len(data.get('wrote') or [])} in-sandbox writes)",
        )

    def other_scratch(self) -> ProbeResult:
        target = str(self.bait.other_scratch / "results.json")
        data = _last_json(self._run(_READ_SECRETS, target))
        read = bool((data.get("read") or {}).get(target))
        return ProbeResult(
            "see another task's scratch", not read, "readable" if read else "not visible"
        )

    def _host_listener(self) -> tuple[str, int]:
        if self._listener is None:
            self._listener = socket.socket()
            self._listener.bind(("0.0.0.0", 0))  # noqa: S104 - reachable from a container too
            self._listener.listen(8)
        host = _host_address()
        return host, self._listener.getsockname()[1]

    def run_all(
        self, progress: Callable[[ProbeResult], None] = lambda r: None
    ) -> list[ProbeResult]:
        probes = [
            self.write_repo,
            self.network_dns,
            self.network_tcp,
            self.fork_bomb,
            self.memory_hog,
            self.endless_loop,
            self.read_host_secrets,
            self.parent_env,
            self.write_outside_scratch,
            self.other_scratch,
        ]
        results = []
        try:
            for probe in probes:
                try:
                    result = probe()
                except Exception as exc:  # a probe that cannot run proves nothing: say so
                    result = ProbeResult(probe.__name__, False, f"probe failed: {exc}")
                results.append(result)
                progress(result)
        finally:
            self.close()
        return results

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def _host_address() -> str:
    """An address of this host that is not loopback (a container's 127.0.0.1 is its own)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()
