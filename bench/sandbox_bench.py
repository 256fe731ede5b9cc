"""The example's own test suite: natively, in the Docker sandbox, in bubblewrap.

All in one run, so the ratios hold on any machine. Native runs the suite with the
project environment TFactory builds (the bwrap one, a host venv) as a plain
subprocess. Docker runs it by `exec` in one container per task, reused across runs
(as the pipeline does); creating that container is reported separately. Medians of
--repeat runs. Results go to stdout and bench/results/sandbox-<timestamp>.json.
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
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tfactory-sbench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
    import django

    django.setup()
    from django.conf import settings

    from agents_app.env.project import ensure_project_env
    from agents_app.sandbox import Mount, SandboxError, get_sandbox

    info = json.loads(
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "make_example_repo.py"), str(work / "repo")],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    repo = Path(info["repo"])
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", info["branch"]], check=True)
    cache = Path(settings.TFACTORY_CACHE_DIR)
    home = work / "home"
    home.mkdir()

    def suite_argv(python: Path) -> list[str]:
        return [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]

    results: dict[str, float] = {}
    notes: dict[str, str] = {}

    bwrap = get_sandbox("bwrap")
    env_b = ensure_project_env(repo, bwrap, cache, project="bench")
    env = {"PYTHONPATH": str(repo / "src"), "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}

    def native() -> None:
        subprocess.run(
            suite_argv(env_b.python), cwd=repo, env={**env, "PATH": "/usr/bin:/bin"},
            check=True, capture_output=True,
        )  # fmt: skip

    results["native"] = median_time(native, args.repeat)

    mounts = [Mount(repo), Mount(home, writable=True), Mount(Path(env_b.path))]

    def in_bwrap() -> None:
        res = bwrap.run(suite_argv(env_b.python), mounts=mounts, workdir=repo, env=env)
        assert res.ok, res.stderr[-2000:]

    results["bwrap"] = median_time(in_bwrap, args.repeat)

    try:
        docker = get_sandbox("docker")
        env_d = ensure_project_env(repo, docker, cache, project="bench")
        docker.prepare_writable(home)
        t = time.perf_counter()
        session = docker.session(
            "bench", mounts=[Mount(repo), Mount(home, writable=True), Mount(Path(env_d.path))]
        )
        first = session.run(suite_argv(env_d.python), workdir=repo, env=env)
        assert first.ok, first.stderr[-2000:]
        results["docker_first_run_incl_container"] = time.perf_counter() - t

        def in_docker() -> None:
            res = session.run(suite_argv(env_d.python), workdir=repo, env=env)
            assert res.ok, res.stderr[-2000:]

        results["docker"] = median_time(in_docker, args.repeat)
        session.close()
    except SandboxError as exc:
        notes["docker"] = f"skipped: {exc}"

    native_s = results["native"]
    ratios = {k: round(v / native_s, 2) for k, v in results.items() if k != "native"}
    print(f"{'':34} {'seconds':>8} {'x native':>9}")
    for k, v in results.items():
        print(f"{k:34} {v:8.3f} {v / native_s:9.2f}")
    for k, v in notes.items():
        print(f"{k}: {v}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"sandbox-{stamp}.json").write_text(
        json.dumps({"seconds": results, "ratios": ratios, "notes": notes, "repeat": args.repeat},
                   indent=2)
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
