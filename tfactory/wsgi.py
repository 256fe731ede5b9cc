import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tfactory.settings")
django_app = get_wsgi_application()

from tasks_app.core.database import first_use_wsgi  # noqa: E402

# a fresh TFACTORY_HOME gets its database on the first request
application = first_use_wsgi(django_app)
