"""Security findings: one model for every lane, per-tool parsers, fingerprints that survive
line shifts, dedup across tools, triage that holds across tasks, and SARIF."""
