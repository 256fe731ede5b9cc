"""The faces people and machines use: the portal's views, forms, fragments and websocket
consumers (with their routing), the REST API (api/) and the MCP server — all through
tasks_app.services."""
