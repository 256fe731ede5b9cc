"""A whole task on the Docker backend when the daemon dies mid-task: it fails within
60 s with a clear error in the task and in report.md, never a hang. And the task's
container is reused for every step and removed at the end."""

from __future__ import annotations

import json
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from agents_app.env.project import ensure_project_env
from agents_app.env.runtime import ensure_worktree, session_key
from agents_app.pipeline import reaper, runner
from agents_app.sandbox.docker import container_name, docker_problem
from tasks_app.models import Task
from tests.conftest import start_example_task
from tests.test_sandbox_docker import SecondDaemon

PROBLEM = docker_problem()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PROBLEM is not None, reason=f"no Docker daemon: {PROBLEM}"),
]


@pytest.fixture
def task(example) -> Task:
    return start_example_task(example, options={"engine_budget_s": 60}, sandbox="docker")


def test_the_task_fails_within_60_s_when_dockerd_dies(task, monkeypatch):
    import docker as docker_sdk
    from agents_app.sandbox import get_sandbox

    main = get_sandbox("docker")
    # the project environment is built through the main daemon (the private one has no
    # network); the task then finds it in the cache
    ensure_project_env(
        ensure_worktree(task), main, Path(settings.TFACTORY_CACHE_DIR), project="billable"
    )
    daemon = SecondDaemon(Path(tempfile.mkdtemp(prefix="tfd-", dir="/tmp")))
    try:
        daemon.start()
        other = daemon.client(timeout=300)
        image = main.image
        source = docker_sdk.from_env(timeout=300)
        other.images.load(b"".join(source.images.get(image).save(named=True)))
        other.close()
        source.close()
        monkeypatch.setenv("DOCKER_HOST", daemon.url)

        done = threading.Event()
        thread = threading.Thread(
            target=lambda: (runner.run_to_end(task.pk), done.set()), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if task.events.filter(message__contains="generating tests for").exists():
                break
            assert thread.is_alive(), "the task ended before the engines started"
            time.sleep(0.5)
        else:
            pytest.fail("the engines never started")
        time.sleep(2)
        killed = time.monotonic()
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        thread.join(120)
        took = time.monotonic() - killed
        assert not thread.is_alive(), "the task hung after dockerd died"
    finally:
        daemon.stop()
    print(f"\ndockerd killed mid-task: task failed {took:.1f} s later")
    task.refresh_from_db()
    assert task.status == Task.Status.FAILED
    assert took < 60, took
    assert "Docker daemon" in task.error and "dockerd" in task.error, task.error
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["status"] == "failed" and "Docker daemon" in report["error"]
    assert "Docker daemon" in (Path(task.workspace) / "report.md").read_text()


def test_one_container_serves_every_step_and_goes_with_the_task(task):
    import docker as docker_sdk

    client = docker_sdk.from_env()
    name = container_name(session_key(task.pk))
    seen: set[str] = set()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.add(client.containers.get(name).id)
            except docker_sdk.errors.NotFound:
                pass
            time.sleep(0.2)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    Task.objects.filter(pk=task.pk).update(options={"engine_budget_s": 10, "sandbox": "docker"})
    task = runner.run_to_end(task.pk)
    stop.set()
    watcher.join(5)
    assert task.status == Task.Status.DONE, task.error
    assert len(seen) == 1, seen  # the same container for generation and execution
    with pytest.raises(docker_sdk.errors.NotFound):
        client.containers.get(name)  # removed when the task ended
    report = json.loads((Path(task.workspace) / "report.json").read_text())
    assert report["sandbox"]["backend"] == "docker"
    assert report["sandbox"]["image"].startswith("tfactory-runner-python:")


def test_the_reaper_removes_containers_of_ended_tasks(task):
    import docker as docker_sdk
    from agents_app.sandbox import Mount, get_sandbox

    sandbox = get_sandbox("docker")
    work = Path(task.workspace)
    ended = sandbox.session(session_key(task.pk), mounts=[Mount(work)])
    assert ended.run(["true"], workdir=work).ok
    foreign = sandbox.session("someone-else-task-1", mounts=[Mount(work)])
    assert foreign.run(["true"], workdir=work).ok
    client = docker_sdk.from_env()
    try:
        # the worker crashed: the task ended without removing its container
        Task.objects.filter(pk=task.pk).update(status=Task.Status.FAILED)
        removed = reaper.reap_orphan_sandboxes()
        assert container_name(session_key(task.pk)) in removed
        with pytest.raises(docker_sdk.errors.NotFound):
            client.containers.get(container_name(session_key(task.pk)))
        # another installation's container is not ours to remove
        assert client.containers.get(container_name("someone-else-task-1"))
    finally:
        foreign.close()
        ended.close()
