"""Install the /handover-to-tfactory skill and the `tfactory` MCP server for Claude Code.

`--repo PATH`: the skill in PATH/.claude/skills/, the server in PATH/.mcp.json (project
scope). `--user`: the skill in ~/.claude/skills/, the server under `mcpServers` in
~/.claude.json (Claude Code's user scope, available in every project). Other servers
and keys are kept; a file that is not valid JSON is refused, never overwritten. The
server entry names this installation's python and manage.py and carries paths only:
no key, token or password is ever written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

SKILL = "handover-to-tfactory"
SERVER = "tfactory"
# Settings the server must share with the workers, passed on when set; all are paths
# or URLs. SECRET_KEY itself (django-q2 signs jobs with it) stays out: by default it is
# read from TFACTORY_HOME, otherwise SECRET_KEY_FILE names where it is.
PASSED_ENV = (
    "TFACTORY_DB_PATH",
    "TFACTORY_CACHE_DIR",
    "TFACTORY_AIFACTORY_ROOT",
    "TFACTORY_PUBLIC_URL",
    "SECRET_KEY_FILE",
)


def skill_source() -> Path:
    return Path(settings.BASE_DIR) / "skills" / SKILL / "SKILL.md"


def server_entry() -> dict[str, Any]:
    """How Claude Code starts this installation's MCP server."""
    env = {"TFACTORY_HOME": str(settings.TFACTORY_HOME)}
    env |= {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}
    return {
        "type": "stdio",
        # not resolved: a virtualenv's python is a symlink that must stay one
        "command": os.path.abspath(sys.executable),
        "args": [str(Path(settings.BASE_DIR) / "manage.py"), "mcp_serve"],
        "env": env,
    }


def merged_config(path: Path, entry: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The JSON config at `path` with the server entry in `mcpServers`, and whether that
    changed anything."""
    data: Any = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(
                f"{path} is not valid JSON ({exc}); fix or move it, then run this again. "
                "It was left unchanged."
            ) from exc
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    if not isinstance(data, dict):
        raise CommandError(f"{path} does not hold a JSON object; it was left unchanged")
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise CommandError(f"'mcpServers' in {path} is not an object; it was left unchanged")
    changed = servers.get(SERVER) != entry
    servers[SERVER] = entry
    return data, changed


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` in one step, keeping its permissions (~/.claude.json is private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Command(BaseCommand):
    help = (
        "Install the /handover-to-tfactory Claude Code skill and register this "
        "installation's MCP server (manage.py mcp_serve), for one repository or for the user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument(
            "--repo",
            metavar="PATH",
            help="a repository: PATH/.claude/skills/ and PATH/.mcp.json (project scope)",
        )
        where.add_argument(
            "--user",
            action="store_true",
            help="every project: ~/.claude/skills/ and ~/.claude.json (user scope)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would be written; write nothing"
        )

    def handle(self, *args, **opts) -> None:
        if opts["repo"]:
            root = Path(opts["repo"]).expanduser().resolve()
            if not root.is_dir():
                raise CommandError(f"--repo {opts['repo']!r} is not a directory")
            skill_dir, config = root / ".claude" / "skills" / SKILL, root / ".mcp.json"
        else:
            home = Path.home()
            skill_dir, config = home / ".claude" / "skills" / SKILL, home / ".claude.json"
        source = skill_source()
        if not source.is_file():
            raise CommandError(f"the skill is missing from this installation: {source}")
        skill_text = source.read_text(encoding="utf-8")
        skill_path = skill_dir / "SKILL.md"
        skill_changed = not (
            skill_path.is_file() and skill_path.read_text(encoding="utf-8") == skill_text
        )
        entry = server_entry()
        data, config_changed = merged_config(config, entry)

        dry = opts["dry_run"]
        if skill_changed:
            if not dry:
                write_atomic(skill_path, skill_text)
            self.stdout.write(f"{'would write' if dry else 'wrote'} {skill_path}")
        else:
            self.stdout.write(f"{skill_path} is up to date")
        if config_changed:
            if dry:
                # the entry only: the rest of the file (other servers' settings) stays unshown
                shown = json.dumps({"mcpServers": {SERVER: entry}}, indent=2)
                self.stdout.write(f"would add to {config}, keeping everything else:\n{shown}")
            else:
                write_atomic(config, json.dumps(data, indent=2) + "\n")
                self.stdout.write(f"registered the '{SERVER}' MCP server in {config}")
        else:
            self.stdout.write(f"the '{SERVER}' MCP server in {config} is up to date")
        if not dry and (skill_changed or config_changed):
            self.stdout.write(
                "Restart Claude Code (a project's .mcp.json server asks for approval on first "
                f"use), then run /{SKILL}. Workers: manage.py qcluster must be running."
            )
