"""The model providers through the real `anthropic` and `openai` SDKs, against small
servers on 127.0.0.1 that speak the Messages API and the Chat Completions API, scripted
per test: tool use, 429 then success, a timeout, server errors, malformed tool calls, the
key kept out of errors and logs, and the budget metered on every call."""

from __future__ import annotations

import json
import logging

import pytest

from agents_app.llm.budget import Budget, BudgetExhausted, Metered
from agents_app.llm.providers import (
    LLMError,
    ProviderConfig,
    configured,
    get_provider,
)
from tests.llm_fakes import anthropic_message, openai_completion, serve

KEY = "sk-test-SECRET-0123456789abcdef"


class Script:
    """Answers each request with the next scripted (status, body, delay)."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[dict] = []

    def next(self):
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


@pytest.fixture
def server():
    scripts: dict[str, Script] = {}

    def answer(path, request):
        script = scripts[path]
        script.requests.append(request)
        return script.next()

    with serve(answer) as url:
        yield url, scripts


TOOLS = [
    {
        "name": "write_test",
        "description": "Write one pytest test.",
        "input_schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "code": {"type": "string"}},
            "required": ["name", "code"],
        },
    }
]


def provider(kind, url, monkeypatch, **extra):
    monkeypatch.setenv("TFACTORY_TEST_LLM_KEY", KEY)
    config = ProviderConfig(
        provider=kind,
        model="claude-test" if kind == "anthropic" else "qwen-test",
        base_url=url if kind == "anthropic" else f"{url}/v1",
        api_key_env="TFACTORY_TEST_LLM_KEY",
        timeout_s=extra.get("timeout_s", 5.0),
        max_retries=extra.get("max_retries", 2),
    )
    return get_provider(config)


def test_anthropic_tool_use(server, monkeypatch):
    url, scripts = server
    scripts["/v1/messages"] = Script(
        (
            200,
            anthropic_message(
                [
                    {"type": "text", "text": "Here is a test."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "write_test",
                        "input": {"name": "test_x", "code": "def test_x():\n    assert 1\n"},
                    },
                ],
                stop="tool_use",
            ),
            0,
        )
    )
    p = provider("anthropic", url, monkeypatch)
    reply = p.complete(
        system="You write tests.", messages=[{"role": "user", "content": "AC1"}], tools=TOOLS
    )
    assert reply.text == "Here is a test."
    (call,) = reply.tool_calls
    assert (call.name, call.arguments["name"], call.error) == ("write_test", "test_x", "")
    assert reply.stop_reason == "tool_use"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (11, 7)
    (req,) = scripts["/v1/messages"].requests
    # the key goes in a header (the SDK's choice of which), never in the body
    headers = req["headers"]
    assert KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert KEY not in json.dumps(req["body"])
    assert req["body"]["system"] == "You write tests." and req["body"]["tools"] == TOOLS


def test_openai_compatible_tool_use_and_a_malformed_tool_call(server, monkeypatch):
    url, scripts = server
    scripts["/v1/chat/completions"] = Script(
        (
            200,
            openai_completion(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "write_test", "arguments": '{"name": "t"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "write_test", "arguments": '{"name": "t", '},
                        },
                        {
                            "id": "call_3",
                            "type": "function",
                            "function": {"name": "write_test", "arguments": "[1, 2]"},
                        },
                    ],
                },
                finish="tool_calls",
            ),
            0,
        )
    )
    p = provider("openai", url, monkeypatch)
    reply = p.complete(system="sys", messages=[{"role": "user", "content": "AC1"}], tools=TOOLS)
    good, broken, not_object = reply.tool_calls
    assert good.arguments == {"name": "t"} and not good.error
    assert broken.arguments == {} and "not valid JSON" in broken.error
    assert "not a JSON object" in not_object.error
    (req,) = scripts["/v1/chat/completions"].requests
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"]["messages"][0] == {"role": "system", "content": "sys"}
    assert req["body"]["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_429_then_success_is_retried(server, monkeypatch, kind):
    url, scripts = server
    path = "/v1/messages" if kind == "anthropic" else "/v1/chat/completions"
    ok = (
        anthropic_message([{"type": "text", "text": "fine"}])
        if kind == "anthropic"
        else openai_completion({"role": "assistant", "content": "fine"})
    )
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    scripts[path] = Script((429, limited, 0), (200, ok, 0))
    reply = provider(kind, url, monkeypatch).complete(messages=[{"role": "user", "content": "hi"}])
    assert reply.text == "fine"
    assert len(scripts[path].requests) == 2


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_timeout_and_a_persistent_server_error_are_honest_errors(
    server, monkeypatch, caplog, kind
):
    url, scripts = server
    path = "/v1/messages" if kind == "anthropic" else "/v1/chat/completions"
    scripts[path] = Script((200, {}, 2.0))
    p = provider(kind, url, monkeypatch, timeout_s=0.5, max_retries=1)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LLMError, match="did not answer in time") as exc:
        p.complete(messages=[{"role": "user", "content": "hi"}])
    assert len(scripts[path].requests) == 2  # one retry
    assert KEY not in str(exc.value)

    body = {"type": "error", "error": {"type": "api_error", "message": "overloaded"}}
    scripts[path] = Script((500, body, 0))
    with pytest.raises(LLMError, match="HTTP 500.*overloaded") as exc:
        p.complete(messages=[{"role": "user", "content": "hi"}])
    assert KEY not in str(exc.value) and KEY not in caplog.text


def test_the_budget_meters_every_call_and_stops_at_the_cap(server, monkeypatch):
    url, scripts = server
    scripts["/v1/messages"] = Script(
        (200, anthropic_message([{"type": "text", "text": "ok"}], usage=(600, 400)), 0)
    )
    seen = []
    budget = Budget(max_tokens=1500, max_cost_usd=10.0, price_in=3.0, price_out=15.0)
    p = Metered(provider("anthropic", url, monkeypatch), budget, on_usage=seen.append)
    p.complete(messages=[{"role": "user", "content": "1"}])
    p.complete(messages=[{"role": "user", "content": "2"}])
    assert seen[-1]["input_tokens"] == 1200 and seen[-1]["output_tokens"] == 800
    assert seen[-1]["cost_usd"] == pytest.approx((1200 * 3 + 800 * 15) / 1e6)
    with pytest.raises(BudgetExhausted, match="token budget is spent"):
        p.complete(messages=[{"role": "user", "content": "3"}])
    assert len(scripts["/v1/messages"].requests) == 2  # the refused call never went out

    cheap = Budget(max_cost_usd=0.001, price_in=3.0, price_out=15.0)
    q = Metered(provider("anthropic", url, monkeypatch), cheap)
    q.complete(messages=[{"role": "user", "content": "1"}])
    with pytest.raises(BudgetExhausted, match="cost budget is spent"):
        q.complete(messages=[{"role": "user", "content": "2"}])


def test_configuration(settings, monkeypatch):
    settings.TFACTORY_LLM_PROVIDER = ""
    assert configured() is None  # offline
    settings.TFACTORY_LLM_PROVIDER = "gemini"
    with pytest.raises(LLMError, match="unknown model provider 'gemini'"):
        configured()
    settings.TFACTORY_LLM_PROVIDER = "anthropic"
    settings.TFACTORY_LLM_MODEL = ""
    with pytest.raises(LLMError, match="TFACTORY_LLM_MODEL"):
        configured()
    settings.TFACTORY_LLM_MODEL = "claude-test"
    settings.TFACTORY_LLM_API_KEY_ENV = ""
    config = configured()
    assert config.api_key_env == "ANTHROPIC_API_KEY" and config.mode == "llm:anthropic/claude-test"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LLMError, match="set ANTHROPIC_API_KEY"):
        get_provider(config)


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_rejected_tool_call_goes_back_in_each_providers_own_shape(server, monkeypatch, kind):
    from agents_app.llm.providers import ToolCall

    url, scripts = server
    path = "/v1/messages" if kind == "anthropic" else "/v1/chat/completions"
    ok = (
        anthropic_message([{"type": "text", "text": "fixed"}])
        if kind == "anthropic"
        else openai_completion({"role": "assistant", "content": "fixed"})
    )
    scripts[path] = Script((200, ok, 0))
    call = ToolCall(id="toolu_9", name="write_test", arguments={"name": "t", "code": "x"})
    provider(kind, url, monkeypatch).complete(
        messages=[
            {"role": "user", "content": "AC1"},
            {"role": "assistant", "content": "trying", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "toolu_9", "content": "PF002 no such name",
             "is_error": True},
        ],
        tools=TOOLS,
    )  # fmt: skip
    (req,) = scripts[path].requests
    msgs = req["body"]["messages"]
    if kind == "anthropic":
        assert msgs[1] == {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "trying"},
                {"type": "tool_use", "id": "toolu_9", "name": "write_test",
                 "input": {"name": "t", "code": "x"}},
            ],
        }  # fmt: skip
        assert msgs[2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9",
                 "content": "PF002 no such name", "is_error": True}
            ],
        }  # fmt: skip
    else:
        assistant, result = msgs[1], msgs[2]
        assert assistant["tool_calls"][0]["function"] == {
            "name": "write_test",
            "arguments": json.dumps({"name": "t", "code": "x"}),
        }
        assert result == {
            "role": "tool",
            "tool_call_id": "toolu_9",
            "content": "ERROR: PF002 no such name",
        }
