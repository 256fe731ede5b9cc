"""Guards a generated test passes before it runs.

- flake_lint.py: flakiness on the AST (FL rules);
- fidelity.py: tests that bend the spec (SF rules);
- tautology.py: tests that cannot fail (TA rules);
- preflight.py: imports, attributes and methods resolved against the real project inside
  the sandbox (PF rules).

Every guard reports GuardFindings: the rule, the class of defect it stands for, whether it
rejects the test or flags it for a person, and a sentence that names what is wrong, exact
enough to send back to the model that wrote the test.
"""

from __future__ import annotations

import warnings

from agents_app.guards import fidelity, flake_lint, tautology
from agents_app.guards.finding import CLASSES, GuardFinding, rejects

__all__ = ["CLASSES", "GuardFinding", "rejects", "static_findings", "syntax_findings"]


def syntax_findings(source: str) -> list[GuardFinding]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "assertion is always true": not ours to print
            compile(source, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [
            GuardFinding(
                "preflight",
                "PF001",
                "syntax",
                "reject",
                f"PF001 the module does not parse: {exc.msg} (line {exc.lineno})",
                exc.lineno,
            )
        ]
    return []


def static_findings(source: str, criterion: str = "") -> list[GuardFinding]:
    """Every guard that needs no project code: syntax, flake lint, tautology and spec
    fidelity (against the criterion's text, when there is one), in line order."""
    found = syntax_findings(source)
    if found:
        return found
    found += [
        GuardFinding("flake", f.rule, "flaky", f.verdict, f.message, f.line, f.test)
        for f in flake_lint.lint(source)
    ]
    found += tautology.check(source)
    if criterion:
        found += fidelity.check(source, criterion)
    return sorted(found, key=lambda f: (f.line or 0, f.rule))
