#!/usr/bin/env python3
"""Django's command-line utility for TFactory."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
    from django.core.management import execute_from_command_line

    if len(sys.argv) > 1:
        prepare(sys.argv[1])
    execute_from_command_line(sys.argv)


def prepare(command: str) -> None:
    """A command that uses the tables gets its database created or migrated first (a
    fresh TFACTORY_HOME), or a sentence saying what to run."""
    import django

    django.setup()
    from tasks_app.core.database import COMMANDS, DatabaseNotReady, ensure_database

    if command not in COMMANDS:
        return
    try:
        ensure_database()
    except DatabaseNotReady as exc:
        sys.stderr.write(f"CommandError: {exc}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
