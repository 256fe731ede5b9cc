"""The per-language tool table. Agents ask it; nothing else hard-codes a tool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageTools:
    language: str
    test_framework: str
    # functional lane, offline: engines in the order they run
    functional_engines: tuple[str, ...]
    # tool environments TFactory builds for this language (baked into the runner image)
    tool_envs: tuple[str, ...]
    # security lanes: SAST tools (run on the host: they execute no project code), secret
    # scanners, the OSV ecosystem of the dependencies, and host-only tool environments
    sast_tools: tuple[str, ...] = ()
    secret_tools: tuple[str, ...] = ()
    dependency_ecosystem: str = ""
    host_tool_envs: tuple[str, ...] = ()


REGISTRY: dict[str, LanguageTools] = {
    "python": LanguageTools(
        language="python",
        test_framework="pytest",
        functional_engines=("pynguin", "crosshair"),
        tool_envs=("pynguin", "crosshair"),
        sast_tools=("bandit", "semgrep"),
        secret_tools=("detect-secrets", "tfactory-secrets"),
        dependency_ecosystem="PyPI",
        host_tool_envs=("semgrep",),
    ),
}


class UnsupportedLanguage(LookupError):
    pass


def tools_for(language: str) -> LanguageTools:
    try:
        return REGISTRY[language]
    except KeyError:
        supported = ", ".join(sorted(REGISTRY))
        raise UnsupportedLanguage(
            f"no tools for {language!r} yet; supported: {supported}"
        ) from None
