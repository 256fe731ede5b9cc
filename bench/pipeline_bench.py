"""Stage-by-stage timing of a full handover on the bundled example.

Baselines, measured in the same run so the ratios hold on any machine:
- `suite`: the example's own test suite, run plainly with pytest on the host;
- `sandbox_noop`: starting `python -c pass` in the sandbox versus on the host.
Each stage is reported in seconds and as a multiple of the `suite` baseline.
Results go to stdout and to bench/results/pipeline-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import median_time  # noqa: E402 - bench/, the script's own folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine-budget", type=int, default=None)
    parser.add_argument(
        "--engine-workers", type=int, default=None, help="engine runs at once (default: cores)"
    )
    args = parser.parse_args()
    if args.engine_workers:
        os.environ["TFACTORY_ENGINE_WORKERS"] = str(args.engine_workers)

    work = Path(tempfile.mkdtemp(prefix="tfactory-bench-"))
    os.environ["TFACTORY_CACHE_DIR"] = os.environ.get(
        "TFACTORY_CACHE_DIR", str(Path(os.environ["TFACTORY_HOME"]) / "cache")
    )
    os.environ["TFACTORY_HOME"] = str(work / "home")
    os.environ["TFACTORY_AIFACTORY_ROOT"] = str(work / "aifactory")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    info = json.loads(
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "make_example_repo.py"),
                str(work / "repo"),
                "--aifactory-root",
                str(work / "aifactory"),
                "--project-id",
                "bench",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )

    # baseline 1: the example's own suite, plainly, on the host
    venv = work / "plainvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "pytest"], check=True, capture_output=True
    )
    repo = Path(info["repo"])
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", info["branch"]], check=True)
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    suite = median_time(
        lambda: subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        ),
        repeat=3,
    )
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)

    # baseline 2: sandbox start-up
    from django.conf import settings

    from agents_app.sandbox import Mount, get_sandbox

    sandbox = get_sandbox(settings.TFACTORY_SANDBOX)
    host_noop = median_time(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat=5
    )
    box_noop = median_time(
        lambda: sandbox.run(
            [sys.executable, "-c", "pass"],
            mounts=[Mount(work, writable=True)],
            workdir=work,
            timeout_s=60,
        ),
        repeat=5,
    )

    from agents_app.pipeline import runner
    from tasks_app import services
    from tasks_app.models import TaskEvent

    services.create_project("bench", info["repo"])
    options = {}
    if args.engine_budget:
        options["engine_budget_s"] = args.engine_budget
    t0 = time.perf_counter()
    task = services.start_task(
        {
            "project_id": "bench",
            "spec_id": info["spec_id"],
            "branch": info["branch"],
            "base_ref": info["base_ref"],
            "options": options,
        },
        enqueue=False,
    )
    intake = time.perf_counter() - t0
    task = runner.run_to_end(task.pk)
    total = time.perf_counter() - t0

    stages = {"intake": round(intake, 3)}
    for ev in TaskEvent.objects.filter(task=task, message__startswith="stage ").order_by("id"):
        if "duration_s" in ev.data:
            stages[ev.stage] = ev.data["duration_s"]
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    accepted = sum(1 for t in report["tests"] if t["verdict"] == "accept")
    result = {
        "status": task.status,
        "total_s": round(total, 3),
        "stages_s": stages,
        "baselines_s": {
            "suite": round(suite, 3),
            "host_noop": round(host_noop, 4),
            "sandbox_noop": round(box_noop, 4),
        },
        "ratios": {
            **{f"{k}/suite": round(v / suite, 1) for k, v in stages.items()},
            "total/suite": round(total / suite, 1),
            "sandbox_noop/host_noop": round(box_noop / host_noop, 2),
        },
        "accepted_tests": accepted,
        "coverage": report.get("coverage"),
        "sandbox": report.get("sandbox", {}).get("backend"),
        "engine_workers": settings.TFACTORY_ENGINE_WORKERS,
    }
    print(f"{'stage':12} {'seconds':>9} {'x suite':>8}")
    for k, v in stages.items():
        print(f"{k:12} {v:9.2f} {v / suite:8.1f}")
    print(f"{'total':12} {total:9.2f} {total / suite:8.1f}")
    print(
        f"baseline: example suite {suite:.2f}s plain; sandbox start {box_noop * 1000:.0f} ms "
        f"vs host {host_noop * 1000:.0f} ms ({box_noop / host_noop:.2f}x)"
    )
    cov = report.get("coverage") or {}
    print(
        f"status {task.status}; {accepted} accepted; changed-line coverage "
        f"{cov.get('before', {}).get('line_pct')} -> {cov.get('after', {}).get('line_pct')}"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"pipeline-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0 if task.status == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
