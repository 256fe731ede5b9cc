"""Local servers that speak Anthropic's Messages API and the OpenAI Chat Completions API,
for driving the real SDKs in tests. A script decides each answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"


def anthropic_message(content, usage=(11, 7), stop="end_turn"):
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def openai_completion(message, usage=(13, 5), finish="stop"):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "qwen-test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


@contextmanager
def serve(answer: Callable[[str, dict], tuple[int, Any, float]]) -> Iterator[str]:
    """A server on 127.0.0.1; `answer(path, request)` gives (status, JSON body, delay).
    `request` holds the lower-cased headers and the JSON body. Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            status, payload, delay = answer(self.path, request)
            time.sleep(delay)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- a scripted model: answers by agent and conversation, in either protocol ---------


@dataclass
class Call:
    """One request as the script sees it, whichever protocol carried it."""

    agent: str  # planner | gen_functional | evaluator | triager
    first: str  # the first user turn (the agent's context)
    attempt: int  # 1 + the assistant turns before this request
    last: str  # the latest user or tool turn, as text
    body: dict[str, Any]


@dataclass
class Answer:
    tool: str | None = None
    args: Any = None  # dict, or a raw string (OpenAI: arguments that are not valid JSON)
    text: str = ""
    status: int = 200
    error: str = "rate_limit_error"
    delay: float = 0.0
    usage: tuple[int, int] = (120, 80)


AGENTS = {
    "You are the test planner": "planner",
    "You are the test writer": "gen_functional",
    "You are the relevance judge": "evaluator",
    "You are the triage writer": "triager",
}


def _agent(system: str) -> str:
    return next((a for k, a in AGENTS.items() if system.startswith(k)), "unknown")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            c = block.get("content")
            parts.append(c if isinstance(c, str) else json.dumps(c))
    return "\n".join(parts)


@dataclass
class ScriptedModel:
    """Serves both protocols; `script(call) -> Answer`. Every request is kept in `calls`."""

    script: Callable[[Call], Answer]
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, request: dict) -> tuple[int, Any, float]:
        body = request["body"]
        msgs = body["messages"]
        if path == ANTHROPIC_PATH:
            system = body.get("system") or ""
            if isinstance(system, list):
                system = "".join(b.get("text", "") for b in system)
        else:
            system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else ""
            msgs = [m for m in msgs if m["role"] != "system"]
        turns = [m for m in msgs if m["role"] in ("user", "tool")]
        call = Call(
            agent=_agent(system),
            first=_text(msgs[0]["content"]) if msgs else "",
            attempt=1 + sum(1 for m in msgs if m["role"] == "assistant"),
            last=_text(turns[-1]["content"]) if turns else "",
            body=body,
        )
        with self.lock:
            self.calls.append(call)
        a = self.script(call)
        if a.status != 200:
            err = {"type": "error", "error": {"type": a.error, "message": "scripted error"}}
            return a.status, err, a.delay
        if path == ANTHROPIC_PATH:
            content: list[dict[str, Any]] = [{"type": "text", "text": a.text}] if a.text else []
            if a.tool:
                content.append(
                    {"type": "tool_use", "id": f"toolu_{len(self.calls)}", "name": a.tool,
                     "input": a.args}
                )  # fmt: skip
            stop = "tool_use" if a.tool else "end_turn"
            return 200, anthropic_message(content, usage=a.usage, stop=stop), a.delay
        message: dict[str, Any] = {"role": "assistant", "content": a.text or None}
        if a.tool:
            raw = a.args if isinstance(a.args, str) else json.dumps(a.args)
            message["tool_calls"] = [
                {"id": f"call_{len(self.calls)}", "type": "function",
                 "function": {"name": a.tool, "arguments": raw}}
            ]  # fmt: skip
        finish = "tool_calls" if a.tool else "stop"
        return 200, openai_completion(message, usage=a.usage, finish=finish), a.delay

    def of(self, agent: str) -> list[Call]:
        return [c for c in self.calls if c.agent == agent]
