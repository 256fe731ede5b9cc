"""Kinds of weakness, shared by every tool: what lets TFactory see that Bandit's B608 and
a Semgrep SQL-injection rule found the same thing.

Each category has a CWE, a short name and a sentence of advice; tools' rules map onto
them (Bandit's test ids here, our Semgrep rules by their `category` metadata). A rule
without a category keeps one of its own (`rule:<tool>:<id>`) and never merges with
another tool's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    cwe: int
    advice: str


CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in (
        Category(
            "sql-injection",
            "SQL injection",
            89,
            "Pass values as query parameters (cursor.execute(sql, params)); never format "
            "them into the SQL text.",
        ),
        Category(
            "command-injection",
            "OS command injection",
            78,
            "Run programs with an argument list and shell=False; never build a shell "
            "command line from input (shlex.quote only where a shell is unavoidable).",
        ),
        Category(
            "code-injection",
            "Code injection",
            95,
            "Do not eval/exec text that input can reach; parse it (ast.literal_eval, json).",
        ),
        Category(
            "path-traversal",
            "Path traversal",
            22,
            "Resolve the path and check it stays under the intended folder before opening it.",
        ),
        Category(
            "ssrf",
            "Server-side request forgery",
            918,
            "Fetch only URLs whose scheme and host are on an allow-list.",
        ),
        Category(
            "deserialization",
            "Deserialisation of untrusted data",
            502,
            "Use yaml.safe_load / json; never unpickle or marshal data from outside.",
        ),
        Category(
            "xss",
            "Cross-site scripting",
            79,
            "Keep autoescaping on; mark text safe only after escaping it.",
        ),
        Category(
            "open-redirect",
            "Open redirect",
            601,
            "Redirect only to relative paths or allow-listed hosts "
            "(django.utils.http.url_has_allowed_host_and_scheme).",
        ),
        Category(
            "weak-crypto",
            "Weak cryptography",
            327,
            "Use SHA-256 or better for integrity, a password hash (bcrypt, scrypt, argon2, "
            "PBKDF2) for passwords, and AES-GCM or ChaCha20-Poly1305 for encryption.",
        ),
        Category(
            "insecure-tls",
            "TLS certificate verification off",
            295,
            "Keep certificate verification on (verify=True, the default SSL context).",
        ),
        Category(
            "debug-enabled",
            "Debug mode in production code",
            489,
            "Take debug switches from the environment and keep them off by default.",
        ),
        Category(
            "hardcoded-secret",
            "Hard-coded secret",
            798,
            "Revoke and rotate the secret, remove it from the code and its history, and read "
            "it from the environment or a secret store.",
        ),
        Category(
            "xxe",
            "XML external entities",
            611,
            "Parse untrusted XML with defusedxml.",
        ),
        Category(
            "insecure-temp-file",
            "Insecure temporary file",
            377,
            "Use tempfile.mkstemp / NamedTemporaryFile / TemporaryDirectory.",
        ),
        Category(
            "weak-random",
            "Predictable randomness",
            330,
            "Use the secrets module for tokens, passwords and keys.",
        ),
        Category(
            "vulnerable-dependency",
            "Dependency with a known vulnerability",
            1395,
            "Upgrade to a fixed version.",
        ),
    )
}

# Bandit test id -> category. Bandit's checks not listed keep a category of their own.
BANDIT = {
    "B102": "code-injection",
    "B105": "hardcoded-secret",
    "B106": "hardcoded-secret",
    "B107": "hardcoded-secret",
    "B108": "insecure-temp-file",
    "B201": "debug-enabled",
    "B301": "deserialization",
    "B302": "deserialization",
    "B303": "weak-crypto",
    "B304": "weak-crypto",
    "B305": "weak-crypto",
    "B306": "insecure-temp-file",
    "B307": "code-injection",
    "B308": "xss",
    "B310": "ssrf",
    "B311": "weak-random",
    "B313": "xxe",
    "B314": "xxe",
    "B315": "xxe",
    "B316": "xxe",
    "B317": "xxe",
    "B318": "xxe",
    "B319": "xxe",
    "B320": "xxe",
    "B323": "insecure-tls",
    "B324": "weak-crypto",
    "B403": "deserialization",
    "B405": "xxe",
    "B406": "xxe",
    "B407": "xxe",
    "B408": "xxe",
    "B409": "xxe",
    "B410": "xxe",
    "B411": "xxe",
    "B413": "weak-crypto",
    "B501": "insecure-tls",
    "B502": "insecure-tls",
    "B503": "insecure-tls",
    "B504": "insecure-tls",
    "B505": "weak-crypto",
    "B506": "deserialization",
    "B601": "command-injection",
    "B602": "command-injection",
    "B604": "command-injection",
    "B605": "command-injection",
    "B608": "sql-injection",
    "B609": "command-injection",
    "B610": "sql-injection",
    "B611": "sql-injection",
    "B614": "deserialization",
    "B701": "xss",
    "B702": "xss",
    "B703": "xss",
    "B704": "xss",
}


def own_category(tool: str, rule_id: str) -> str:
    return f"rule:{tool}:{rule_id}"


def category_name(key: str) -> str:
    cat = CATEGORIES.get(key)
    return cat.name if cat else key.split(":")[-1]
