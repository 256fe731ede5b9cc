"""A login for the portal and the admin on a demo or a fresh installation.

The password is generated once, kept in $TFACTORY_HOME/portal_login (readable by its
owner only) and set on the user; there is never a default password. Later calls print
the same login (and set it again, should the database have been made afresh).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction


def login_file() -> Path:
    return Path(settings.TFACTORY_HOME) / "portal_login"


def _read(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("user") and data.get("password"):
        return {"user": str(data["user"]), "password": str(data["password"])}
    return None


def _write(path: Path, login: dict[str, str]) -> None:
    # created with owner-only permissions from the start: never readable by others
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(login, fh)
    path.chmod(0o600)


class Command(BaseCommand):
    help = (
        "Print a login for the portal and the admin: a superuser with a generated password "
        "kept in $TFACTORY_HOME/portal_login (made on the first call)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", default="demo", help="the user's name (default: demo)")

    def handle(self, *args: Any, user: str, **options: Any) -> None:
        path = login_file()
        login = _read(path)
        if login is None or login["user"] != user:
            login = {"user": user, "password": secrets.token_urlsafe(15)}
            _write(path, login)
        User = get_user_model()
        with transaction.atomic():
            account = User.objects.filter(**{User.USERNAME_FIELD: user}).first()
            if account is None:
                account = User.objects.create_superuser(
                    **{User.USERNAME_FIELD: user}, email="", password=login["password"]
                )
            elif not account.check_password(login["password"]):
                if not account.is_superuser:
                    raise CommandError(
                        f"user {user!r} exists and is not TFactory's demo login; pick another "
                        "name with --user"
                    )
                account.set_password(login["password"])
                account.save(update_fields=["password"])
            if not account.is_active:
                raise CommandError(f"user {user!r} is inactive")
        self.stdout.write(f"user {login['user']}, password {login['password']}")
