"""Tasks and projects: their models, the core every layer stands on (core/), the services
(services/) and the faces (web/, admin.py, management/commands/)."""
