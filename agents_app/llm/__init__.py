"""Model providers behind one interface, and the per-task budget every call is metered
against. With no provider configured TFactory runs offline; nothing here is imported then.

providers.py: Anthropic (the `anthropic` SDK, Messages API with tool use) and any
OpenAI-compatible endpoint (the `openai` SDK: Ollama, vLLM, LocalAI), both returning a
Reply (text, tool calls, usage). The SDKs retry 429/5xx/timeouts with backoff; what is
left is raised as LLMError with a sentence, never with the key in it.
budget.py: token and cost caps per task; a call that would start past them raises
BudgetExhausted, so generation ends with a partial result instead of a failed task.
"""
