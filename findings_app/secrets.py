"""TFactory's own secret rules, and the redaction every finding's text goes through.

The rules recognise the common token formats by their shape (a fixed prefix, a length,
an alphabet); `find_secrets(line)` returns where each one is. `scrub(text)` replaces
every value these rules, a keyword assignment (password = "…") or a long high-entropy
quoted string would reveal, so no snippet, title or description of any lane carries a
secret. A secret is identified by `secret_id(value)`: a keyed hash (HMAC-SHA256 with a
key derived from the installation's SECRET_KEY), never the value or a plain hash of it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

TOOL = "tfactory-secrets"
TOOL_VERSION = "1"
MASK = "********"


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
    _rule("github-token", "GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}\b", 4),
    _rule("github-fine-grained-token", "GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,250}\b", 11),
    _rule("gitlab-token", "GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}\b", 6),
    _rule(
        "aws-access-key-id",
        "AWS access key id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
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
    _rule("anthropic-api-key", "Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", 7),
    _rule(
        "openai-api-key",
        "OpenAI API key",
        r"\bsk-(?:proj-|svcacct-|admin-)?(?!ant-)[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}",
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

_KEYWORD = re.compile(
    r"(?i)(?:pass(?:word|wd)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|auth[_\-]?key|credentials?)[\w\-]*['\"]?"
    r"\s*(?::=|=>|[:=]|==)\s*[rbuf]?(['\"])(?P<v>[^'\"\n]{4,200})\1"
)
_QUOTED = re.compile(r"(['\"])(?P<v>[A-Za-z0-9+/=_\-.~]{20,})\1")
_PLACEHOLDER = re.compile(
    # placeholders, templates, and field names ("password", "api_key") that are not values
    r"(?i)^(?:x{3,}|\*+|\.+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|"
    r"(?:user[_\-]?|new[_\-]?|old[_\-]?)?(?:pass(?:word|wd)?|pwd|secret|token|api[_\-]?key|key)"
    r"(?:[_\-]?(?:field|name|id|input|hash|confirm(?:ation)?))?|"
    r".*(?:example|changeme|placeholder|dummy|redacted|your[_\-]).*)$"
)


@dataclass(frozen=True)
class SecretMatch:
    rule: SecretRule
    start: int  # of the value in the line
    end: int

    def value(self, line: str) -> str:
        return line[self.start : self.end]


def find_secrets(line: str) -> list[SecretMatch]:
    """The token-format rules' matches in one line, without overlaps (first rule wins)."""
    found: list[SecretMatch] = []
    for rule in RULES:
        for m in rule.pattern.finditer(line):
            start, end = m.span("v") if "v" in rule.pattern.groupindex else m.span()
            if any(start < f.end and f.start < end for f in found):
                continue
            found.append(SecretMatch(rule, start, end))
    return sorted(found, key=lambda f: f.start)


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    if _PLACEHOLDER.match(value):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", value):
        return len(value) >= 20 and shannon_entropy(value) > 3.0
    # identifiers, paths and words are not secrets: a secret mixes letters and digits
    if not (re.search(r"[0-9]", value) and re.search(r"[A-Za-z]", value)):
        return False
    return shannon_entropy(value) > 4.0


def _spans(line: str) -> list[tuple[int, int, int]]:
    """(start, end, visible prefix) of every value to hide in a line."""
    spans = [(m.start, m.end, m.rule.keep_prefix) for m in find_secrets(line)]
    for m in _KEYWORD.finditer(line):
        if not _PLACEHOLDER.match(m.group("v")):
            spans.append((*m.span("v"), 0))
    for m in _QUOTED.finditer(line):
        if _looks_random(m.group("v")):
            spans.append((*m.span("v"), 0))
    return spans


def scrub_line(line: str, extra: Iterable[tuple[int, int]] = ()) -> str:
    """The line with every secret value masked (a token's format prefix stays visible);
    `extra` adds spans known from elsewhere (a scanner's report)."""
    spans = _spans(line) + [(s, e, 0) for s, e in extra]
    if not spans:
        return line
    # merge overlaps, keeping the smallest visible prefix
    spans.sort()
    merged: list[list[int]] = []
    for start, end, keep in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = min(merged[-1][2], keep) if start == merged[-1][0] else 0
        else:
            merged.append([start, end, keep])
    out, pos = [], 0
    for start, end, keep in merged:
        keep = min(keep, (end - start) // 3)
        out.append(line[pos : start + keep])
        out.append(MASK)
        pos = end
    out.append(line[pos:])
    return "".join(out)


def scrub(text: str) -> str:
    """Text with every secret value masked, line by line."""
    if not text:
        return text
    return "\n".join(scrub_line(line) for line in text.split("\n"))


def _key() -> bytes:
    from django.conf import settings

    return hashlib.sha256(b"tfactory-secret-id:" + settings.SECRET_KEY.encode()).digest()


def secret_id(value_sha1: str) -> str:
    """The stored identity of a secret: a keyed hash of the SHA-1 of its value (the form
    detect-secrets reports), so equal secrets match across files and tasks while the
    value cannot be recovered from what is stored."""
    return hmac.new(_key(), value_sha1.encode(), hashlib.sha256).hexdigest()[:32]


def sha1(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()
