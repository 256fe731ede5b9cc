"""TFactory's own secret rules over code, and the redaction every finding's text goes
through.

The token rules are tasks_app.core.redaction's (one list for every redaction);
`find_secrets(line)` returns where each one is. `scrub(text)` replaces
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

from tasks_app.core.redaction import RULES, SecretRule

TOOL = "tfactory-secrets"
TOOL_VERSION = "1"
MASK = "********"


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
