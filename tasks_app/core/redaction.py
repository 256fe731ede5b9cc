"""Redaction: the one list of secret-token shapes, and `redact` for every text TFactory
stores or shows (events, errors, lane summaries).

The rules recognise the common token formats by their shape (a fixed prefix, a length,
an alphabet). Where two lists used to disagree, the length that catches more won: a
redactor that misses a token leaks it. findings_app.secrets finds them in code with the
same rules (plus keyword assignments and high-entropy strings) for the secrets lane.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# environment variables whose values are secrets, by name
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)


@dataclass(frozen=True)
class SecretRule:
    id: str
    title: str
    pattern: re.Pattern[str]
    # the part of a match that is only the format's marker and may stay visible
    keep_prefix: int = 0
    severity: str = "high"


def _rule(id_: str, title: str, regex: str, keep: int = 0, severity: str = "high") -> SecretRule:
    return SecretRule(id_, title, re.compile(regex), keep, severity)


# The value is the whole match unless the pattern has a group named "v".
RULES: tuple[SecretRule, ...] = (
    _rule(
        "private-key",
        "Private key",
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
        0,
        "critical",
    ),
    _rule("github-token", "GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}", 4),
    _rule("github-fine-grained-token", "GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{20,}", 11),
    _rule("gitlab-token", "GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}\b", 6),
    _rule(
        "aws-access-key-id",
        "AWS access key id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        4,
    ),
    _rule(
        "aws-secret-access-key",
        "AWS secret access key",
        r"(?i)aws.{0,20}?(?:secret|private).{0,20}?['\"](?P<v>[A-Za-z0-9/+=]{40})['\"]",
        0,
        "critical",
    ),
    _rule("slack-token", "Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,250}", 5),
    _rule(
        "slack-webhook",
        "Slack webhook URL",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
        32,
    ),
    _rule("stripe-key", "Stripe secret key", r"\b[rs]k_live_[A-Za-z0-9]{16,247}\b", 8),
    _rule("google-api-key", "Google API key", r"\bAIza[0-9A-Za-z_\-]{35}\b", 4),
    _rule("anthropic-api-key", "Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{10,}", 7),
    _rule(
        "openai-api-key",
        "OpenAI API key",
        r"\bsk-(?:(?:proj-|svcacct-|admin-)?(?!ant-)[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}"
        r"|(?!ant-)[A-Za-z0-9]{20,})",
        3,
    ),
    _rule("npm-token", "npm token", r"\bnpm_[A-Za-z0-9]{36}\b", 4),
    _rule("pypi-token", "PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", 5),
    _rule(
        "sendgrid-key",
        "SendGrid API key",
        r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",
        3,
    ),
    _rule(
        "jwt",
        "JSON web token",
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        0,
        "medium",
    ),
    _rule(
        "url-password",
        "Password in a URL",
        r"\b[a-z][a-z0-9+.\-]{1,20}://[^/\s:@'\"]{1,100}:(?P<v>[^/\s:@'\"]{3,100})@[\w.\-]+",
        0,
    ),
)


def redact(text: str) -> str:
    """Replace values of secret-looking environment variables and every token shape."""
    for name, value in os.environ.items():
        if len(value) >= 8 and SECRET_NAME.search(name) and value in text:
            text = text.replace(value, f"[redacted {name}]")
    for rule in RULES:
        text = rule.pattern.sub(_masked, text)
    return text


def _masked(m: re.Match[str]) -> str:
    """The match with its value (the "v" group where the rule has one) replaced."""
    if "v" not in m.re.groupindex:
        return "[redacted token]"
    whole, start = m.group(0), m.start()
    return whole[: m.start("v") - start] + "[redacted token]" + whole[m.end("v") - start :]
