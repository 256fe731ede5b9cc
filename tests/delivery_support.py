"""What the delivery tests share: a finished task reached cheaply, and a small GitHub
REST server on 127.0.0.1.

The task: the example's handover, planned for real, with one accepted and one rejected
test planted where the evaluator would have left them, then queued for the triager —
the last two stages (triaging, delivering) run for real on it.

The server speaks the endpoints delivery uses — open pulls by head, an issue's comments
(pages of `page_size` with Link headers), create and edit a comment — checks the bearer
token, and can be told to answer the next requests with an error or after a delay.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agents_app.models import GeneratedTest
from agents_app.pipeline import runner
from tasks_app import services
from tasks_app.models import Task

ACCEPTED_SOURCE = """\
import pytest

from billable.discounts import DiscountError, normalize_code


def test_too_short():
    with pytest.raises(DiscountError):
        normalize_code("ab")
"""
REJECTED_SOURCE = """\
def test_checks_nothing():
    assert 1 < 2
"""


def plant_and_queue_triage(task: Task) -> Task:
    """Plant what the evaluator would have written and queue the triager."""
    assert runner.run_stage(task.pk, "planning") == "generating"
    ws = Path(task.workspace)
    rel = "tests/functional/test_planted.py"
    (ws / rel).write_text(ACCEPTED_SOURCE + "\n\n" + REJECTED_SOURCE)
    accepted = ws / "tests" / "functional" / "accepted"
    accepted.mkdir(parents=True, exist_ok=True)
    (accepted / "test_planted.py").write_text(ACCEPTED_SOURCE)
    GeneratedTest.objects.create(
        task=task, test_id=f"{rel}::test_too_short", lane="functional", engine="planted",
        file=rel, name="test_too_short", code=ACCEPTED_SOURCE, verdict="accept",
        reasons=["passed 3/3 runs", "kills 2 mutant(s) the existing suite lets survive"],
        runs_passed=3, lines_added=2, mutants_killed=2,
        target="src/billable/discounts.py::normalize_code", criterion_ids=["AC1"],
    )  # fmt: skip
    GeneratedTest.objects.create(
        task=task, test_id=f"{rel}::test_checks_nothing", lane="functional", engine="planted",
        file=rel, name="test_checks_nothing", code=REJECTED_SOURCE, verdict="reject",
        reasons=["passed 3/3 runs", "checks nothing of <billable> (assert 1 < 2)"],
        runs_passed=3,
    )  # fmt: skip
    lanes = {
        "functional": {"status": "done", "summary": "1 accepted, 1 rejected"},
        "mutation": {"status": "skipped"},
    }
    Task.objects.filter(pk=task.pk).update(queued_stage="triaging", lanes=lanes)
    task.refresh_from_db()
    return task


def hand_over(example: dict, *, options: dict | None = None, spec_id: str | None = None) -> Task:
    """A handover of the example's feature branch for a registered project 'billable'."""
    payload: dict[str, Any] = {
        "project_id": "billable",
        "spec_id": spec_id or example["spec_id"],
        "branch": example["branch"],
        "base_ref": "main",
    }
    if options:
        payload["options"] = options
    return services.start_task(payload, enqueue=False)


def finish(task: Task) -> Task:
    """Run the queued stages to the end (triaging, delivering)."""
    return runner.run_to_end(task.pk)


def report_of(task: Task) -> dict:
    return json.loads((Path(task.workspace) / "report.json").read_text())


# ---------------------------------------------------------------- GitHub stand-in


class FakeGitHub:
    """GitHub's REST API as far as delivery uses it, under `prefix` (as on Enterprise)."""

    def __init__(self, token: str, *, prefix: str = "/api/v3", page_size: int = 2):
        self.token = token
        self.prefix = prefix
        self.page_size = page_size
        self.pulls: dict[str, list[dict]] = {}
        self.comments: dict[tuple[str, int], list[dict]] = {}
        self.requests: list[dict] = []
        # (method or None, status, body): the next matching request gets this answer
        self.faults: list[tuple[str | None, int, dict]] = []
        self.delays: list[float] = []  # seconds to wait before the next answers
        self.next_link_host: str | None = None  # send next-page links to another host
        self._ids = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake._handle(self)

            def do_POST(self):  # noqa: N802
                fake._handle(self)

            def do_PATCH(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_pull(self, slug: str, number: int, branch: str) -> None:
        owner = slug.split("/")[0]
        self.pulls.setdefault(slug, []).append(
            {
                "number": number,
                "state": "open",
                "head": {"ref": branch, "label": f"{owner}:{branch}"},
            }
        )
        self.comments.setdefault((slug, number), [])

    def add_comment(self, slug: str, number: int, body: str) -> dict:
        with self._lock:
            self._ids += 1
            comment = {
                "id": self._ids,
                "body": body,
                "html_url": f"https://github.example/{slug}/pull/{number}#issuecomment-{self._ids}",
            }
            self.comments[(slug, number)].append(comment)
        return comment

    def calls(self, method: str | None = None) -> list[dict]:
        return [r for r in self.requests if method is None or r["method"] == method]

    # -------------------------------------------------------------- serving

    def _send(self, h: BaseHTTPRequestHandler, status: int, data: Any, headers=None) -> None:
        raw = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length)) if length else None
        self.requests.append(
            {
                "method": h.command,
                "path": parts.path,
                "query": query,
                "authorization": h.headers.get("Authorization"),
                "body": body,
            }
        )
        if self.delays:
            time.sleep(self.delays.pop(0))
        for i, (method, status, data) in enumerate(self.faults):
            if method in (None, h.command):
                del self.faults[i]
                return self._send(h, status, data)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"message": "Bad credentials"})
        path = parts.path
        if not path.startswith(self.prefix):
            return self._send(h, 404, {"message": "Not Found"})
        path = path[len(self.prefix) :]
        not_found = (404, {"message": "Not Found"})

        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", path):
            slug = m.group(1)
            if slug not in self.pulls or h.command != "GET":
                return self._send(h, *not_found)
            head, state = query.get("head"), query.get("state", "open")
            found = [
                p
                for p in self.pulls[slug]
                if (head is None or p["head"]["label"] == head) and p["state"] == state
            ]
            return self._send(h, 200, found)

        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path):
            key = (m.group(1), int(m.group(2)))
            if key not in self.comments:
                return self._send(h, *not_found)
            if h.command == "GET":
                per_page = min(int(query.get("per_page", 30)), self.page_size)
                page = int(query.get("page", 1))
                items = self.comments[key]
                last = max(1, -(-len(items) // per_page))
                chunk = items[(page - 1) * per_page : page * per_page]
                headers = {}
                if page < last:
                    origin = self.next_link_host or self.origin
                    link = f"{origin}{parts.path}?per_page={per_page}&page="
                    headers["Link"] = f'<{link}{page + 1}>; rel="next", <{link}{last}>; rel="last"'
                return self._send(h, 200, chunk, headers)
            if h.command == "POST":
                if not (body or {}).get("body"):
                    return self._send(
                        h,
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [{"field": "body", "code": "missing_field"}],
                        },
                    )
                return self._send(h, 201, self.add_comment(*key, body["body"]))

        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path):
            for (slug, _), items in self.comments.items():
                for c in items:
                    if slug == m.group(1) and c["id"] == int(m.group(2)) and h.command == "PATCH":
                        c["body"] = body["body"]
                        return self._send(h, 200, c)
            return self._send(h, *not_found)
        return self._send(h, *not_found)
