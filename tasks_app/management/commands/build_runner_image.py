"""Build the Docker sandbox's runner image (and its base) when its inputs changed.

Progress goes to stderr; the image's tag is the only thing printed on stdout.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from agents_app.sandbox.docker_image import (
    ImageBuildError,
    docker_client,
    ensure_runner_image,
    runner_image_tag,
)


class Command(BaseCommand):
    help = (
        "Build TFactory's Docker runner image (tfactory-runner-python:<hash of its inputs>) "
        "if it is missing, and print its tag. Without a reachable registry the base image "
        "is built locally with debootstrap (needs root)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="rebuild the base and the runner image even if present (no layer cache)",
        )
        parser.add_argument(
            "--print-tag",
            action="store_true",
            help="only print the tag the current inputs give; build nothing",
        )

    def handle(self, *args, **opts) -> None:
        try:
            tag = runner_image_tag()
            if opts["print_tag"]:
                self.stdout.write(tag)
                return
            client = docker_client()
            started = time.monotonic()
            tag = ensure_runner_image(
                client, emit=lambda m: self.stderr.write(m), force=opts["force"]
            )
        except ImageBuildError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"runner image ready: {tag} ({time.monotonic() - started:.0f}s)")
        self.stdout.write(tag)
