import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
application = get_wsgi_application()

from tasks_app.core.database import ensure_database  # noqa: E402

# a fresh TFACTORY_HOME gets its database on the first start
ensure_database()
