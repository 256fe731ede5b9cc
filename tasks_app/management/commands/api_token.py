"""Print a user's API token, for the operator to configure AIFactory or a script."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of a user (created when the user has none). Send it as "
        "'Authorization: Bearer <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the user the token acts as")
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="create the user (without a password: it can only use the API) if missing",
        )
        parser.add_argument(
            "--rotate", action="store_true", help="replace the token; the old one stops working"
        )

    def handle(
        self, *args: Any, user: str, create_user: bool, rotate: bool, **options: Any
    ) -> None:
        User = get_user_model()
        with transaction.atomic():
            account = User.objects.filter(**{User.USERNAME_FIELD: user}).first()
            if account is None:
                if not create_user:
                    raise CommandError(f"no user {user!r}; pass --create-user to create it")
                # no password given: an unusable one, so the account cannot log in
                account = User.objects.create_user(**{User.USERNAME_FIELD: user})
            if not account.is_active:
                raise CommandError(f"user {user!r} is inactive; its token would be refused")
            if rotate:
                Token.objects.filter(user=account).delete()
            token, _ = Token.objects.get_or_create(user=account)
        # only the key on stdout, so `$(manage.py api_token --user aifactory)` works
        self.stdout.write(token.key)
