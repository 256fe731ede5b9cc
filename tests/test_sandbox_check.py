"""`manage.py sandbox_check`: every probe contained by bwrap (and Docker), and the
probes do catch escapes (the unsandboxed backend fails them)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


def test_bwrap_contains_every_probe(capsys):
    call_command("sandbox_check", "--backend", "bwrap")
    out = capsys.readouterr().out
    assert "all 10 probes contained" in out
    assert "ESCAPED" not in out


def test_the_probes_catch_an_unsandboxed_run(capsys):
    with pytest.raises(CommandError, match="probes escaped the none sandbox") as err:
        call_command("sandbox_check", "--backend", "none")
    out = capsys.readouterr().out
    for probe in (
        "write into the repository",
        "network: raw TCP connect",
        "read host secrets",
        "write outside scratch",
        "see another task's scratch",
    ):
        assert probe in str(err.value), probe
    assert out.count("ESCAPED") >= 5


@pytest.mark.slow
def test_docker_contains_every_probe(capsys):
    from agents_app.sandbox.docker import docker_problem

    if problem := docker_problem():
        pytest.skip(f"no Docker daemon: {problem}")
    call_command("sandbox_check", "--backend", "docker")
    out = capsys.readouterr().out
    assert "image tfactory-runner-python:" in out
    assert "all 10 probes contained" in out, out
