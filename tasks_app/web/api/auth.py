"""Token authentication under either keyword.

AIFactory (and most HTTP clients) send `Authorization: Bearer <key>`; DRF's own clients
send `Authorization: Token <key>`. Both name the same DRF authtoken key.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request


class BearerTokenAuthentication(TokenAuthentication):
    # "Bearer" is what the OpenAPI schema advertises (drf-spectacular's TokenScheme turns
    # this keyword into an http/bearer security scheme) and what a 401 asks for
    keyword = "Bearer"
    keywords = (b"bearer", b"token")

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in self.keywords:
            return None  # no credentials of ours: IsAuthenticated answers 401
        if len(auth) != 2:
            raise AuthenticationFailed(
                "the Authorization header must be 'Bearer <token>' (or 'Token <token>')"
            )
        try:
            key = auth[1].decode("ascii")
        except UnicodeError as exc:
            raise AuthenticationFailed("the token contains characters a token never has") from exc
        return self.authenticate_credentials(key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="tfactory"'
