"""Live-log latency: from an event's commit to its arrival in a browser-side websocket.

For each mode (polling: no REDIS_URL; redis: a redis-server started here, REDIS_URL set
for daphne and the writer) the benchmark
- makes a fresh TFACTORY_HOME and SQLite database (migrate), a user with a session and
  one running task;
- starts `daphne tfactory.asgi:application` on a free port;
- connects N websocket clients with the session cookie, each sending `{"after": 0}`, and
  waits until every one has the task's first row;
- runs a writer process (standing in for a pipeline worker) that writes events through
  emit_event at a steady rate, recording time.time() as each call returns (the row is
  committed by then), then ends the task with its closing status row;
- records when each client receives each row (the sockets close with 1000 at the end).
Latency is arrival minus commit for every (client, row) pair. Rows lost or received
twice are counted too (both should be 0).
Results: a table on stdout and JSON in bench/results/live.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench" / "results" / "live.json"
EVENT_ID = re.compile(r'data-event-id="(\d+)"')
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- helper processes


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
    import django

    django.setup()


def setup_data() -> None:
    """Print the session cookie and a running task with its first row."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tasks_app.core.events import emit_event
    from tasks_app.models import Project, Task

    user = get_user_model().objects.create_user("bench")  # no password: force_login
    client = Client()
    client.force_login(user)
    project = Project.objects.create(id="bench", repo_path=str(ROOT))
    task = Task.objects.create(
        project=project,
        spec_id="live",
        branch="feature",
        base_ref="main",
        spec_source=Task.SpecSource.INLINE,
        status=Task.Status.RUNNING,
    )
    first = emit_event(task, "benchmark task started", kind="status", data={"status": "running"})
    print(
        json.dumps(
            {"session": client.cookies["sessionid"].value, "task": task.pk, "first": first.pk}
        )
    )


def write_events(task_id: int, count: int, rate: float, out: Path) -> None:
    """Write `count` rows at `rate` per second, then end the task; record commit times."""
    django_setup()
    from django.db import connection
    from django.utils import timezone

    from tasks_app.core import live
    from tasks_app.core.events import emit_event
    from tasks_app.models import Task

    committed: dict[int, float] = {}
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event = emit_event(task_id, f"benchmark line {n}", stage="running")
        committed[event.pk] = time.time()
    Task.objects.filter(pk=task_id).update(status="done", finished_at=timezone.now())
    event = emit_event(task_id, "task done", kind="status", data={"status": "done"})
    committed[event.pk] = time.time()
    live.flush(5)
    connection.close()
    out.write_text(json.dumps(committed))


# ---------------------------------------------------------------- clients


async def watch(url: str, origin: str, cookie: str, arrivals: list[tuple[int, float]], ready):
    from websockets.asyncio.client import connect

    async with connect(
        url,
        origin=origin,
        additional_headers={"Cookie": f"sessionid={cookie}"},
        open_timeout=30,
        max_queue=None,
    ) as ws:
        await ws.send(json.dumps({"after": 0}))
        async for frame in ws:
            now = time.time()
            for match in EVENT_ID.finditer(frame):
                arrivals.append((int(match.group(1)), now))
            if not ready.done():
                ready.set_result(None)
        return ws.close_code


