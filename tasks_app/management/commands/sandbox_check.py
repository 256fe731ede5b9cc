"""Run the attack battery inside a sandbox backend and say what it contained."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_app.sandbox import SANDBOX_CHOICES, Limits, SandboxError, get_sandbox
from agents_app.sandbox.probes import Battery, ProbeResult


class Command(BaseCommand):
    help = (
        "Probe a sandbox backend: repository writes, network, fork bomb, memory hog, "
        "endless loop, host secrets, TFactory's environment, writes outside scratch, other "
        "tasks' scratch. Exits non-zero if anything escaped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--backend",
            choices=SANDBOX_CHOICES,
            default=settings.TFACTORY_SANDBOX,
            help="the backend to probe (default: TFACTORY_SANDBOX)",
        )
        parser.add_argument("--memory-mb", type=int, default=512, help="memory limit for probes")
        parser.add_argument("--pids", type=int, default=256, help="process limit for probes")

    def handle(self, *args, **opts) -> None:
        limits = Limits(memory_mb=opts["memory_mb"], pids=opts["pids"], wall_s=120)
        try:
            sandbox = get_sandbox(opts["backend"], limits)
        except (SandboxError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        desc = sandbox.describe()
        self.stdout.write(
            f"sandbox: {desc.get('backend')}"
            + (f" (image {desc['image']})" if desc.get("image") else "")
        )
        width = 52

        def row(result: ProbeResult) -> None:
            verdict = "contained" if result.contained else "ESCAPED"
            self.stdout.write(f"  {result.name:<{width}} {verdict:<10} {result.detail}"[:220])

        try:
            results = Battery(sandbox).run_all(progress=row)
        except SandboxError as exc:
            raise CommandError(f"the sandbox failed while probing: {exc}") from exc
        escaped = [r for r in results if not r.contained]
        if escaped:
            raise CommandError(
                f"{len(escaped)} of {len(results)} probes escaped the {desc.get('backend')} "
                "sandbox: " + ", ".join(r.name for r in escaped)
            )
        self.stdout.write(f"all {len(results)} probes contained")
