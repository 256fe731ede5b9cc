"""Build TFactory's tool environments ahead of time and check the sandbox."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents_app.env.languages import REGISTRY
from agents_app.env.tools import ToolEnvError, ensure_tool_env
from agents_app.sandbox import SandboxError, get_sandbox


class Command(BaseCommand):
    help = "Install the tool environments (offline engines, Semgrep) and check the sandbox backend."

    def handle(self, *args, **opts) -> None:
        names = sorted(
            {env for tools in REGISTRY.values() for env in tools.tool_envs + tools.host_tool_envs}
        )
        for name in names:
            try:
                env = ensure_tool_env(name, emit=self.stderr.write)
            except ToolEnvError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{name}: {env.path}")
        try:
            sandbox = get_sandbox(settings.TFACTORY_SANDBOX)
        except SandboxError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"sandbox: {sandbox.describe().get('backend')}")
