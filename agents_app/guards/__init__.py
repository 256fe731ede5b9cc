"""Guards a generated test passes before it runs (flake_lint.py: flakiness on the AST)."""
