"""`.tfactory.yml` at the repository's root, version 1: the escape hatch when detection is
wrong. Read from the branch's commit at intake (nothing of the project runs), validated
against a JSON schema; a wrong file is refused in one sentence that names the key, and
nothing is created.

    version: 1
    setup:
      python: "3.12"                 # the interpreter the environment is made with
      install: ["-e .[test]", "-r ci/test-requirements.txt"]   # pip install lines,
                                     # instead of what TFactory would detect
      packages: ["pytest-mock"]      # more requirements, on top
    tests:
      paths: ["tests/unit"]          # what pytest collects
      args: ["-p", "no:warnings"]    # more pytest options
      env: {DJANGO_SETTINGS_MODULE: "tests.settings"}   # plain values, never secrets
      pass_env: [DATABASE_URL]       # names whose values come from TFactory's own
                                     # environment, when its operator allows them
                                     # (TFACTORY_PASS_ENV)
    lanes:
      mutation: false                # a lane off, or its budget:
      functional: {engine_budget_s: 30}

Values never hold secrets: a value shaped like a token, or an env name that says it is a
secret, is refused (pass it with pass_env, which the operator must allow).
"""

from __future__ import annotations

import shlex
from typing import Any

import jsonschema
import yaml

from tasks_app.core.lanes import LANES
from tasks_app.core.redaction import RULES, SECRET_NAME

FILE = ".tfactory.yml"
_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
_BUDGETS = {
    "functional": {"engine_budget_s": (5, 3600), "lane_budget_s": (10, 14400)},
    "mutation": {"mutation_budget_s": (10, 14400), "mutation_max_mutants": (1, 100000)},
}


def _lane_schema(lane: str) -> dict[str, Any]:
    budgets = _BUDGETS.get(lane, {})
    if not budgets:
        return {"type": "boolean"}
    return {
        "oneOf": [
            {"type": "boolean"},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "enabled": {"type": "boolean"},
                    **{
                        name: {"type": "integer", "minimum": low, "maximum": high}
                        for name, (low, high) in budgets.items()
                    },
                },
            },
        ]
    }


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "properties": {
        "version": {"const": 1},
        "setup": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "python": {"type": "string", "pattern": r"^3\.\d{1,2}$"},
                "install": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "packages": {"type": "array", "items": {"type": "string", "minLength": 1}},
            },
        },
        "tests": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "paths": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "args": {"type": "array", "items": {"type": "string"}},
                "env": {
                    "type": "object",
                    "propertyNames": _NAME,
                    "additionalProperties": {"type": "string"},
                },
                "pass_env": {"type": "array", "items": _NAME},
            },
        },
        "lanes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {lane: _lane_schema(lane) for lane in LANES},
        },
        # read by the lanes that use them (SAST's sanitisers, the app under test)
        "sanitizers": {"type": "array", "items": {"type": "string"}},
        "app": {"type": "object"},
    },
}


class ConfigError(ValueError):
    """`.tfactory.yml` is wrong; the message is one sentence naming the key."""


def parse(text: str) -> dict[str, Any]:
    """The validated configuration of a `.tfactory.yml`'s text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{FILE} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    errors = sorted(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.path)
    )
    if errors:
        raise ConfigError(_sentence(errors[0]))
    _no_secrets(data)
    return data


def _sentence(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(the top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        where = f"{key}." if error.absolute_path else ""
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"{FILE}: unknown key {where}{extra[0]}; allowed here: {allowed}"
    if error.validator == "required":
        return f"{FILE}: {error.message.split(' ')[0]} is required (version: 1)"
    if error.validator == "const":
        return f"{FILE}: {key} must be 1 (the only version there is)"
    if error.validator == "oneOf":
        return f"{FILE}: {key} must be true, false, or a table of its budgets"
    return f"{FILE}: {key}: {error.message}"


def _no_secrets(data: dict[str, Any]) -> None:
    env = (data.get("tests") or {}).get("env") or {}
    for name, value in env.items():
        if SECRET_NAME.search(name):
            raise ConfigError(
                f"{FILE}: tests.env.{name} looks like a secret; values in the file are "
                "never secrets — list the name under tests.pass_env instead"
            )
        if any(rule.pattern.search(value) for rule in RULES):
            raise ConfigError(f"{FILE}: tests.env.{name} holds what looks like a token")
    for where in ("install", "packages"):
        for line in (data.get("setup") or {}).get(where) or []:
            if any(rule.pattern.search(line) for rule in RULES):
                raise ConfigError(f"{FILE}: setup.{where} holds what looks like a token")
            if where == "install":
                _pip_line(line)


def _pip_line(line: str) -> list[str]:
    """A setup.install line as pip arguments: requirements, paths, -r/-e/-c files."""
    try:
        args = shlex.split(line)
    except ValueError as exc:
        raise ConfigError(f"{FILE}: setup.install line {line!r} cannot be read: {exc}") from exc
    for arg in args:
        if arg.startswith("-") and arg.split("=")[0] not in (
            "-r",
            "-e",
            "-c",
            "--requirement",
            "--editable",
            "--constraint",
            "--pre",
            "--no-deps",
        ):
            raise ConfigError(
                f"{FILE}: setup.install line {line!r}: pip option {arg} is not allowed "
                "(requirements, paths and -r/-e/-c files only)"
            )  # fmt: skip
    return args


def install_lines(config: dict[str, Any]) -> list[list[str]] | None:
    """setup.install as pip argument lists, or None when the file does not set it."""
    lines = (config.get("setup") or {}).get("install")
    return None if lines is None else [_pip_line(line) for line in lines]


def lane_options(config: dict[str, Any]) -> dict[str, Any]:
    """The handover options the file's `lanes` stand for (a handover's own win)."""
    options: dict[str, Any] = {}
    for lane, value in (config.get("lanes") or {}).items():
        if isinstance(value, bool):
            options[lane] = value
            continue
        if "enabled" in value:
            options[lane] = value["enabled"]
        options.update({k: v for k, v in value.items() if k != "enabled"})
    return options
