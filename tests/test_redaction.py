"""One token list for every redaction: what the event log hid and what the secrets lane
finds are both hidden by `redact` (events, errors, summaries) and by `scrub` (findings)."""

from __future__ import annotations

import pytest

from findings_app.secrets import find_secrets, scrub
from tasks_app.core.redaction import RULES, redact

# the shapes the event log's own list knew, at its (shorter) minimum lengths
EVENT_SAMPLES = [
    "sk-ant-" + "a1B2c3D4e5",
    "sk-" + "Ab3dEf6hIj9lMn2pQr5t",  # a legacy OpenAI key: sk- and 20+ letters and digits
    "ghp_" + "Ab3dEf6hIj9lMn2pQr5t",
    "gho_" + "Ab3dEf6hIj9lMn2pQr5t",
    "github_pat_" + "Ab3dEf6hIj9lMn2pQr5t",
    "AKIA" + "Z7QW4RT6YU8IO2PL",
]
# the shapes the secrets lane's rules knew, at their full lengths
FINDING_SAMPLES = [
    "ghp_" + "Q7wX2mK9pL4vN8rT3yB6cZ1dF5gH0jS2aE4u",
    "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS",
    "glpat-" + "Ab3dEf6hIj9lMn2pQr5t",
    "ASIA" + "Z7QW4RT6YU8IO2PL",
    "xoxb-" + "1234567890-abcdefghij",
    "sk_live_" + "Ab3dEf6hIj9lMn2pQr5t",
    "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "sk-ant-api03-" + "abcdefghijklmnopqrstuvwxyz012345",
    "sk-proj-" + "Ab3dEf6hIj9lMn2pQr5tT3BlbkFJAb3dEf6hIj9lMn2pQr5t",
    "npm_" + "Ab3dEf6hIj9lMn2pQr5tAb3dEf6hIj9lMn2p",
    "SG." + "Ab3dEf6hIj9lMn2pQr5tAb" + "." + "Ab3dEf6hIj9lMn2pQr5tAb3dEf6hIj9lMn2pQr5tAb3",
    "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "abcdefghijklmnop",
]


@pytest.mark.parametrize("token", EVENT_SAMPLES + FINDING_SAMPLES)
def test_every_known_token_shape_is_hidden_by_redact_and_by_scrub(token):
    line = f"calling the API with {token} now"
    assert token not in redact(line)
    assert "[redacted token]" in redact(line)
    assert token not in scrub(line)


@pytest.mark.parametrize("token", EVENT_SAMPLES + FINDING_SAMPLES)
def test_the_secrets_lane_finds_what_redaction_hides(token):
    line = f'value = "{token}"'
    assert any(token.startswith(m.value(line)[:12]) for m in find_secrets(line)), token


def test_a_value_group_is_hidden_and_the_rest_of_the_match_kept():
    text = "could not clone https://deploy:s3cr3t-pw@git.example.com/app.git"
    out = redact(text)
    assert "s3cr3t-pw" not in out
    assert out.startswith("could not clone https://deploy:") and "git.example.com/app.git" in out


def test_secret_environment_values_are_hidden_by_the_variables_name(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "plain-but-secret-8")
    assert redact("pw=plain-but-secret-8") == "pw=[redacted MY_SERVICE_PASSWORD]"


@pytest.mark.parametrize(
    "text",
    [
        "sk-learn-datasets-loader-utilities",
        "task-123 finished in 4.2s; report: /tmp/x/report.md",
        "pip install scikit-learn==1.5.0",
        "ghp_short",
        "AKIA-not-a-key",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_there_is_one_list():
    from findings_app import secrets

    assert secrets.RULES is RULES
