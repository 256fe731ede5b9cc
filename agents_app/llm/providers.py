"""The providers: one `complete()` for Anthropic's Messages API and OpenAI-compatible chat
completions, with tool use, usage and honest errors.

Messages are provider-neutral, and each provider spells them its own way:
  {"role": "user", "content": str}
  {"role": "assistant", "content": str, "tool_calls": [ToolCall, ...]}   (tool_calls optional)
  {"role": "tool", "tool_call_id": str, "content": str, "is_error": bool}
Tools are {"name", "description", "input_schema"} (JSON Schema), as Anthropic spells
them; the OpenAI provider wraps them as functions. API keys are read from the environment variable
the settings name and handed to the SDK only: never logged, never in an error, never in a
process argument.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings


class LLMError(RuntimeError):
    """A model call failed for good (after the SDK's retries); the message says why."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    error: str = ""  # the model sent arguments that are not a JSON object


@dataclass
class Reply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = ""
    model: str = ""


class Provider(Protocol):
    name: str
    model: str

    def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
    ) -> Reply: ...


@dataclass(frozen=True)
class ProviderConfig:
    provider: str  # "anthropic" | "openai"
    model: str
    base_url: str | None = None
    api_key_env: str = ""
    timeout_s: float = 120.0
    max_retries: int = 3

    @property
    def mode(self) -> str:
        return f"llm:{self.provider}/{self.model}"


PROVIDERS = ("anthropic", "openai")
DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def configured() -> ProviderConfig | None:
    """The provider the settings name, or None: offline."""
    name = (settings.TFACTORY_LLM_PROVIDER or "").strip().lower()
    if not name:
        return None
    if name not in PROVIDERS:
        raise LLMError(
            f"unknown model provider {name!r} (TFACTORY_LLM_PROVIDER); "
            f"choose one of: {', '.join(PROVIDERS)}"
        )
    if not settings.TFACTORY_LLM_MODEL:
        raise LLMError(f"TFACTORY_LLM_MODEL must name the {name} model to use")
    return ProviderConfig(
        provider=name,
        model=settings.TFACTORY_LLM_MODEL,
        base_url=settings.TFACTORY_LLM_BASE_URL or None,
        api_key_env=settings.TFACTORY_LLM_API_KEY_ENV or DEFAULT_KEY_ENV[name],
        timeout_s=float(settings.TFACTORY_LLM_TIMEOUT_S),
        max_retries=int(settings.TFACTORY_LLM_MAX_RETRIES),
    )


def get_provider(config: ProviderConfig) -> Provider:
    key = os.environ.get(config.api_key_env, "")
    if not key and config.provider == "anthropic":
        raise LLMError(f"no API key: set {config.api_key_env} in TFactory's environment")
    if config.provider == "anthropic":
        return AnthropicProvider(config, key)
    # local OpenAI-compatible servers (Ollama, vLLM) often want no key at all
    return OpenAIProvider(config, key or "not-needed")


def _failure(provider: str, exc: Exception) -> LLMError:
    """An SDK error as one sentence, without request details that could carry a key."""
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    if "Timeout" in kind:
        return LLMError(f"{provider}: the model did not answer in time ({kind}, after retries)")
    if "Connection" in kind:
        return LLMError(f"{provider}: cannot reach the model endpoint ({kind})")
    if status is not None:
        message = ""
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            # Anthropic's SDK keeps the whole body ({"error": {...}}), OpenAI's the error
            err = body.get("error", body)
            message = err.get("message", "") if isinstance(err, dict) else str(err or "")
        return LLMError(f"{provider}: HTTP {status} from the model endpoint: {message[:300]}")
    return LLMError(f"{provider}: {kind}")


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, config: ProviderConfig, key: str):
        import anthropic

        self.model = config.model
        self._client = anthropic.Anthropic(
            api_key=key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )
        self._errors = (anthropic.APIError,)

    def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
    ) -> Reply:
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens}
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = tools
        try:
            msg = self._client.messages.create(messages=_anthropic_messages(messages), **kwargs)
        except self._errors as exc:
            raise _failure(self.name, exc) from None
        text, calls = [], []
        for block in msg.content:
            if block.type == "text":
                text.append(block.text)
            elif block.type == "tool_use":
                args = block.input if isinstance(block.input, dict) else None
                calls.append(
                    ToolCall(
                        id=block.id,
                        name=block.name,
                        arguments=args or {},
                        error="" if args is not None else "tool input is not a JSON object",
                    )
                )
        usage = Usage(msg.usage.input_tokens or 0, msg.usage.output_tokens or 0)
        return Reply("".join(text), calls, usage, msg.stop_reason or "", msg.model or self.model)


class OpenAIProvider:
    name = "openai"

    def __init__(self, config: ProviderConfig, key: str):
        import openai

        self.model = config.model
        self._client = openai.OpenAI(
            api_key=key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )
        self._errors = (openai.APIError,)

    def complete(
        self,
        *,
        messages: list[dict[str, Any]],
        system: str = "",
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int = 4096,
    ) -> Reply:
        chat = ([{"role": "system", "content": system}] if system else []) + _openai_messages(
            messages
        )
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens}
        if tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t["name"],
                        "description": t.get("description", ""),
                        "parameters": t["input_schema"],
                    },
                }
                for t in tools
            ]
        try:
            resp = self._client.chat.completions.create(messages=chat, **kwargs)
        except self._errors as exc:
            raise _failure(self.name, exc) from None
        if not resp.choices:
            raise LLMError(f"{self.name}: the endpoint answered with no choices")
        choice = resp.choices[0]
        calls = []
        for tc in choice.message.tool_calls or []:
            raw = tc.function.arguments or ""
            try:
                args = json.loads(raw) if raw else {}
                error = "" if isinstance(args, dict) else "tool arguments are not a JSON object"
            except ValueError as exc:
                args, error = {}, f"tool arguments are not valid JSON ({exc.msg})"
            calls.append(
                ToolCall(
                    id=tc.id,
                    name=tc.function.name,
                    arguments=args if isinstance(args, dict) else {},
                    error=error,
                )
            )
        usage = Usage(
            getattr(resp.usage, "prompt_tokens", 0) or 0,
            getattr(resp.usage, "completion_tokens", 0) or 0,
        )
        return Reply(
            choice.message.content or "",
            calls,
            usage,
            choice.finish_reason or "",
            resp.model or self.model,
        )


def _anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutral turns as the Messages API wants them: tool calls are tool_use blocks of the
    assistant's turn, tool results are tool_result blocks of the next user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": m["content"]}] if m.get("content") else []
            )
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": blocks})
        elif m["role"] == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m["tool_call_id"],
                "content": m["content"],
                "is_error": bool(m.get("is_error")),
            }
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # results of one turn's calls go together
            else:
                out.append({"role": "user", "content": [block]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            out.append(
                {
                    "role": "assistant",
                    "content": m.get("content") or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in m["tool_calls"]
                    ],
                }
            )
        elif m["role"] == "tool":
            content = ("ERROR: " if m.get("is_error") else "") + m["content"]
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": content})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out
