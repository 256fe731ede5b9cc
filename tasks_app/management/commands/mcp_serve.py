"""Serve TFactory's MCP tools over stdio, for Claude Code's /handover-to-tfactory skill.

stdout carries the protocol and nothing else: this command never writes to it (no
print, no self.stdout), Django's logging goes to stderr, and while serving the SDK
points file descriptor 1 at stderr, so stray output from libraries misses the wire.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from tasks_app.web.mcp_server import build_server


class Command(BaseCommand):
    help = (
        "Serve the MCP tools (task_create_and_run, task_status, task_list, project_list, "
        "project_create, report_get, task_rerun) over stdio. Configure it in .mcp.json; "
        "manage.py install_skill does."
    )
    # the system checks' report would be the only other output; they run in every other
    # command (and in the workers) anyway
    requires_system_checks = []

    def handle(self, *args, **opts) -> None:
        build_server().run("stdio")