async def run_clients(url, origin, cookie, n, writer_cmd, env, log) -> dict:
    loop = asyncio.get_running_loop()
    arrivals: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    readies = [loop.create_future() for _ in range(n)]
    clients = [
        asyncio.create_task(watch(url, origin, cookie, arrivals[i], readies[i])) for i in range(n)
    ]
    await asyncio.wait_for(asyncio.gather(*readies), 60)
    writer = await asyncio.create_subprocess_exec(
        *writer_cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    await writer.wait()
    if writer.returncode:
        raise SystemExit(f"the writer failed: see {log.name}")
    codes = await asyncio.wait_for(asyncio.gather(*clients), 60)
    return {"arrivals": arrivals, "close_codes": codes}


# ---------------------------------------------------------------- one mode


def run_mode(mode: str, clients: int, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"tfactory-live-{mode}-"))
    home = work / "home"
    home.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tfactory.settings",
        "TFACTORY_HOME": str(home),
        "TFACTORY_DB_PATH": str(home / "tfactory.sqlite3"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TFACTORY_LIVE_POLL_S": str(args.poll_s),
    }
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    procs: list[subprocess.Popen] = []
    try:
        if mode == "redis":
            server = shutil.which("redis-server")
            if not server:
                raise SystemExit("redis-server is not installed (apt-get install redis-server)")
            redis_port = free_port()
            redis_log = work / "redis.log"
            procs.append(
                subprocess.Popen(
                    [server, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""]
                    + ["--appendonly", "no"],
                    stdout=redis_log.open("w"),
                    stderr=subprocess.STDOUT,
                )
            )
            wait_for_port(redis_port, procs[-1], redis_log)
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"

        py = [sys.executable, str(Path(__file__).resolve())]
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        data = json.loads(
            subprocess.run(
                [*py, "_setup"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
        )

        port = free_port()
        daphne_log = work / "daphne.log"
        procs.append(
            subprocess.Popen(
                [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
                + ["tfactory.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=daphne_log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_for_port(port, procs[-1], daphne_log)

        committed_file = work / "committed.json"
        writer_cmd = [*py, "_write", str(data["task"]), str(args.events), str(args.rate)]
        writer_cmd.append(str(committed_file))
        started = time.monotonic()
        with (work / "writer.log").open("w") as log:
            result = asyncio.run(
                run_clients(
                    f"ws://127.0.0.1:{port}/ws/tasks/{data['task']}/events/",
                    f"http://127.0.0.1:{port}",
                    data["session"],
                    clients,
                    writer_cmd,
                    env,
                    log,
                )
            )
        wall = time.monotonic() - started
    finally:
        for proc in reversed(procs):
            stop(proc)

    committed = {int(k): v for k, v in json.loads(committed_file.read_text()).items()}
    latencies, lost, repeated = [], 0, 0
    for arrivals in result["arrivals"]:
        ids = [event_id for event_id, _ in arrivals]
        repeated += len(ids) - len(set(ids))
        got = dict(arrivals)
        for event_id, at in committed.items():
            if event_id in got:
                latencies.append(got[event_id] - at)
            else:
                lost += 1
        if ids != sorted(ids) or not ids or ids[0] != data["first"]:
            repeated += 1  # out of order or not from the start: count it as a fault
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ms = [x * 1000 for x in latencies]
    return {
        "mode": mode,
        "clients": clients,
        "events": len(committed),
        "rate_per_s": args.rate,
        "poll_s": args.poll_s if mode == "polling" else None,
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "max_ms": round(max(ms), 1),
        "lost": lost,
        "repeated_or_out_of_order": repeated,
        "close_codes": sorted(set(result["close_codes"])),
        "wall_s": round(wall, 1),
        "target_p95_ms": 1000 if mode == "polling" else 200,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        setup_data()
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_write":
        task, count, rate, out = sys.argv[2:6]
        write_events(int(task), int(count), float(rate), Path(out))
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", default="20,100", help="websocket clients, one run per number (20,100)"
    )
    parser.add_argument("--events", type=int, default=200, help="rows written per mode (200)")
    parser.add_argument("--rate", type=float, default=20.0, help="rows per second (20)")
    parser.add_argument(
        "--poll-s", type=float, default=0.25, help="TFACTORY_LIVE_POLL_S for polling (0.25)"
    )
    parser.add_argument("--modes", default="polling,redis", help="polling,redis")
    parser.add_argument("--keep", action="store_true", help="keep the work folders and logs")
    args = parser.parse_args()

    rows = [
        run_mode(mode, int(clients), args)
        for clients in args.clients.split(",")
        for mode in args.modes.split(",")
    ]
    header = f"{'mode':8} {'clients':>7} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    print(header + f" {'target p95':>10} {'lost':>5} {'dup':>4}  close")
    for r in rows:
        ok = "ok" if r["p95_ms"] < r["target_p95_ms"] else "MISSED"
        print(
            f"{r['mode']:8} {r['clients']:>7} {r['events']:>5} {r['p50_ms']:>8} {r['p95_ms']:>8}"
            f" {r['max_ms']:>8} {'<' + str(r['target_p95_ms']) + ' ' + ok:>10}"
            f" {r['lost']:>5} {r['repeated_or_out_of_order']:>4}  {r['close_codes']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "note": "latency = arrival at the client - time.time() right after emit_event returned",
        "results": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0 if all(r["p95_ms"] < r["target_p95_ms"] and not r["lost"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
