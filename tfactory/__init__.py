"""TFactory: the autonomous test factory (a Django project)."""

# kept in step with pyproject.toml's version; reports name the version that wrote them
__version__ = "0.1.0"
