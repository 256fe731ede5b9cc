"""ASGI entry (daphne): Django for HTTP, the portal's live log for websockets.

Websockets need a logged-in session (the consumer closes with 4401 otherwise) and an
Origin among ALLOWED_HOSTS.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
# set Django up before anything imports models
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from tasks_app.core.database import FirstUse  # noqa: E402
from tasks_app.web.routing import websocket_urlpatterns  # noqa: E402

# a fresh TFACTORY_HOME gets its database on the first request
application = FirstUse(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
