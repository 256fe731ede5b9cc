"""The REST API (DRF): thin views over tasks_app.services, token auth, OpenAPI schema."""
